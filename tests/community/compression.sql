-- The Community edition's path (timescaledb.license = timescale), which CI cannot run: its
-- TimescaleDB is the Apache edition from Debian. Run by tests/community/run.sh.
-- Compression of readings is set up by CREATE EXTENSION, segmented by series and ordered by
-- time, with TimescaleDB's policy at 7 days; chunks it compressed still take late readings
-- through the pipeline, duplicates and conflicting duplicates included; rollups over them equal
-- the raw aggregation before and after materializing; retention drops compressed chunks only
-- once every tier has materialized them; maintenance says nothing about compression. Then
-- run.sh dumps the database and restores it into another.
\set ON_ERROR_STOP 1
SET timezone = 'UTC';
SET client_min_messages = notice;
CREATE EXTENSION telemetry CASCADE;
SELECT telemetry.timescaledb_license() AS license;
SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings
 WHERE hypertable = 'telemetry.readings'::regclass;
SELECT proc_name, config->>'compress_after' AS compress_after FROM timescaledb_information.jobs
 WHERE hypertable_schema = 'telemetry' AND hypertable_name = 'readings';

-- TimescaleDB's table of compressed readings is TimescaleDB's, not a member of this extension
-- (pg_dump would leave it out).
SELECT count(*) AS members_outside_schema_telemetry
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'telemetry') AND d.deptype = 'e'
   AND d.classid = 'pg_class'::regclass AND c.relnamespace <> 'telemetry'::regnamespace;

-- 30 days of hourly readings of 3 series, ending 20 days ago, through the pipeline.
CREATE FUNCTION pg_temp.send(asset text, t timestamptz, v float8) RETURNS TABLE (readings int, duplicates int, conflicting int)
LANGUAGE sql AS $$
  SELECT i.readings, i.duplicates, i.conflicting_duplicates
    FROM telemetry.ingest('telemetry/site-c/' || asset || '/temperature',
                          convert_to(json_build_object('ts', to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'value', v)::text, 'UTF8')) i $$;
SELECT sum(s.readings) AS stored
  FROM generate_series(0, 2) a, generate_series(0, 30 * 24 - 1) h,
       LATERAL pg_temp.send('pump-' || a, date_trunc('hour', now()) - interval '50 days' + h * interval '1 hour', 20 + a + sin(h)) s;
-- The policy's job compresses every chunk older than 7 days.
SELECT job_id AS compression_job FROM timescaledb_information.jobs
 WHERE hypertable_schema = 'telemetry' AND hypertable_name = 'readings' \gset
CALL run_job(:compression_job);
SELECT count(*) > 0 AS some_compressed, bool_and(is_compressed) AS all_compressed
  FROM timescaledb_information.chunks WHERE hypertable_schema = 'telemetry' AND hypertable_name = 'readings';

-- Rollups over compressed chunks equal the raw aggregation, from raw and once materialized.
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
  WITH raw AS (SELECT series_id, date_bin('1 hour', time, '1970-01-01') AS bucket, count(*) AS n, avg(value) AS mean,
                      min(value) AS lo, max(value) AS hi
                 FROM telemetry.readings GROUP BY 1, 2)
  SELECT count(*) FILTER (WHERE r.n IS NULL OR s.summary IS NULL OR r.n <> telemetry.num_vals(s.summary)
                           OR abs(r.mean - telemetry.mean(s.summary)) > 1e-9 * abs(r.mean)
                           OR r.lo <> telemetry.min_val(s.summary) OR r.hi <> telemetry.max_val(s.summary))
    FROM raw r FULL JOIN telemetry.rollup_1h s USING (series_id, bucket) $$;
SELECT pg_temp.mismatches() AS mismatches_from_raw;
SELECT sum(buckets) > 0 AS materialized FROM telemetry.materialize_rollups(max_buckets => 1000000);
SELECT pg_temp.mismatches() AS mismatches_materialized;

-- Late readings into compressed chunks: a new one is stored, a repeat is a duplicate, another
-- value at the same time a conflicting duplicate; the rollups follow.
SELECT * FROM pg_temp.send('pump-0', date_trunc('hour', now()) - interval '40 days' + interval '30 minutes', 99);
SELECT * FROM pg_temp.send('pump-0', date_trunc('hour', now()) - interval '40 days' + interval '30 minutes', 99);
SELECT * FROM pg_temp.send('pump-0', date_trunc('hour', now()) - interval '40 days' + interval '30 minutes', 98);
SELECT * FROM pg_temp.send('pump-1', date_trunc('hour', now()) - interval '40 days', 21 + sin(240));
SELECT value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.asset_id = 'pump-0' AND r.time = date_trunc('hour', now()) - interval '40 days' + interval '30 minutes';
SELECT pg_temp.mismatches() AS mismatches_after_late;
SELECT sum(rematerialized) > 0 AS rematerialized FROM telemetry.materialize_rollups(max_buckets => 1000000);
SELECT pg_temp.mismatches() AS mismatches_after_rematerialize;

-- Maintenance: no notice that compression is unavailable. Retention of 45 days drops the
-- compressed chunks wholly older than that, and the rollups keep their readings.
SELECT count(*) >= 0 AS maintained FROM telemetry.run_maintenance();
SELECT telemetry.num_vals(telemetry.rollup(summary)) AS in_rollups_before FROM telemetry.rollup_1d \gset
UPDATE telemetry.retention SET keep = interval '45 days' WHERE tier = 'raw';
SELECT count(*) > 0 AS chunks_dropped FROM telemetry.apply_retention();
SELECT min(time) >= now() - interval '46 days' AS raw_within_retention FROM telemetry.readings;
SELECT telemetry.num_vals(telemetry.rollup(summary)) = :in_rollups_before AS rollups_kept FROM telemetry.rollup_1d;
