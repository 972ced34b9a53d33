-- Rollups: every tier view equals aggregating the raw readings after in-order, late,
-- out-of-order, duplicate and conflicting readings through telemetry.ingest(), both before
-- materialize_rollups() (from raw) and after it (materialized rows, and invalidated buckets
-- from raw until the next run); in-order data and duplicates record no invalidation; a
-- catch-up bounded per run; tiers combine exactly (two hours from 1-minute rows);
-- percentiles within the stated bound of percentile_cont; rebuild after deletes and
-- merge_metric; late data older than raw retention; the views by name; bad arguments.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.rollup_invalidations,
  telemetry.rollup_1m_materialized, telemetry.rollup_5m_materialized, telemetry.rollup_15m_materialized,
  telemetry.rollup_1h_materialized, telemetry.rollup_1d_materialized;
UPDATE telemetry.rollup_watermarks SET materialized_until = NULL;
-- The readings here are from 2025: keep raw readings long enough that they count as within
-- retention (the last part shows what happens beyond it).
UPDATE telemetry.retention SET keep = interval '100 years' WHERE tier = 'raw';
-- What maintenance materialized, and the invalidations waiting.
CREATE FUNCTION pg_temp.state() RETURNS TABLE (tier text, materialized_until timestamptz, materialized_rows bigint, invalidations bigint)
LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
  FOR t IN SELECT w.* FROM telemetry.rollup_tiers() WITH ORDINALITY r JOIN telemetry.rollup_watermarks w ON w.tier = r.tier ORDER BY r.ordinality LOOP
    tier := t.tier;
    materialized_until := t.materialized_until;
    EXECUTE format('SELECT count(*) FROM telemetry.%I', 'rollup_' || t.tier || '_materialized') INTO materialized_rows;
    invalidations := (SELECT count(*) FROM telemetry.rollup_invalidations);
    RETURN NEXT;
  END LOOP;
END $$;
-- A run of maintenance's rollup part: per tier the buckets materialized and re-materialized
-- (the watermark follows from the clock and is shown by pg_temp.state() when it is not).
CREATE FUNCTION pg_temp.materialize(max_buckets bigint DEFAULT 100000) RETURNS TABLE (tier text, buckets bigint, rematerialized bigint)
LANGUAGE sql AS $$ SELECT tier, buckets, rematerialized FROM telemetry.materialize_rollups(max_buckets => max_buckets) $$;
-- n readings of an asset's humidity from first, step apart, as one message; every fifth is
-- BAD and every fourth UNCERTAIN at the source.
CREATE FUNCTION pg_temp.batch(first timestamptz, n int, step interval, shift float8) RETURNS bytea
LANGUAGE sql AS $$
  SELECT convert_to(json_agg(json_build_object(
           'ts', to_char(first + i * step, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'value', round((50 + 20 * sin(i * 0.7 + shift) + shift)::numeric, 3),
           'quality', CASE WHEN i % 5 = 4 THEN 'BAD' WHEN i % 4 = 3 THEN 'UNCERTAIN' ELSE 'GOOD' END) ORDER BY i)::text, 'UTF8')
    FROM generate_series(0, n - 1) i $$;
CREATE FUNCTION pg_temp.send(asset text, first timestamptz, n int, step interval, shift float8)
RETURNS TABLE (readings int, duplicates int, conflicting int) LANGUAGE sql AS $$
  SELECT i.readings, i.duplicates, i.conflicting_duplicates
    FROM telemetry.ingest('telemetry/site-r/' || asset || '/humidity', pg_temp.batch(first, n, step, shift),
                          '2025-06-01 12:00:05+00') i $$;
-- For each tier, the buckets whose summary differs from plain SQL aggregates over the raw
-- readings (or exist on one side only): count, min, max, first and last exactly, sum, mean,
-- variance and mean quality to floating-point tolerance.
CREATE FUNCTION pg_temp.mismatches() RETURNS TABLE (tier text, buckets bigint, mismatches bigint)
LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
  FOR t IN SELECT * FROM telemetry.rollup_tiers() LOOP
    tier := t.tier;
    EXECUTE format($q$
      WITH raw AS (
        SELECT series_id, date_bin(%L, time, '1970-01-01') AS bucket, count(*) AS n, min(value) AS lo, max(value) AS hi,
               avg(value) AS mean, var_samp(value) AS var, avg(quality) AS q, bit_or(flags) AS flags,
               count(*) FILTER (WHERE source_quality = 0) AS good, count(*) FILTER (WHERE source_quality = 1) AS uncertain,
               count(*) FILTER (WHERE source_quality = 2) AS bad,
               (array_agg(value ORDER BY time))[1] AS first, (array_agg(value ORDER BY time DESC))[1] AS last,
               min(time) AS first_time, max(time) AS last_time
          FROM telemetry.readings GROUP BY 1, 2)
      SELECT count(*), count(*) FILTER (WHERE r.n IS NULL OR s.summary IS NULL
               OR r.n <> telemetry.num_vals(s.summary) OR r.lo <> telemetry.min_val(s.summary)
               OR r.hi <> telemetry.max_val(s.summary) OR r.first <> telemetry.first_val(s.summary)
               OR r.last <> telemetry.last_val(s.summary) OR r.first_time <> telemetry.first_time(s.summary)
               OR r.last_time <> telemetry.last_time(s.summary) OR r.good <> telemetry.good_count(s.summary)
               OR r.uncertain <> telemetry.uncertain_count(s.summary) OR r.bad <> telemetry.bad_count(s.summary)
               OR r.flags <> telemetry.flags_seen(s.summary)
               OR abs(r.mean - telemetry.mean(s.summary)) > 1e-9 * abs(r.mean)
               OR abs(r.q - telemetry.mean_quality(s.summary)) > 1e-6
               OR r.var IS DISTINCT FROM telemetry.variance(s.summary) AND abs(r.var - telemetry.variance(s.summary)) > 1e-9 * r.var + 1e-12
               OR (telemetry.percentile_error(s.summary) IS NOT NULL) <> %L)
        FROM raw r FULL JOIN telemetry.%I s USING (series_id, bucket)$q$, t.bucket_width, t.percentiles, 'rollup_' || t.tier)
      INTO buckets, mismatches;
    RETURN NEXT;
  END LOOP;
END $$;

-- Two assets, in order: every tier matches.
SELECT * FROM pg_temp.send('asset-1', '2025-06-01 10:00:00+00', 240, '20 seconds', 0);
SELECT * FROM pg_temp.send('asset-2', '2025-06-01 10:00:00+00', 240, '20 seconds', 3);
SELECT * FROM pg_temp.mismatches();
SELECT * FROM pg_temp.state();
-- Maintenance catches up at most about max_buckets per tier and run: 120 buckets of two
-- series is an hour of the 1-minute tier; no tier gets ahead of the one below.
SELECT * FROM pg_temp.materialize(max_buckets => 120);
SELECT * FROM pg_temp.state();
SELECT * FROM pg_temp.mismatches();
SELECT * FROM pg_temp.materialize();
SELECT tier, materialized_until > '2025-06-02' AS caught_up, materialized_rows, invalidations FROM pg_temp.state();
SELECT * FROM pg_temp.mismatches();
-- In-order readings after the watermark record nothing; the view has them from raw at once.
-- They start a minute, so that they fall in one bucket of every tier whatever the clock says.
SELECT readings FROM telemetry.ingest('telemetry/site-r/asset-2/humidity',
  pg_temp.batch(date_trunc('minute', now()) - interval '1 minute', 3, '1 second', 3), now());
SELECT count(*) AS invalidations FROM telemetry.rollup_invalidations;
SELECT * FROM pg_temp.mismatches();
DELETE FROM telemetry.readings WHERE time > now() - interval '1 hour';
-- Late and out of order: yesterday's readings, newest first, and gaps of the first hour
-- filled in, interleaved with what is already there.
SELECT * FROM telemetry.ingest('telemetry/site-r/asset-1/humidity', convert_to('[
  {"ts": "2025-05-31T23:59:59Z", "value": 41.5}, {"ts": "2025-05-31T23:00:00Z", "value": 12.25, "quality": "BAD"},
  {"ts": "2025-06-01T10:00:10Z", "value": 99}, {"ts": "2025-06-01T09:59:59.5Z", "value": 7},
  {"ts": "2025-06-01T10:04:50Z", "value": 1e-3}, {"ts": "2025-06-01T10:00:05Z", "value": 66, "quality": "UNCERTAIN"}]', 'UTF8'), :rx);
SELECT * FROM pg_temp.send('asset-2', '2025-06-01 10:00:10+00', 120, '40 seconds', 5);
-- Late: their 1-minute buckets are invalidated, and every tier still matches (those buckets
-- from raw); maintenance materializes them again and clears the invalidations.
SELECT count(*) AS invalidations, count(DISTINCT series_id) AS series FROM telemetry.rollup_invalidations;
SELECT * FROM pg_temp.mismatches();
SELECT * FROM pg_temp.materialize();
SELECT count(*) AS invalidations FROM telemetry.rollup_invalidations;
SELECT * FROM pg_temp.mismatches();
-- Redelivered (same values: duplicates) and conflicting (other values: dead letters) readings
-- change nothing; a batch mixing them with new ones adds only the new ones.
CREATE TEMP TABLE before AS SELECT 'rollup_1h' AS t, series_id, bucket, summary::text AS s FROM telemetry.rollup_1h;
SELECT * FROM pg_temp.send('asset-1', '2025-06-01 10:00:00+00', 240, '20 seconds', 0);
SELECT * FROM pg_temp.send('asset-1', '2025-06-01 10:00:00+00', 240, '20 seconds', 1);
SELECT count(*) AS changed_1h_buckets FROM before b JOIN telemetry.rollup_1h r USING (series_id, bucket) WHERE r.summary::text <> b.s;
SELECT count(*) AS invalidations FROM telemetry.rollup_invalidations;
SELECT * FROM pg_temp.send('asset-1', '2025-06-01 11:00:00+00', 240, '10 seconds', 0);
SELECT count(*) AS invalidations FROM telemetry.rollup_invalidations;
SELECT * FROM pg_temp.mismatches();
SELECT * FROM pg_temp.materialize();
SELECT * FROM pg_temp.mismatches();
SELECT count(*) AS conflicts FROM telemetry.dead_letters WHERE reason = 'conflicting_duplicate';

-- Tiers combine: two-hour buckets from the 1-minute rows equal the raw readings.
SELECT count(*) AS two_hour_buckets,
       count(*) FILTER (WHERE r.n <> telemetry.num_vals(s) OR abs(r.mean - telemetry.mean(s)) > 1e-9 * abs(r.mean)
                           OR abs(r.sd - telemetry.stddev(s)) > 1e-9 * r.sd OR r.lo <> telemetry.min_val(s)
                           OR r.hi <> telemetry.max_val(s)) AS mismatches
  FROM (SELECT series_id, date_bin('2 hours', bucket, '2000-01-01') AS b, telemetry.rollup(summary) AS s
          FROM telemetry.rollup_1m GROUP BY 1, 2) m
  JOIN (SELECT series_id, date_bin('2 hours', time, '2000-01-01') AS b, count(*) AS n, avg(value) AS mean,
               stddev(value) AS sd, min(value) AS lo, max(value) AS hi
          FROM telemetry.readings GROUP BY 1, 2) r USING (series_id, b);
-- A day from the 5-minute rows has the same percentile sketch as the day's tier row.
SELECT count(*) AS days, bool_and(telemetry.percentile(d.summary, q) = telemetry.percentile(f.s, q)) AS same_percentiles
  FROM telemetry.rollup_1d d
  JOIN (SELECT series_id, date_bin('1 day', bucket, '1970-01-01') AS bucket, telemetry.rollup(summary) AS s
          FROM telemetry.rollup_5m GROUP BY 1, 2) f USING (series_id, bucket),
       unnest(ARRAY[0, 0.1, 0.5, 0.9, 0.95, 1]) q;
-- The 1-minute tier has no percentiles; a rollup of it neither.
SELECT telemetry.percentile(telemetry.rollup(summary), 0.5) FROM telemetry.rollup_1m;

-- Percentiles are within the bound (1 %) of percentile_cont over the raw readings, per bucket
-- of every tier with percentiles, and over the whole two hours.
SELECT t.tier, count(*) AS checks, max(t.error) <= 0.01 AS within_bound FROM (
  SELECT '5m' AS tier, abs(telemetry.percentile(s.summary, q) - r.exact) / abs(r.exact) AS error
    FROM telemetry.rollup_5m s, LATERAL unnest(ARRAY[0.05, 0.5, 0.95, 0.99]) q,
         LATERAL (SELECT percentile_cont(q) WITHIN GROUP (ORDER BY value) AS exact FROM telemetry.readings x
                   WHERE x.series_id = s.series_id AND x.time >= s.bucket AND x.time < s.bucket + interval '5 minutes') r
  UNION ALL
  SELECT '1h', abs(telemetry.percentile(s.summary, q) - r.exact) / abs(r.exact)
    FROM telemetry.rollup_1h s, LATERAL unnest(ARRAY[0.05, 0.5, 0.95, 0.99]) q,
         LATERAL (SELECT percentile_cont(q) WITHIN GROUP (ORDER BY value) AS exact FROM telemetry.readings x
                   WHERE x.series_id = s.series_id AND x.time >= s.bucket AND x.time < s.bucket + interval '1 hour') r
  UNION ALL
  SELECT 'all', abs(telemetry.percentile(s, 0.95) - r.exact) / abs(r.exact)
    FROM (SELECT series_id, telemetry.rollup(summary) AS s FROM telemetry.rollup_15m GROUP BY 1) m
    JOIN (SELECT series_id, percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS exact FROM telemetry.readings GROUP BY 1) r
      USING (series_id)) t
 GROUP BY 1 ORDER BY 1;
SELECT DISTINCT telemetry.percentile_error(summary) FROM telemetry.rollup_1d;

-- Accessors on a hand-built day: values 1, 2, 3, 4 at 00:00..00:03, the last BAD.
SELECT telemetry.num_vals(s), telemetry.mean(s), telemetry.variance(s), telemetry.variance(s, population => true),
       round(telemetry.stddev(s)::numeric, 6) AS stddev, telemetry.min_val(s), telemetry.max_val(s),
       telemetry.first_val(s), telemetry.last_val(s), telemetry.first_time(s), telemetry.last_time(s),
       telemetry.good_count(s), telemetry.bad_count(s), telemetry.mean_quality(s), telemetry.percentile(s, 0.5)
  FROM (SELECT telemetry.summarize(t, v, 0.5, 0, CASE WHEN v = 4 THEN 2 ELSE 0 END::smallint) AS s
          FROM (VALUES ('2025-01-01 00:03+00'::timestamptz, 4.0::float8), ('2025-01-01 00:00+00', 1), ('2025-01-01 00:02+00', 3),
                       ('2025-01-01 00:01+00', 2)) AS x (t, v)) a;
-- Large values with a small spread keep their variance (naive sums of squares lose it).
SELECT round(telemetry.variance(telemetry.rollup(s), population => true)::numeric, 9) AS variance
  FROM (SELECT telemetry.summarize(now(), 1e9 + v, 1, 0, 0::smallint) AS s
          FROM unnest(ARRAY[0.25, 0.5, 0.75, 0]) v) a;

-- Names: the views join site, asset, sensor, metric and unit.
SELECT site_id, asset_id, metric, unit, sum(samples) AS samples,
       round(telemetry.mean(telemetry.rollup(summary))::numeric, 9) = (SELECT round(avg(value)::numeric, 9)
         FROM telemetry.sensor_readings r WHERE r.asset_id = v.asset_id) AS same_mean
  FROM telemetry.sensor_readings_1d v GROUP BY 1, 2, 3, 4 ORDER BY 2;
SELECT site_id, asset_id, metric, unit, count(*) FROM telemetry.sensor_readings GROUP BY 1, 2, 3, 4 ORDER BY 2;

-- Rebuild: readings deleted behind the pipeline's back leave the materialized tiers stale
-- until rebuild_rollups(), which puts them right for that series only.
DELETE FROM telemetry.readings WHERE time >= '2025-06-01 10:30+00' AND time < '2025-06-01 10:40+00'
   AND series_id = (SELECT series_id FROM telemetry.series WHERE asset_id = 'asset-2');
SELECT tier, mismatches > 0 AS stale FROM pg_temp.mismatches();
SELECT * FROM telemetry.rebuild_rollups(series_id => (SELECT series_id FROM telemetry.series WHERE asset_id = 'asset-2'),
                                        since => '2025-06-01 10:30+00', until => '2025-06-01 10:40+00');
SELECT * FROM pg_temp.mismatches();
-- Late data older than raw retention is stored but not reflected in the rollups: the rest of
-- its bucket may be gone, so its bucket is not summarised again (retention drops the reading).
UPDATE telemetry.retention SET keep = now() - timestamptz '2025-06-01 09:30+00' WHERE tier = 'raw';
SELECT * FROM pg_temp.send('asset-3', '2025-06-01 09:00:00+00', 3, '1 minute', 2);
SELECT count(*) AS invalidations FROM telemetry.rollup_invalidations;
SELECT tier, mismatches FROM pg_temp.mismatches() WHERE tier = '1m';
DELETE FROM telemetry.readings WHERE series_id = (SELECT series_id FROM telemetry.series WHERE asset_id = 'asset-3');
UPDATE telemetry.retention SET keep = interval '100 years' WHERE tier = 'raw';

-- merge_metric converts the readings of a metric it joins into another: the rollups follow.
INSERT INTO telemetry.metric_rules (metric, unit) VALUES ('humidity_fraction', '1');
SELECT * FROM telemetry.ingest('telemetry/site-r/asset-9/humidity_fraction',
  convert_to('[{"ts": "2025-06-01T10:00:00Z", "value": 0.5}, {"ts": "2025-06-01T10:00:30Z", "value": 0.7}]', 'UTF8'), :rx);
SELECT series_renamed, readings_moved FROM telemetry.merge_metric('humidity_fraction', 'humidity');
SELECT telemetry.mean(summary), telemetry.max_val(summary) FROM telemetry.sensor_readings_1h WHERE asset_id = 'asset-9';
SELECT * FROM pg_temp.mismatches();

-- The views read the watermark once per snapshot: a change is seen by the next statement of
-- the same transaction, and is gone after a rollback.
SELECT telemetry.rollup_watermark('1h') AS watermark_1h \gset
BEGIN;
UPDATE telemetry.rollup_watermarks SET materialized_until = '2001-01-01 00:00+00' WHERE tier = '1h';
SELECT telemetry.rollup_watermark('1h') = '2001-01-01 00:00+00' AS seen_in_the_transaction;
ROLLBACK;
SELECT telemetry.rollup_watermark('1h') IS NOT DISTINCT FROM :'watermark_1h'::timestamptz AS back_after_rollback,
       telemetry.rollup_watermark('no such tier') IS NULL AS unknown_tier_is_null;
-- Accessors read a stored summary in place; through its text form it is decoded whole. Both
-- give the same.
SELECT count(*) > 0 AS compared,
       count(*) FILTER (WHERE (telemetry.percentile(summary, 0.9), telemetry.mean(summary), telemetry.percentile_error(summary))
                              IS DISTINCT FROM (telemetry.percentile(t, 0.9), telemetry.mean(t), telemetry.percentile_error(t))) AS differing
  FROM telemetry.rollup_5m_materialized, LATERAL (SELECT summary::text::telemetry.summary AS t) x;

-- Plans that read the rollups are not JIT-compiled (their estimated cost grows with series
-- times raw chunks), unless telemetry.rollup_jit is on; other plans are left alone.
-- (In a schema of its own, not pg_temp: the check after a reconnect below uses it too.)
CREATE SCHEMA rollups_jit;
CREATE FUNCTION rollups_jit.used(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ' || query INTO plan;
  RETURN plan -> 0 -> 'JIT' IS NOT NULL;
END $$;
SET jit = on;
SET jit_above_cost = 0;
SELECT pg_jit_available() AS jit_available,
       rollups_jit.used('SELECT count(*) FROM telemetry.rollup_5m') AS rollups_compiled,
       rollups_jit.used('SELECT count(*) FROM telemetry.sensor_readings_1h') AS by_name_compiled,
       rollups_jit.used('SELECT count(*) FROM telemetry.readings') AS readings_compiled;
SET telemetry.rollup_jit = on;
SELECT rollups_jit.used('SELECT count(*) FROM telemetry.rollup_5m') AS rollups_compiled_when_on;
RESET telemetry.rollup_jit;
RESET jit_above_cost;
RESET jit;
-- The rollups stay exact once the empty table of invalidations has statistics (the plan then
-- differs).
ANALYZE telemetry.rollup_invalidations;
SELECT * FROM pg_temp.mismatches();

-- Bad arguments.
\set VERBOSITY sqlstate
SELECT telemetry.percentile(summary, 1.5) FROM telemetry.rollup_5m LIMIT 1;
SELECT telemetry.percentile(summary, -0.1) FROM telemetry.rollup_5m LIMIT 1;
SELECT * FROM telemetry.rebuild_rollups(since => '2025-06-02', until => '2025-06-01');
SELECT * FROM telemetry.rebuild_rollups(since => '-infinity');
SELECT * FROM telemetry.materialize_rollups(max_buckets => 0);
SELECT '{"count": "x"}'::telemetry.summary;
-- Readers read the rollups; they cannot write them, nor rebuild.
SET ROLE telemetry_reader;
SELECT count(*) > 0 AS readable FROM telemetry.sensor_readings_5m;
DELETE FROM telemetry.rollup_1m_materialized;
SELECT * FROM telemetry.rebuild_rollups();
SELECT * FROM telemetry.materialize_rollups();
RESET ROLE;
SET ROLE telemetry_admin;
INSERT INTO telemetry.rollup_1m_materialized SELECT * FROM telemetry.rollup_1m_materialized LIMIT 1;
INSERT INTO telemetry.rollup_invalidations VALUES (1, '2025-06-01');
SELECT count(*) FROM pg_temp.materialize();
RESET ROLE;
\set VERBOSITY default
UPDATE telemetry.retention SET keep = interval '90 days' WHERE tier = 'raw';
-- Nor is a session's first rollup query: planning the view evaluates telemetry.rollup_origin(),
-- which loads the library, and with it the rule, before the plan runs.
\c
SET jit = on;
SET jit_above_cost = 0;
SELECT rollups_jit.used('SELECT count(*) FROM telemetry.rollup_1h') AS first_rollup_query_compiled;
DROP SCHEMA rollups_jit CASCADE;
