-- telemetry: keeping the readings compact on disk, per TimescaleDB edition: what the
-- Apache edition has no policy for, then the compression policy of the Community edition.

-- Readings of many series arrive interleaved, so a chunk's rows of one series are scattered and
-- its (series_id, time) index is about half full. Once a chunk no longer takes new readings,
-- rewriting it in index order keeps each series together and packs the index, as the
-- Community edition's reorder_chunk does.
-- It runs under the caller's search_path, so it pins its own: nothing in the body resolves
-- through the caller's. timescaledb_information is TimescaleDB's own schema (see sql/bootstrap.sql).
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

-- Every name in the body carries its schema, so the function is safe under any search_path
-- without a SET clause (which would keep it from being inlined).
CREATE FUNCTION telemetry.timescaledb_license() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(pg_catalog.current_setting('timescaledb.license', true), 'apache') $$;
COMMENT ON FUNCTION telemetry.timescaledb_license() IS
  'The license of the running TimescaleDB: apache (no compression, continuous aggregates or policies) or timescale (Community). Read at run time.';

-- Turning compression on creates TimescaleDB's table for the compressed rows, which would then
-- belong to this extension: pg_dump would leave it out (its compressed chunks could not be
-- restored) and DROP EXTENSION would take it. It is TimescaleDB's, so it is given back.
CREATE FUNCTION telemetry.disown_compressed_readings() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  compressed regclass;
BEGIN
  SELECT pg_catalog.format('%I.%I', c.schema_name, c.table_name)::pg_catalog.regclass INTO compressed
    FROM _timescaledb_catalog.hypertable h JOIN _timescaledb_catalog.hypertable c ON c.id = h.compressed_hypertable_id
   WHERE h.schema_name = 'telemetry' AND h.table_name = 'readings';
  IF compressed IS NOT NULL AND EXISTS (
       SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = compressed
          AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
          AND e.extname = 'telemetry') THEN
    EXECUTE pg_catalog.format('ALTER EXTENSION telemetry DROP TABLE %s', compressed);
  END IF;
END $$;
COMMENT ON FUNCTION telemetry.disown_compressed_readings() IS
  'Internal, run by the install and upgrade scripts on the Community edition: makes TimescaleDB''s table of compressed readings TimescaleDB''s again rather than a member of this extension, so that pg_dump keeps it and DROP EXTENSION leaves it to TimescaleDB.';

-- The license is read when the extension is created, never when it is built: the Community
-- edition compresses old chunks of readings; the Apache edition keeps them as they are.
-- add_compression_policy is called in TimescaleDB's schema, which sql/bootstrap.sql checked (and
-- locked) for functions of that name that are not TimescaleDB's.
DO $$
BEGIN
  IF telemetry.timescaledb_license() = 'timescale'
     AND coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    ALTER TABLE telemetry.readings SET (timescaledb.compress,
      timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'time');
    EXECUTE pg_catalog.format('SELECT %I.add_compression_policy(%L::pg_catalog.regclass, interval %L)',
      (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'timescaledb'),
      'telemetry.readings', '7 days');
    PERFORM telemetry.disown_compressed_readings();
  END IF;
END $$;
