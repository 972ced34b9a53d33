-- Analysis of (time, value) rows on hand-computed examples: counters through resets and
-- rollovers with bucket splits, time-weighted averages (linear, LOCF), gap filling (linear,
-- LOCF, leading and trailing gaps, over raw and over rollup rows), EMA and moving averages,
-- trend slopes, and the SQLSTATE of every bad argument.
SET timezone = 'UTC';
SET extra_float_digits = 0;
CREATE TEMP TABLE meter (t timestamptz, v float8);
-- 00:00 100, 00:10 150 (+50), 00:20 20 (a reset: +20), 00:30 65530 (+65510), 00:40 6.
INSERT INTO meter VALUES ('2025-06-01 00:00', 100), ('2025-06-01 00:10', 150), ('2025-06-01 00:20', 20),
  ('2025-06-01 00:30', 65530), ('2025-06-01 00:40', 6);

-- Counters. Without a rollover the drop to 6 is a reset (+6): 50 + 20 + 65510 + 6.
SELECT telemetry.counter_increase(t, v ORDER BY t) FROM meter;
-- A 16-bit register wraps at 65536: 65530 -> 6 is +12; 1000 -> 20 would still be a reset.
SELECT telemetry.counter_increase(t, v, 65536 ORDER BY t) FROM meter;
-- Per second over the 40 minutes: 65592 / 2400.
SELECT round(telemetry.counter_rate(t, v, 65536 ORDER BY t)::numeric, 4) FROM meter;
SELECT telemetry.counter_increase(t, v ORDER BY t) FROM meter WHERE false;
SELECT telemetry.counter_increase(t, v ORDER BY t) FROM meter WHERE v = 150;
-- NULL values are left out, as avg() leaves them out.
SELECT telemetry.counter_increase(t, nullif(v, 20) ORDER BY t) FROM meter;
-- Per group.
SELECT v > 1000 AS high, telemetry.counter_increase(t, v ORDER BY t) FROM meter GROUP BY 1 ORDER BY 1;
-- Two states merge in time order whatever order they come in; overlapping ones cannot.
SELECT telemetry.counter_increase_final(telemetry.counter_combine(
  telemetry.counter_accum(telemetry.counter_accum('{}', '2025-06-01 00:20', 20), '2025-06-01 00:30', 30),
  telemetry.counter_accum(telemetry.counter_accum('{}', '2025-06-01 00:00', 100), '2025-06-01 00:10', 150)));

-- Per bucket: 00:30 at 0, 01:30 at 60, 02:00 reset to 5, 02:30 at 15. The first span's 60 is
-- split 30 / 30 across 01:00; the reset's 5 lies in 01:30..02:00 and the reset is shown at
-- 02:00; rates are over the part of the bucket between readings (1800 s in the first).
SELECT bucket, delta, round(rate_per_second::numeric, 6) AS rate_per_second, resets
  FROM telemetry.counter_deltas(ARRAY['2025-06-01 00:30', '2025-06-01 01:30', '2025-06-01 02:00', '2025-06-01 02:30']::timestamptz[],
                                ARRAY[0, 60, 5, 15], '2025-06-01 00:00', '2025-06-01 03:00', '1 hour');
-- The deltas add up to the whole rise, as counter_increase counts it.
SELECT sum(delta) FROM telemetry.counter_deltas(ARRAY(SELECT t FROM meter ORDER BY t), ARRAY(SELECT v FROM meter ORDER BY t),
                                                '2025-06-01 00:00', '2025-06-01 01:00', '15 minutes', 65536);
-- A wrap straddling a boundary: 00:50 at 65500, 01:10 at 64 is +100, half in each hour.
SELECT bucket, delta, resets FROM telemetry.counter_deltas(ARRAY['2025-06-01 00:50', '2025-06-01 01:10']::timestamptz[],
  ARRAY[65500, 64], '2025-06-01 00:00', '2025-06-01 02:00', '1 hour', rollover => 65536);
-- Without the rollover the same drop is a reset: 64 counted from zero.
SELECT bucket, delta, resets FROM telemetry.counter_deltas(ARRAY['2025-06-01 00:50', '2025-06-01 01:10']::timestamptz[],
  ARRAY[65500, 64], '2025-06-01 00:00', '2025-06-01 02:00', '1 hour');

-- A series of readings, stored directly: an energy meter.
INSERT INTO telemetry.series (series_id, site_id, asset_id, metric) VALUES (9001, 'an-site', 'meter-1', 'energy'),
  (9002, 'an-site', 'tank-1', 'temperature');
INSERT INTO telemetry.readings (series_id, time, value)
  SELECT 9001, t::timestamptz, v FROM (VALUES ('2025-06-01 00:30', 0), ('2025-06-01 01:30', 60), ('2025-06-01 02:00', 5),
                                              ('2025-06-01 02:30', 15), ('2025-06-01 09:00', 20)) r (t, v);
-- From 01:00: the 00:30 reading before the range still counts for the span into 01:00..02:00;
-- the 09:00 reading after it for 02:30..03:00 (5 of its 5 kWh over 6.5 hours: 30 / 390).
SELECT bucket, round(delta::numeric, 4) AS delta, resets
  FROM telemetry.counter_deltas(9001, '2025-06-01 01:00', '2025-06-01 03:00');
SELECT count(*) FROM telemetry.counter_deltas(9001, '2025-07-01', '2025-07-02', '6 hours') WHERE delta IS NULL;
-- By name, the metric by any of its spellings.
SELECT telemetry.series_id('an-site', 'meter-1', 'energy'), telemetry.series_id('an-site', 'meter-1', 'Energy');
SELECT sum(delta) FROM telemetry.counter_deltas(telemetry.series_id('an-site', 'meter-1', 'energy'), '2025-06-01', '2025-06-01 03:00');

-- Time-weighted averages: 10 at 00:00, 20 at 00:10 and at 01:00. Linear: 15 for 10 minutes and
-- 20 for 50, 1150 / 60; LOCF: 10 for 10 minutes and 20 for 50, 1100 / 60; avg() says 16.67.
CREATE TEMP TABLE gauge (t timestamptz, v float8);
INSERT INTO gauge VALUES ('2025-06-01 00:00', 10), ('2025-06-01 00:10', 20), ('2025-06-01 01:00', 20);
SELECT round(telemetry.time_weighted_average(t, v ORDER BY t)::numeric, 4) AS linear,
       round(telemetry.time_weighted_average(t, v, 'locf' ORDER BY t)::numeric, 4) AS locf,
       round(avg(v)::numeric, 4) AS mean
  FROM gauge;
SELECT telemetry.time_weighted_average(t, v, 'linear' ORDER BY t) FROM gauge WHERE v = 10;
-- Per bucket, the boundary values come from the readings around it: 0 at 00:00, 90 at 01:30;
-- linear 30..60 averages 45 and 60..90 75; LOCF carries 0; after 01:30 nothing is known.
SELECT a.bucket, a.average AS linear, l.average AS locf
  FROM telemetry.time_weighted_averages(ARRAY['2025-06-01 00:00', '2025-06-01 01:30']::timestamptz[], ARRAY[0, 90],
                                        '2025-06-01 00:30', '2025-06-01 02:00', '30 minutes') a
  JOIN telemetry.time_weighted_averages(ARRAY['2025-06-01 00:00', '2025-06-01 01:30']::timestamptz[], ARRAY[0, 90],
                                        '2025-06-01 00:30', '2025-06-01 02:00', '30 minutes', 'locf') l USING (bucket);
INSERT INTO telemetry.readings (series_id, time, value)
  VALUES (9002, '2025-06-01 00:00', 0), (9002, '2025-06-01 01:30', 90);
SELECT * FROM telemetry.time_weighted_averages(9002, '2025-06-01 00:30', '2025-06-01 02:00', '30 minutes', method => 'locf');

-- Gap filling: hour 0 holds 10 and 20, hours 1 and 2 nothing, hour 3 40, hour 4 nothing.
-- Linear from 15 at 00:00 to 40 at 03:00; LOCF carries; none leaves the gaps.
CREATE TEMP TABLE sparse (t timestamptz, v float8);
INSERT INTO sparse VALUES ('2025-06-01 00:10', 10), ('2025-06-01 00:50', 20), ('2025-06-01 03:10', 40);
SELECT l.bucket, round(l.value::numeric, 4) AS linear, l.filled, c.value AS locf, c.filled, n.value AS none, n.filled
  FROM telemetry.gapfill(ARRAY(SELECT t FROM sparse ORDER BY t), ARRAY(SELECT v FROM sparse ORDER BY t),
                         '2025-06-01 00:00', '2025-06-01 05:00', '1 hour') l
  JOIN telemetry.gapfill(ARRAY(SELECT t FROM sparse), ARRAY(SELECT v FROM sparse),
                         '2025-06-01 00:00', '2025-06-01 05:00', '1 hour', 'locf') c USING (bucket)
  JOIN telemetry.gapfill(ARRAY(SELECT t FROM sparse), ARRAY(SELECT v FROM sparse),
                         '2025-06-01 00:00', '2025-06-01 05:00', '1 hour', 'none', 'max') n USING (bucket)
 ORDER BY 1;
-- Over rollup rows (bucket, mean), as an analyst has them: the hours between are interpolated.
CREATE TEMP TABLE hourly (bucket timestamptz, mean float8);
INSERT INTO hourly VALUES ('2025-06-01 00:00', 12), ('2025-06-01 03:00', 18);
SELECT g.* FROM (SELECT array_agg(bucket) AS b, array_agg(mean) AS m FROM hourly) h,
  telemetry.gapfill(h.b, h.m, '2025-06-01 00:00', '2025-06-01 04:00', '1 hour') g;
-- Leading and trailing gaps by series: 60 at 23:00 the day before, 100 at 02:00, 0 at 07:00.
INSERT INTO telemetry.series (series_id, site_id, asset_id, metric) VALUES (9003, 'an-site', 'tank-2', 'temperature');
INSERT INTO telemetry.readings (series_id, time, value)
  VALUES (9003, '2025-05-31 23:00', 60), (9003, '2025-06-01 02:00', 100), (9003, '2025-06-01 07:00', 0);
SELECT l.bucket, round(l.value::numeric, 4) AS linear, l.filled, c.value AS locf, c.filled
  FROM telemetry.gapfill(9003, '2025-06-01 00:00', '2025-06-01 05:00') l
  JOIN telemetry.gapfill(9003, '2025-06-01 00:00', '2025-06-01 05:00', method => 'locf') c USING (bucket)
 ORDER BY 1;
-- A range with no readings at all, nor any before: all NULL, nothing filled.
SELECT count(*), count(value), bool_or(filled) FROM telemetry.gapfill(9003, '2020-01-01', '2020-01-02', '1 hour', 'linear', 'sum');
SELECT count(*), count(value) FROM telemetry.gapfill(NULL::timestamptz[], NULL::float8[], '2025-06-01', '2025-06-01 01:00', '10 minutes');

-- EMA, seed 003's exponential_ma with alpha 0.3: 10, 13, 18.1, 24.67; and as a plain aggregate.
CREATE TEMP TABLE series (t timestamptz, v float8);
INSERT INTO series VALUES ('2025-06-01 00:00', 10), ('2025-06-01 00:01', 20), ('2025-06-01 00:02', 30), ('2025-06-01 00:05', 40);
SELECT t, round(telemetry.ema(v, 0.3) OVER (ORDER BY t)::numeric, 4) AS ema,
       avg(v) OVER (ORDER BY t ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS moving_avg_3,
       avg(v) OVER (ORDER BY t RANGE BETWEEN interval '2 minutes' PRECEDING AND CURRENT ROW) AS moving_avg_2min,
       round(telemetry.ema(t, v, interval '1 minute') OVER (ORDER BY t)::numeric, 4) AS ema_1min
  FROM series ORDER BY t;
SELECT round(telemetry.ema(v, 0.3 ORDER BY t)::numeric, 4) FROM series;
-- Time-aware: one time constant after 10, a 20 weighs 1 - 1/e: 10 + 10 * 0.632121.
SELECT round(telemetry.ema(t, v, interval '1 minute' ORDER BY t)::numeric, 6) FROM series WHERE v <= 20;

-- Trend slope by least squares, per hour as seed 003 fits it: y = 1, 3.5, 4.5, 7 at hours
-- 0..3 gives sxy / sxx = 9.5 / 5 = 1.9 per hour, 45.6 per day; rows in any order.
CREATE TEMP TABLE trend (t timestamptz, v float8);
INSERT INTO trend VALUES ('2025-06-01 03:00', 7), ('2025-06-01 00:00', 1), ('2025-06-01 02:00', 4.5), ('2025-06-01 01:00', 3.5);
SELECT round(telemetry.trend_slope(t, v)::numeric, 6) AS per_hour,
       round(telemetry.trend_slope(t, v, interval '1 day')::numeric, 6) AS per_day,
       round(telemetry.trend_slope(t, v, interval '1 second')::numeric, 9) AS per_second
  FROM trend;
SELECT telemetry.trend_slope(t, v) FROM trend WHERE v = 7;
-- In parallel, the partial fits merge to the same slope as one pass: 0.5 per hour plus noise
-- that cancels.
CREATE TABLE public.big_trend AS
  SELECT '2025-01-01'::timestamptz + i * interval '1 minute' AS t, i / 120.0 + (i % 2) * 2 - 1 AS v
    FROM generate_series(1, 200000) i;
ANALYZE public.big_trend;
SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT telemetry.trend_slope(t, v) FROM public.big_trend;
SELECT round(telemetry.trend_slope(t, v)::numeric, 6) AS parallel FROM public.big_trend;
-- An aggregate with ORDER BY is never split among workers: the order-bound ones run whole.
EXPLAIN (COSTS OFF) SELECT telemetry.counter_increase(t, v ORDER BY t) FROM public.big_trend;
RESET max_parallel_workers_per_gather; RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
SELECT round(telemetry.trend_slope(t, v)::numeric, 6) AS serial FROM public.big_trend;
DROP TABLE public.big_trend;

-- Honest volatility: the aggregates and the array forms are immutable, the forms that read the
-- readings stable; all parallel safe.
SELECT p.proname, p.prokind, p.provolatile, p.proparallel, count(*)
  FROM pg_proc p WHERE p.pronamespace = 'telemetry'::regnamespace
   AND p.proname IN ('counter_increase', 'counter_rate', 'counter_deltas', 'time_weighted_average', 'time_weighted_averages',
                     'gapfill', 'ema', 'trend_slope', 'series_points', 'quality_report')
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;

-- Bad arguments, each with its SQLSTATE.
\set VERBOSITY sqlstate
SELECT telemetry.counter_increase(t, v ORDER BY t DESC) FROM meter;
SELECT telemetry.counter_increase_final(telemetry.counter_combine(
  telemetry.counter_accum(telemetry.counter_accum('{}', '2025-06-01 00:00', 1), '2025-06-01 00:30', 3),
  telemetry.counter_accum('{}', '2025-06-01 00:10', 2)));
SELECT telemetry.counter_increase(t, v, 0 ORDER BY t) FROM meter;
SELECT telemetry.series_id('an-site', 'meter-2', 'energy');
SELECT * FROM telemetry.counter_deltas(9001, '2025-06-01', '2025-06-02', '0 hours');
SELECT * FROM telemetry.counter_deltas(9001, '2025-06-01', '2025-06-02', '-1 hour');
SELECT * FROM telemetry.counter_deltas(9001, '2025-06-01', '2025-07-01', '1 month');
SELECT * FROM telemetry.counter_deltas(9001, '2025-06-02', '2025-06-01');
SELECT * FROM telemetry.counter_deltas(9001, NULL, '2025-06-01');
SELECT * FROM telemetry.counter_deltas(9001, '2025-06-01', '2025-06-02', NULL);
SELECT * FROM telemetry.counter_deltas(9001, '-infinity', '2025-06-02');
SELECT * FROM telemetry.counter_deltas(9001, '2020-01-01', '2025-06-02', '1 second');
SELECT * FROM telemetry.counter_deltas(ARRAY['2025-06-01']::timestamptz[], ARRAY[1, 2], '2025-06-01', '2025-06-02', '1 hour');
SELECT telemetry.time_weighted_average(t, v, 'spline' ORDER BY t) FROM gauge;
SELECT telemetry.time_weighted_average(t, v, NULL ORDER BY t) FROM gauge;
SELECT * FROM telemetry.time_weighted_averages(9002, '2025-06-01', '2025-06-02', '1 hour', 'cubic');
SELECT * FROM telemetry.gapfill(9003, '2025-06-01', '2025-06-02', '1 hour', 'nearest');
SELECT * FROM telemetry.gapfill(9003, '2025-06-01', '2025-06-02', '1 hour', 'linear', 'median');
SELECT * FROM telemetry.gapfill(9003, '2025-06-01', '2025-06-02', '1 hour', 'linear', NULL);
SELECT telemetry.ema(v, 0) OVER (ORDER BY t) FROM series;
SELECT telemetry.ema(v, 1.5) OVER (ORDER BY t) FROM series;
SELECT telemetry.ema(v, NULL) OVER (ORDER BY t) FROM series;
SELECT telemetry.ema(t, v, interval '0 seconds') OVER (ORDER BY t) FROM series;
SELECT telemetry.ema(t, v, interval '1 minute' ORDER BY t DESC) FROM series;
SELECT telemetry.trend_slope(t, v, interval '-1 day') FROM trend;
SELECT telemetry.trend_slope_final('{1, 2, 3}');
\set VERBOSITY default
-- The messages name what was wrong.
SELECT telemetry.series_id('an-site', 'meter-2', 'energy');
SELECT * FROM telemetry.counter_deltas(9001, '2025-06-01', '2025-07-01', '1 month');
SELECT * FROM telemetry.gapfill(9003, '2025-06-01', '2025-06-02', '1 hour', 'nearest');
SELECT telemetry.counter_increase(t, v ORDER BY t DESC) FROM meter;
SELECT telemetry.ema(v, 1.5) OVER (ORDER BY t) FROM series;
