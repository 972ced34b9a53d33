-- telemetry 0.5.0 to 0.6.0: on the Community edition, TimescaleDB's table of compressed readings
-- is no longer a member of this extension; the staging table keeps its rows past commit, and
-- ingest_staged() reads only those of its own transaction. The functions' code comes with the
-- new library.

-- First: the same check of the schema as at the top of sql/bootstrap.sql, then the same
-- pinned search_path as the install.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
DO $$
DECLARE
  ns pg_catalog.oid;
  schema_owner pg_catalog.oid;
  acl pg_catalog.aclitem[];
  foreign_object text;
BEGIN
  SELECT n.oid, n.nspowner, n.nspacl INTO ns, schema_owner, acl
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'telemetry';
  IF pg_catalog.pg_get_userbyid(schema_owner) <> current_user
     AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = schema_owner) THEN
    RAISE EXCEPTION 'schema telemetry already exists and is owned by %, who is not a superuser', pg_catalog.pg_get_userbyid(schema_owner)
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Its owner could have put objects in it that the install would run as superuser. Inspect it and drop it (DROP SCHEMA telemetry CASCADE), or make it yours (ALTER SCHEMA telemetry OWNER TO ' || pg_catalog.quote_ident(current_user) || ') once you trust what it holds, then try again.';
  END IF;
  SELECT pg_catalog.string_agg(CASE a.grantee WHEN 0 THEN 'PUBLIC'
                               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
    INTO foreign_object
    FROM pg_catalog.aclexplode(acl) a
   WHERE a.privilege_type = 'CREATE' AND a.grantee <> schema_owner;
  IF foreign_object IS NOT NULL THEN
    RAISE EXCEPTION 'schema telemetry already exists and lets % create objects in it', foreign_object
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Only its owner may create in the schema of the extension. Check what those roles put in it, REVOKE CREATE ON SCHEMA telemetry FROM them, then try again.';
  END IF;
  -- Functions, operators, types and relations (a table's row type is a type too), but not what
  -- our own scripts made: members of the extension (an upgrade finds the ingest entry points
  -- owned by telemetry_pipeline).
  SELECT pg_catalog.format('%s (owned by %s)', pg_catalog.pg_describe_object(o.classid, o.objid, 0),
                           pg_catalog.pg_get_userbyid(o.owner))
    INTO foreign_object
    FROM (SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.proowner
            FROM pg_catalog.pg_proc p WHERE p.pronamespace = ns
          UNION ALL
          SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner
            FROM pg_catalog.pg_operator o WHERE o.oprnamespace = ns
          UNION ALL
          SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typowner
            FROM pg_catalog.pg_type t WHERE t.typnamespace = ns AND t.typrelid = 0 AND t.typcategory <> 'A'
          UNION ALL
          SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner
            FROM pg_catalog.pg_class c WHERE c.relnamespace = ns AND c.relkind NOT IN ('i', 'I', 't')
         ) AS o (classid, objid, owner)
    JOIN pg_catalog.pg_roles r ON r.oid = o.owner
   WHERE NOT r.rolsuper
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                      WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e'
                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND e.extname = 'telemetry')
   ORDER BY 1 LIMIT 1;
  IF foreign_object IS NOT NULL THEN
    RAISE EXCEPTION 'schema telemetry holds % of a role that is not a superuser', foreign_object
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'It would be used with superuser rights. Drop it, or the schema (DROP SCHEMA telemetry CASCADE), then try again.';
  END IF;
END $$;

SELECT pg_catalog.set_config('search_path', 'telemetry, pg_catalog, pg_temp', true);

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

REVOKE ALL ON FUNCTION telemetry.disown_compressed_readings() FROM PUBLIC;
SELECT telemetry.disown_compressed_readings() WHERE telemetry.timescaledb_license() = 'timescale';

-- The record of payload event ids, in generations of the window (sql/dedup.sql), instead of a
-- row per id with its time, an index on that time and a delete of expired rows in every batch.
-- The ids still within the window carry over, each into the generation of when it was seen;
-- the older ones would have been deleted by the next batch. When the check is off (a window of
-- 0) nothing carries over: no id is looked up then, and the record starts afresh when it is
-- turned on. The window is the database's setting as this session sees it (1 hour unless set).
ALTER TABLE telemetry.recent_events RENAME TO recent_events_until_0_6;
CREATE TABLE telemetry.recent_events (
    generation bigint NOT NULL,
    series_id  integer NOT NULL,
    event_id   text COLLATE "C" NOT NULL
) PARTITION BY LIST ((generation % 3));
DO $$
BEGIN
  FOR s IN 0 .. 2 LOOP
    EXECUTE pg_catalog.format(
      'CREATE TABLE telemetry.%I PARTITION OF telemetry.recent_events (PRIMARY KEY (generation, series_id, event_id)) FOR VALUES IN (%s)',
      'recent_events_' || s, s);
    EXECUTE pg_catalog.format('COMMENT ON TABLE telemetry.%I IS %L', 'recent_events_' || s,
      'The event ids of the generations g with g % 3 = ' || s || ' (see telemetry.recent_events); emptied whole once expired.');
  END LOOP;
END $$;
COMMENT ON TABLE telemetry.recent_events IS
  'Payload event_ids seen as new, per series, in generations of telemetry.event_id_window: a reading with one of them again is a duplicate even when its timestamp differs, for at least the window after the id was first seen and at most twice it. Each partition holds every third generation and is emptied whole once its ids have expired. Batches of neighbouring generations lock this table (not its partitions) in conflicting modes, so that they never race on an id.';
COMMENT ON COLUMN telemetry.recent_events.generation IS
  'floor(Unix time / telemetry.event_id_window) when the event_id was recorded as new.';
COMMENT ON COLUMN telemetry.recent_events.event_id IS 'The event_id (or message_id) field of the payload.';
INSERT INTO telemetry.recent_events (generation, series_id, event_id)
SELECT pg_catalog.floor(EXTRACT(epoch FROM o.seen_at) / w.seconds)::bigint, o.series_id, o.event_id
  FROM telemetry.recent_events_until_0_6 o,
       (SELECT EXTRACT(epoch FROM COALESCE(pg_catalog.current_setting('telemetry.event_id_window', true), '1h')::pg_catalog.interval) AS seconds) w
 WHERE w.seconds > 0 AND o.seen_at >= pg_catalog.now() - pg_catalog.make_interval(secs => w.seconds);
DROP TABLE telemetry.recent_events_until_0_6;
GRANT SELECT, INSERT, TRUNCATE ON telemetry.recent_events_0, telemetry.recent_events_1, telemetry.recent_events_2
  TO telemetry_pipeline;
GRANT TRUNCATE ON telemetry.recent_events TO telemetry_pipeline;

-- The rollup views read series by series (a query for one site reads only its series, every
-- part through an index), and the watermark they read once per series is a Rust function that
-- reads telemetry.rollup_watermarks once per snapshot. Summaries are now stored in a compact
-- layout (2) and read in place; the rows 0.5.0 stored (layout 1) are read as they are.
CREATE OR REPLACE FUNCTION telemetry.rollup_watermark("tier" TEXT) RETURNS timestamp with time zone
STABLE STRICT PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'rollup_watermark_wrapper';
CREATE FUNCTION telemetry.rollup_origin() RETURNS timestamp with time zone
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'rollup_origin_wrapper';
COMMENT ON FUNCTION telemetry.rollup_origin() IS
  'rollup_origin(): 1970-01-01 00:00 UTC, where the buckets of every rollup tier start counting, as pg_catalog.date_bin(width, time, telemetry.rollup_origin()) places them.';
COMMENT ON FUNCTION telemetry.rollup_watermark(text) IS
  'rollup_watermark(tier): the tier''s materialized_until in telemetry.rollup_watermarks (NULL: nothing materialized, or no such tier); what the views telemetry.rollup_<tier> read, once per series. It reads the table once per snapshot.';
DO $$
DECLARE
  t record;
  width text;
  summary text;
  watermark text;
BEGIN
  FOR t IN SELECT r.tier, r.bucket_width, r.percentiles FROM telemetry.rollup_tiers() r LOOP
    -- Widths as seconds, so that bucket + width is the same in every time zone.
    width := pg_catalog.format('interval %L', pg_catalog.date_part('epoch', t.bucket_width)::bigint || ' seconds');
    summary := CASE WHEN t.percentiles THEN 'telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality)'
                    ELSE 'telemetry.without_percentiles(telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality))' END;
    watermark := pg_catalog.format('telemetry.rollup_watermark(%L)', t.tier);
    -- Series by series, so that a query for some series (by id, or by site through a join with
    -- telemetry.series) reads only theirs, every part through an index on (series_id, time or
    -- bucket): the materialized rows below the watermark that no late reading invalidated, the
    -- buckets at or above it from the raw readings, and the invalidated ones from the raw
    -- readings. The series' invalidated buckets are read once, as an array that the first
    -- part filters by and the third walks: were the table probed for every materialized row,
    -- the planner would scan it per row once it is analyzed empty. The watermark is a stable
    -- function: TimescaleDB leaves out the chunks before it at executor startup. Plans that
    -- read these views are not JIT-compiled (extension/src/rollups/jit.rs); the origin is
    -- telemetry.rollup_origin(), which planning evaluates, so that the library making that
    -- rule is loaded before the plan runs.
    EXECUTE pg_catalog.format(
      'CREATE OR REPLACE VIEW telemetry.%1$I AS
       SELECT s.series_id, x.bucket, x.summary
         FROM telemetry.series s
        CROSS JOIN LATERAL (
              SELECT pg_catalog.array_agg(DISTINCT pg_catalog.date_bin(%4$s, i.bucket, telemetry.rollup_origin())) AS buckets
                FROM telemetry.rollup_invalidations i WHERE i.series_id = s.series_id) late
        CROSS JOIN LATERAL (
              SELECT m.bucket, m.summary
                FROM telemetry.%2$I m
               WHERE m.series_id = s.series_id AND m.bucket < %3$s
                 AND (late.buckets IS NULL OR m.bucket <> ALL (late.buckets))
              UNION ALL
              SELECT pg_catalog.date_bin(%4$s, r.time, telemetry.rollup_origin()), %5$s
                FROM telemetry.readings r
               WHERE r.series_id = s.series_id AND r.time >= coalesce(%3$s, ''-infinity'')
               GROUP BY 1
              UNION ALL
              SELECT i.bucket, x.summary
                FROM pg_catalog.unnest(late.buckets) i (bucket)
               CROSS JOIN LATERAL (
                     SELECT %5$s AS summary
                       FROM telemetry.readings r
                      WHERE r.series_id = s.series_id AND r.time >= i.bucket AND r.time < i.bucket + %4$s) x
               WHERE i.bucket < %3$s AND x.summary IS NOT NULL) x',
      'rollup_' || t.tier, 'rollup_' || t.tier || '_materialized', watermark, width, summary);
    EXECUTE pg_catalog.format('COMMENT ON VIEW telemetry.%I IS %L', 'rollup_' || t.tier,
      pg_catalog.format('The %s rollup tier: one telemetry.summary per series (of telemetry.series) and %s bucket%s, exactly the raw readings at any moment: the materialized rows (telemetry.rollup_%s_materialized) below the watermark that no late reading invalidated, and the rest summarised from telemetry.readings as it is read. Read it with the accessors (telemetry.mean(summary), ...), combine rows with telemetry.rollup(summary), or use telemetry.sensor_readings_%s by name.',
        t.tier, t.bucket_width, CASE WHEN t.percentiles THEN ', with a percentile sketch' ELSE ', without percentiles' END,
        t.tier, t.tier));
  END LOOP;
END $$;

COMMENT ON FUNCTION telemetry.prepare_staging() IS
  'prepare_staging(): create this session''s staging table pg_temp.telemetry_staging (received_at, topic, payload, and optionally payload_bytes, packet_id, retained, redelivered) if missing and return its name. telemetry.ingest_staged() reads only the rows staged in its own transaction.';
COMMENT ON FUNCTION telemetry.ingest_staged() IS
  'ingest_staged(): run every message staged in pg_temp.telemetry_staging in this transaction through the pipeline in arrival order, empty the table, and return what telemetry.ingest returns for the whole batch: counts, dead letters by reason, source times of the oldest and newest reading stored, Sparkplug edge nodes to ask for a rebirth. Call it in the transaction that filled the table.';
