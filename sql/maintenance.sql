-- telemetry: maintenance the Apache edition of TimescaleDB has no policy for.

-- Readings of many series arrive interleaved, so a chunk's rows of one series are scattered and
-- its (series_id, time) index is about half full. Once a chunk no longer takes new readings,
-- rewriting it in index order keeps each series together and packs the index, as the
-- Community edition's reorder_chunk does.
-- It runs under the caller's search_path, so it pins its own: nothing in the body resolves
-- through the caller's. timescaledb_information is TimescaleDB's own schema (see sql/schema.sql).
CREATE FUNCTION telemetry.reorder_chunks(older_than interval DEFAULT interval '1 day')
RETURNS TABLE (chunk regclass, bytes_before bigint, bytes_after bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c regclass;
  idx name;
BEGIN
  IF older_than IS NULL OR older_than < interval '0' THEN
    RAISE EXCEPTION 'older_than must be a non-negative interval, not %', older_than
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR c IN
    SELECT pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::pg_catalog.regclass
      FROM timescaledb_information.chunks ch
     WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = 'readings'
       AND ch.range_end <= pg_catalog.now() - older_than
     ORDER BY ch.range_start
  LOOP
    SELECT ic.relname INTO idx
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = c AND i.indisunique AND NOT i.indisclustered;
    CONTINUE WHEN idx IS NULL;
    bytes_before := pg_catalog.pg_total_relation_size(c);
    EXECUTE pg_catalog.format('CLUSTER %s USING %I', c, idx);
    chunk := c;
    bytes_after := pg_catalog.pg_total_relation_size(c);
    RAISE NOTICE 'telemetry.reorder_chunks: % from % to % bytes', c, bytes_before, bytes_after;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.reorder_chunks(interval) IS
  'reorder_chunks(older_than => ''1 day''): rewrite each chunk of telemetry.readings that ended at least older_than ago in (series_id, time) order (CLUSTER), once; returns the chunks with their size before and after. Keeps a series together on disk and packs its index to about half the size. Takes an exclusive lock on each chunk while it runs; run it as the owner of telemetry.readings, from cron or pg_cron on the Apache edition.';
