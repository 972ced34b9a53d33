-- Benchmark: the analysis functions against the plain SQL an analyst writes without them (window
-- functions, generate_series and a join; PostgreSQL's own regr_slope for the slope), over the
-- same rows in the same run: best-of-N wall time of both, the ratio, and whether both agree.
-- :rows readings (default 1,000,000) over 100 series, irregularly about 10 s apart; counters
-- reset every 5,000 readings.
\set ON_ERROR_STOP 1
\if :{?rows}
\else
  \set rows 1000000
\endif
\if :{?runs}
\else
  \set runs 3
\endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
DROP SCHEMA IF EXISTS bench_analysis CASCADE;
CREATE SCHEMA bench_analysis;

CREATE TABLE bench_analysis.points AS
SELECT s AS series_id,
       timestamptz '2025-06-01 00:00:00+00' + (k * 10 + (k * 7) % 5) * interval '1 second' AS t,
       (k % 5000) * 1.5 AS counter,
       50 + 10 * sin(s + k / 100.0) AS gauge
FROM generate_series(1, 100) AS s, generate_series(0, :rows / 100 - 1) AS k;
CREATE INDEX ON bench_analysis.points (series_id, t);
VACUUM ANALYZE bench_analysis.points;

CREATE FUNCTION bench_analysis.best_ms(query text, runs int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE best float8 := 'Infinity'; t timestamptz;
BEGIN
  FOR k IN 1..runs LOOP
    t := clock_timestamp();
    EXECUTE query;
    best := least(best, 1000 * extract(epoch FROM clock_timestamp() - t));
  END LOOP;
  RETURN best;
END $$;

CREATE FUNCTION bench_analysis.scalar(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE v float8;
BEGIN
  EXECUTE query INTO v;
  RETURN v;
END $$;

-- Each case sums one figure per series (gapfill: per bucket), so that both sides compute all of
-- it and can be compared; gapfill takes the same rows as arrays, as it takes rollup rows.
CREATE TABLE bench_analysis.cases (name text, telemetry text, plain text);
INSERT INTO bench_analysis.cases VALUES
  ('counter_increase',
   'SELECT sum(x) FROM (SELECT telemetry.counter_increase(t, counter ORDER BY t) AS x FROM bench_analysis.points GROUP BY series_id) q',
   'SELECT sum(CASE WHEN counter >= prev THEN counter - prev ELSE counter END)
      FROM (SELECT counter, lag(counter) OVER (PARTITION BY series_id ORDER BY t) AS prev FROM bench_analysis.points) q
     WHERE prev IS NOT NULL'),
  ('time_weighted_average (linear)',
   'SELECT sum(x) FROM (SELECT telemetry.time_weighted_average(t, gauge ORDER BY t) AS x FROM bench_analysis.points GROUP BY series_id) q',
   'SELECT sum(x) FROM (
      SELECT sum((gauge + next) / 2 * extract(epoch FROM next_t - t)) / extract(epoch FROM max(next_t) - min(t)) AS x
        FROM (SELECT series_id, t, gauge, lead(gauge) OVER w AS next, lead(t) OVER w AS next_t
                FROM bench_analysis.points WINDOW w AS (PARTITION BY series_id ORDER BY t)) q
       WHERE next IS NOT NULL GROUP BY series_id) r'),
  ('trend_slope (against regr_slope)',
   'SELECT sum(x) FROM (SELECT telemetry.trend_slope(t, gauge) AS x FROM bench_analysis.points GROUP BY series_id) q',
   'SELECT sum(x) FROM (SELECT regr_slope(gauge, extract(epoch FROM t)) * 3600 AS x FROM bench_analysis.points GROUP BY series_id) q'),
  ('gapfill (5 min, locf)',
   'SELECT sum(g.value) FROM (SELECT array_agg(t ORDER BY t) AS ts, array_agg(gauge ORDER BY t) AS vs FROM bench_analysis.points
                                WHERE t >= ''2025-06-01'' AND t < ''2025-06-02'' GROUP BY series_id) p,
           telemetry.gapfill(p.ts, p.vs, ''2025-06-01'', ''2025-06-02'', ''5 minutes'', ''locf'') g',
   'SELECT sum(v) FROM (
      SELECT first_value(avg) OVER (PARTITION BY s, grp ORDER BY b) AS v
        FROM (SELECT s, b, a.avg, count(a.avg) OVER (PARTITION BY s ORDER BY b) AS grp
                FROM generate_series(1, 100) s
               CROSS JOIN generate_series(timestamptz ''2025-06-01'', timestamptz ''2025-06-02'' - interval ''5 minutes'', interval ''5 minutes'') b
                LEFT JOIN (SELECT series_id, date_bin(''5 minutes'', t, ''2000-01-03'') AS bucket, avg(gauge) AS avg
                             FROM bench_analysis.points WHERE t >= ''2025-06-01'' AND t < ''2025-06-02'' GROUP BY 1, 2) a
                       ON a.series_id = s AND a.bucket = b) q) r');
\echo
\echo 'Analysis over' :rows 'rows, 100 series, best of' :runs 'runs (ms); ratio = plain SQL time / telemetry time'
SELECT name AS function,
       round(telemetry_ms::numeric, 0) AS telemetry_ms,
       round(plain_ms::numeric, 0) AS plain_sql_ms,
       round((plain_ms / telemetry_ms)::numeric, 2) AS ratio,
       round(bench_analysis.scalar(telemetry)::numeric, 3) = round(bench_analysis.scalar(plain)::numeric, 3) AS results_agree
FROM (SELECT name, telemetry, plain, bench_analysis.best_ms(telemetry, :runs) AS telemetry_ms,
             bench_analysis.best_ms(plain, :runs) AS plain_ms
        FROM bench_analysis.cases) t;
DROP SCHEMA bench_analysis CASCADE;
