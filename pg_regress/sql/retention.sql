-- Retention per tier: apply_retention() drops raw chunks beyond 90 days (archiving each first
-- through the DBA's hook), only once the rollups materialized them, and rollup chunks beyond
-- their tier's keep, never changing a rollup;
-- run again it finds nothing; run_maintenance() applies it quietly; the Apache edition says
-- once that compression is unavailable; who may change what.
SET timezone = 'UTC';
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.rollup_invalidations,
  telemetry.rollup_1m_materialized, telemetry.rollup_5m_materialized, telemetry.rollup_15m_materialized,
  telemetry.rollup_1h_materialized, telemetry.rollup_1d_materialized;
UPDATE telemetry.rollup_watermarks SET materialized_until = NULL;
SELECT tier, keep, archive_with FROM telemetry.retention ORDER BY keep, tier;
-- Readings 400 days, 100 days and 1 day old, three each.
CREATE FUNCTION pg_temp.send(age interval) RETURNS int LANGUAGE sql AS $$
  SELECT readings FROM telemetry.ingest('telemetry/site-k/asset-1/humidity',
    (SELECT convert_to(json_agg(json_build_object(
              'ts', extract(epoch FROM date_trunc('hour', now() - age) + i * interval '1 minute'), 'value', 40 + i))::text, 'UTF8')
       FROM generate_series(0, 2) i)) $$;
SELECT pg_temp.send('400 days'), pg_temp.send('100 days'), pg_temp.send('1 day');
CREATE FUNCTION pg_temp.chunks(hypertable text) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = 'telemetry' AND hypertable_name = hypertable $$;
-- Raw readings no tier has materialized are kept whatever their age.
SELECT count(*) AS chunks_dropped FROM telemetry.apply_retention(quiet => true);
SELECT count(*) AS materialized_tiers FROM telemetry.materialize_rollups(max_buckets => 10000000) WHERE materialized_until IS NOT NULL;
SELECT pg_temp.chunks('readings') AS raw_chunks, pg_temp.chunks('rollup_1m_materialized') AS chunks_1m,
       pg_temp.chunks('rollup_5m_materialized') AS chunks_5m;
CREATE TEMP TABLE before AS
  SELECT '5m' AS tier, bucket, summary::text AS s FROM telemetry.rollup_5m
  UNION ALL SELECT '1d', bucket, summary::text FROM telemetry.rollup_1d;

-- The archive hook: here it records each chunk and its rows; a real one might run
-- COPY (SELECT * FROM chunk) TO PROGRAM 'gzip > /archive/<range_start>.csv.gz' (see README.md).
CREATE TABLE public.archived (chunk regclass, range_start timestamptz, range_end timestamptz, readings bigint);
CREATE FUNCTION public.archive_chunk(chunk regclass, range_start timestamptz, range_end timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', chunk) INTO n;
  INSERT INTO public.archived VALUES (chunk, range_start, range_end, n);
END $$;
UPDATE telemetry.retention SET archive_with = 'public.archive_chunk(regclass, timestamptz, timestamptz)' WHERE tier = 'raw';

-- One run drops the raw chunks of 400 and 100 days ago (archived first) and the 1-minute
-- chunk of 400 days ago; the 5-minute and daily rows of every age stay, unchanged.
SELECT tier, count(*) AS chunks_dropped FROM telemetry.apply_retention() GROUP BY 1 ORDER BY 1;
SELECT pg_temp.chunks('readings') AS raw_chunks, pg_temp.chunks('rollup_1m_materialized') AS chunks_1m,
       pg_temp.chunks('rollup_5m_materialized') AS chunks_5m;
SELECT count(*) AS readings, min(time) > now() - interval '2 days' AS only_recent FROM telemetry.readings;
SELECT count(*) AS archived_chunks, sum(readings) AS archived_readings, bool_and(range_end <= now() - interval '90 days') AS all_old
  FROM public.archived;
SELECT count(*) AS rows_1m, min(bucket) > now() - interval '1 year' AS none_older_than_a_year FROM telemetry.rollup_1m;
SELECT b.tier, count(*) AS rows_kept, count(*) FILTER (WHERE b.s = coalesce(r5.summary, r1d.summary)::text) AS unchanged
  FROM before b
  LEFT JOIN telemetry.rollup_5m r5 ON b.tier = '5m' AND r5.bucket = b.bucket
  LEFT JOIN telemetry.rollup_1d r1d ON b.tier = '1d' AND r1d.bucket = b.bucket
 GROUP BY 1 ORDER BY 1;
-- A rebuild after retention leaves the rollups of dropped readings alone.
SELECT * FROM telemetry.rebuild_rollups();
SELECT count(*) AS rows_5m, sum(telemetry.num_vals(summary)) AS readings_5m FROM telemetry.rollup_5m;
-- Again: nothing left to drop.
SELECT count(*) AS chunks_dropped FROM telemetry.apply_retention();
-- run_maintenance applies it too, without the notice. A reading older than raw retention
-- arriving late is not in the rollups (its bucket's other readings are gone) and is dropped.
SELECT pg_temp.send('200 days');
SELECT count(*) AS invalidations FROM telemetry.rollup_invalidations;
SELECT alarm_states FROM telemetry.run_maintenance();
SELECT pg_temp.chunks('readings') AS raw_chunks, count(*) AS archived_chunks FROM public.archived;
SELECT count(*) AS rows_5m, sum(telemetry.num_vals(summary)) AS readings_5m FROM telemetry.rollup_5m;

-- Who may change what: the admin changes keep, not the archive function (it runs with the
-- extension owner's rights); keep must be positive, tiers are the known ones.
\set VERBOSITY sqlstate
SET ROLE telemetry_admin;
UPDATE telemetry.retention SET keep = interval '120 days' WHERE tier = 'raw';
UPDATE telemetry.retention SET archive_with = NULL WHERE tier = 'raw';
UPDATE telemetry.retention SET keep = interval '0' WHERE tier = '1m';
RESET ROLE;
INSERT INTO telemetry.retention (tier, keep) VALUES ('2m', '1 year');
UPDATE telemetry.retention SET archive_with = 'public.archive_chunk(regclass, timestamptz, timestamptz)' WHERE tier = '1m';
SET ROLE telemetry_reader;
SELECT count(*) FROM telemetry.retention;
SELECT count(*) FROM telemetry.apply_retention();
RESET ROLE;
\set VERBOSITY default
UPDATE telemetry.retention SET keep = interval '90 days', archive_with = NULL WHERE tier = 'raw';
DROP FUNCTION public.archive_chunk(regclass, timestamptz, timestamptz);
DROP TABLE public.archived;
