-- Benchmark: 5-minute averages and 95th percentiles for one site over 24 hours, from the
-- 5-minute rollup view (telemetry.rollup_5m) against the same over the raw readings (avg and
-- percentile_cont), in the same run; and how far the rollup's percentiles are from the exact
-- ones. 10,000 series over 10 sites; the site asked for has 24 hours of readings every :step
-- seconds (default 5; seed 000 samples every second) for each of its 1,000 series, the others
-- an hour. The readings are inserted directly and materialized by
-- telemetry.materialize_rollups() (timed); then the watermarks are set back to 23:55, as
-- between two maintenance runs, so the view reads the last 5 minutes of the day from the raw
-- readings and the rest from the materialized rows.
\set ON_ERROR_STOP 1
\if :{?step}
\else
  \set step 5
\endif
\if :{?runs}
\else
  \set runs 3
\endif
-- Days of raw chunks, as 90 days of raw retention leave them: one chunk per day, the older ones
-- holding one reading each. A plan that reads the rollups has a scan per chunk in its
-- per-series part, so this is what its planning (and JIT compiling, if allowed) costs.
\if :{?raw_days}
\else
  \set raw_days 90
\endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET timezone = 'UTC';
DROP SCHEMA IF EXISTS bench_rollups CASCADE;
CREATE SCHEMA bench_rollups;
TRUNCATE telemetry.readings, telemetry.rollup_invalidations, telemetry.rollup_1m_materialized, telemetry.rollup_5m_materialized,
  telemetry.rollup_15m_materialized, telemetry.rollup_1h_materialized, telemetry.rollup_1d_materialized;
UPDATE telemetry.rollup_watermarks SET materialized_until = NULL;
DELETE FROM telemetry.series;
INSERT INTO telemetry.sites (site_id) SELECT 'site-' || s FROM generate_series(0, 9) s ON CONFLICT DO NOTHING;
INSERT INTO telemetry.assets (site_id, asset_id) SELECT 'site-' || (a / 100), 'asset-' || a FROM generate_series(0, 999) a
  ON CONFLICT DO NOTHING;
INSERT INTO telemetry.series (series_id, site_id, asset_id, metric)
SELECT s, 'site-' || (s / 1000), 'asset-' || (s / 10),
       (ARRAY['active_power', 'reactive_power', 'voltage', 'current', 'frequency', 'temperature',
              'irradiance', 'state_of_charge', 'humidity', 'wind_speed'])[1 + s % 10]
  FROM generate_series(0, 9999) s;
INSERT INTO telemetry.readings (time, series_id, value)
SELECT timestamptz '2025-06-01 00:00+00' + k * make_interval(secs => :step), s, 50 + 10 * sin(s + k * 0.1) + (k % 7)
  FROM generate_series(0, 999) s, generate_series(0, 86400 / :step - 1) k;
INSERT INTO telemetry.readings (time, series_id, value)
SELECT timestamptz '2025-06-01 00:00+00' + k * interval '1 minute', s, 50 + 10 * sin(s + k * 0.1)
  FROM generate_series(1000, 9999) s, generate_series(0, 59) k;
INSERT INTO telemetry.readings (time, series_id, value)
SELECT timestamptz '2025-06-01 00:00+00' - d * interval '1 day', 9999, 1 FROM generate_series(1, :raw_days - 1) d;
SELECT count(*) AS readings FROM telemetry.readings \gset
SELECT count(*) AS raw_chunks FROM timescaledb_information.chunks WHERE hypertable_schema = 'telemetry' AND hypertable_name = 'readings' \gset
SELECT clock_timestamp() AS t0 \gset
SELECT sum(buckets) AS rollup_rows FROM telemetry.materialize_rollups(max_buckets => 1000000000000) \gset
SELECT round(1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)) AS materialize_ms \gset
-- The last 5 minutes of the day not materialized yet: the view reads them from raw.
DELETE FROM telemetry.rollup_5m_materialized WHERE bucket >= '2025-06-01 23:55+00';
DELETE FROM telemetry.rollup_1m_materialized WHERE bucket >= '2025-06-01 23:55+00';
UPDATE telemetry.rollup_watermarks SET materialized_until = '2025-06-01 23:55+00' WHERE tier IN ('1m', '5m');
UPDATE telemetry.rollup_watermarks SET materialized_until = '2025-06-01 23:45+00' WHERE tier = '15m';
UPDATE telemetry.rollup_watermarks SET materialized_until = '2025-06-01 23:00+00' WHERE tier = '1h';
UPDATE telemetry.rollup_watermarks SET materialized_until = '2025-06-01 00:00+00' WHERE tier = '1d';
DELETE FROM telemetry.rollup_15m_materialized WHERE bucket >= '2025-06-01 23:45+00';
DELETE FROM telemetry.rollup_1h_materialized WHERE bucket >= '2025-06-01 23:00+00';
DELETE FROM telemetry.rollup_1d_materialized WHERE bucket >= '2025-06-01 00:00+00';
-- Autovacuum would have visited the materialized rows (an insert-only table) by now.
VACUUM ANALYZE telemetry.rollup_5m_materialized;
ANALYZE telemetry.readings, telemetry.series;

CREATE VIEW bench_rollups.from_raw AS
SELECT r.series_id, date_bin('5 minutes', r.time, '1970-01-01') AS bucket, avg(r.value) AS mean,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.value) AS p95
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'site-0' AND r.time >= '2025-06-01' AND r.time < '2025-06-02'
 GROUP BY 1, 2;
CREATE VIEW bench_rollups.from_rollups AS
SELECT r.series_id, r.bucket, telemetry.mean(r.summary) AS mean, telemetry.percentile(r.summary, 0.95) AS p95
  FROM telemetry.rollup_5m r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'site-0' AND r.bucket >= '2025-06-01' AND r.bucket < '2025-06-02';

-- This backend's CPU time (user + system, in 10 ms ticks) from /proc: on a small shared
-- machine it varies less than the wall clock.
CREATE FUNCTION bench_rollups.cpu_ms() RETURNS float8 LANGUAGE sql VOLATILE AS $$
  SELECT 10.0 * (f[12]::bigint + f[13]::bigint)
    FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f) x $$;
-- Each run sums every bucket's mean and p95, so neither side can skip computing them (a bare
-- count(*) lets PostgreSQL leave out the aggregates and the accessors), and the sums are
-- compared afterwards.
CREATE TABLE bench_rollups.times (what text, ms float8, cpu_ms float8, buckets bigint, mean_sum float8, p95_sum float8);
-- label: what the row is called (the view's name unless given).
CREATE PROCEDURE bench_rollups.time(what text, runs int, label text DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE t timestamptz; c float8; n bigint; m float8; p float8;
BEGIN
  FOR r IN 1 .. runs LOOP
    c := bench_rollups.cpu_ms();
    t := clock_timestamp();
    EXECUTE format('SELECT count(*), sum(mean), sum(p95) FROM bench_rollups.%I', what) INTO n, m, p;
    INSERT INTO bench_rollups.times
    VALUES (coalesce(label, what), 1000 * extract(epoch FROM clock_timestamp() - t), bench_rollups.cpu_ms() - c, n, m, p);
    COMMIT;
  END LOOP;
END $$;
-- Alternating, so that other load on a small machine hits both alike.
CALL bench_rollups.time('from_raw', 1);
CALL bench_rollups.time('from_rollups', :runs);
CALL bench_rollups.time('from_raw', :runs - 1);
-- The same rollup query with JIT left to PostgreSQL's settings, as before 0.6.0.
SET telemetry.rollup_jit = on;
CALL bench_rollups.time('from_rollups', 1, 'from_rollups_jit');
RESET telemetry.rollup_jit;
SELECT min(ms) FILTER (WHERE what = 'from_raw') AS raw_ms, min(ms) FILTER (WHERE what = 'from_rollups') AS rollup_ms,
       min(ms) FILTER (WHERE what = 'from_rollups_jit') AS rollup_jit_ms,
       min(cpu_ms) FILTER (WHERE what = 'from_raw') AS raw_cpu_ms, min(cpu_ms) FILTER (WHERE what = 'from_rollups') AS rollup_cpu_ms,
       max(buckets) FILTER (WHERE what = 'from_raw') AS raw_buckets, max(buckets) FILTER (WHERE what = 'from_rollups') AS rollup_buckets,
       max(mean_sum) FILTER (WHERE what = 'from_raw') AS raw_mean_sum, max(mean_sum) FILTER (WHERE what = 'from_rollups') AS rollup_mean_sum,
       max(p95_sum) FILTER (WHERE what = 'from_raw') AS raw_p95_sum, max(p95_sum) FILTER (WHERE what = 'from_rollups') AS rollup_p95_sum
  FROM bench_rollups.times \gset
-- Both sides computed the same thing: the same buckets, the means to rounding, the p95s within the bound.
SELECT :raw_buckets = :rollup_buckets AND abs(:raw_mean_sum - :rollup_mean_sum) <= 1e-9 * abs(:raw_mean_sum)
       AND abs(:raw_p95_sum - :rollup_p95_sum) <= 0.01 * abs(:raw_p95_sum) AS agree \gset
\if :agree
\else
  \echo 'The rollups and the raw readings disagree:' :raw_buckets :rollup_buckets :raw_mean_sum :rollup_mean_sum :raw_p95_sum :rollup_p95_sum
  SELECT 1 / 0;
\endif
-- Accuracy: means to rounding, percentiles within the bound.
SELECT count(*) AS compared, max(abs(r.mean - u.mean) / abs(r.mean)) AS mean_error,
       max(abs(r.p95 - u.p95) / abs(r.p95)) AS p95_error, avg(abs(r.p95 - u.p95) / abs(r.p95)) AS p95_mean_error
  FROM bench_rollups.from_raw r JOIN bench_rollups.from_rollups u USING (series_id, bucket) \gset
SELECT pg_size_pretty(hypertable_size('telemetry.readings')) AS raw_size,
       pg_size_pretty(hypertable_size('telemetry.rollup_5m_materialized')) AS size_5m,
       (SELECT round(avg(pg_column_size(summary))) FROM telemetry.rollup_5m_materialized) AS bytes_per_5m_summary \gset

\echo
\echo :readings 'readings over 10,000 series (site-0: 1,000 series, 24 h every' :step 's) in' :raw_chunks 'chunks;' :rollup_rows 'rollup rows materialized in' :materialize_ms 'ms; best of' :runs
SELECT name, round(ms::numeric, 1) AS ms, round(cpu_ms::numeric) AS cpu_ms, buckets,
       round((:raw_ms / ms)::numeric, 1) AS speedup, round((:raw_cpu_ms / CASE WHEN cpu_ms IS NOT NULL THEN greatest(cpu_ms, 10) END)::numeric, 1) AS cpu_speedup, target
  FROM (VALUES ('raw readings: avg and percentile_cont per 5 minutes (baseline)', :raw_ms::float8, :raw_cpu_ms::float8, :raw_buckets::bigint, ''),
               ('rollup_5m view (materialized + last 5 min from raw): mean and percentile(0.95)', :rollup_ms::float8, :rollup_cpu_ms::float8,
                :rollup_buckets::bigint, '>= 50'),
               ('the same with telemetry.rollup_jit = on (PostgreSQL''s JIT settings decide)', :rollup_jit_ms::float8, NULL,
                :rollup_buckets::bigint, '')) AS r (name, ms, cpu_ms, buckets, target);
SELECT :compared AS buckets_compared, :mean_error AS max_relative_error_mean, round(:p95_error::numeric, 5) AS max_relative_error_p95,
       round(:p95_mean_error::numeric, 5) AS mean_relative_error_p95, 0.01 AS guaranteed_bound;
SELECT :'raw_size' AS readings_size, :'size_5m' AS rollup_5m_size, :bytes_per_5m_summary AS bytes_per_5m_summary;
TRUNCATE telemetry.readings, telemetry.rollup_invalidations, telemetry.rollup_1m_materialized, telemetry.rollup_5m_materialized,
  telemetry.rollup_15m_materialized, telemetry.rollup_1h_materialized, telemetry.rollup_1d_materialized;
UPDATE telemetry.rollup_watermarks SET materialized_until = NULL;
DELETE FROM telemetry.series;
DROP SCHEMA bench_rollups CASCADE;
