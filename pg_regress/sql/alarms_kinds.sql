-- Alarms, the other kinds and edges: off-delay by duration (completed by the maintenance run),
-- flat-line, rate of change, the anomaly z-score and its warm-up, NaN and NULL values through
-- telemetry.alarm_trigger(), and the ISA-18.2 figures on a hand-built history.
SET timezone = 'UTC';
-- Readings of asset a at second s of 2025-06-01 12:00, through a table of our own.
CREATE TABLE public.feed (asset text, ts timestamptz, v float8);
CREATE TRIGGER alarms AFTER INSERT ON public.feed FOR EACH ROW EXECUTE FUNCTION
  telemetry.alarm_trigger('site=ak-1', 'asset_column=asset', 'time_column=ts', 'v=motor_current');
CREATE FUNCTION pg_temp.f(asset text, s int, v float8) RETURNS int LANGUAGE sql AS $$
  INSERT INTO public.feed VALUES (asset, '2025-06-01 12:00:00+00'::timestamptz + s * interval '1 s', v) RETURNING 1 $$;
CREATE TEMP VIEW ev AS
  SELECT CASE WHEN e.time < '2025-06-02' THEN extract(epoch FROM e.time - '2025-06-01 12:00:00+00')::int END AS s,
         s.asset_id, r.name AS rule, e.kind, e.to_status, round(e.value::numeric, 2) AS value, e.severity
    FROM telemetry.alarm_events e JOIN telemetry.series s ON s.series_id = e.series_id
    JOIN telemetry.alarm_rules r ON r.rule_id = e.rule_id;

-- Off-delay by duration: the clear waits until the value has been back for 30 s; a clear that
-- no reading completes is completed by the maintenance run.
SELECT telemetry.add_alarm_rule('current high', 'high', 'high', limit_value => 100, asset_id => 'm1',
  off_delay => '30 s', suppression_window => '0 s') > 0 AS added;
SELECT sum(pg_temp.f('m1', s, v)) AS rows FROM (VALUES (0, 120), (10, 90), (20, 95), (50, 90)) AS x (s, v);
SELECT s, kind, to_status FROM ev WHERE rule = 'current high' ORDER BY 1;
SELECT pg_temp.f('m1', 60, 130), pg_temp.f('m1', 70, 80);
SELECT * FROM telemetry.run_maintenance();
SELECT s IS NULL AS by_maintenance, kind, to_status FROM ev WHERE rule = 'current high' ORDER BY s NULLS LAST;

-- NaN and NULL values change nothing.
SELECT pg_temp.f('m1', 80, 'NaN'), pg_temp.f('m1', 90, NULL);
SELECT count(*) AS events FROM ev WHERE rule = 'current high';

-- Flat-line: unchanged within epsilon for 1 minute.
SELECT telemetry.add_alarm_rule('current frozen', 'flat_line', 'medium', asset_id => 'm2', epsilon => 0.01,
  after => '1 minute', suppression_window => '0 s') > 0 AS added;
SELECT sum(pg_temp.f('m2', s, v)) AS rows FROM (VALUES (0, 50), (30, 50.005), (61, 50.001), (90, 55), (95, 56)) AS x (s, v);
SELECT s, kind, to_status FROM ev WHERE rule = 'current frozen' ORDER BY 1;

-- Rate of change: more than 5 A/s between readings.
SELECT telemetry.add_alarm_rule('current jump', 'rate_of_change', 'low', limit_value => 5, asset_id => 'm3',
  suppression_window => '0 s') > 0 AS added;
SELECT sum(pg_temp.f('m3', s, v)) AS rows FROM (VALUES (0, 50), (10, 60), (11, 80), (21, 81)) AS x (s, v);
SELECT s, kind, to_status, value FROM ev WHERE rule = 'current jump' ORDER BY 1;

-- Anomaly: a jump during the warm-up raises nothing; after it, a reading far from the rolling
-- mean raises with the severity of its z-score band (seed 003: over 4 is critical).
SELECT telemetry.add_alarm_rule('current odd', 'anomaly', 'info', asset_id => 'm4', window_samples => 20,
  warmup_samples => 10, z => 3, suppression_window => '0 s') > 0 AS added;
SELECT sum(pg_temp.f('m4', s, 50 + (s % 3))) AS rows FROM generate_series(0, 5) AS s;
SELECT pg_temp.f('m4', 6, 56);
SELECT count(*) AS during_warmup FROM ev WHERE rule = 'current odd';
SELECT sum(pg_temp.f('m4', s, 50 + (s % 3))) AS rows FROM generate_series(7, 80) AS s;
SELECT pg_temp.f('m4', 81, 80);
SELECT s, kind, to_status, severity FROM ev WHERE rule = 'current odd' ORDER BY 1;

-- The ISA-18.2 figures on a hand-built history: 12 raises of one alarm within 10 minutes (a
-- flood, and chattering: 3 within 60 s), 2 of another, one still active after 2 days.
SELECT series_id AS m1 FROM telemetry.series WHERE asset_id = 'm1' \gset
SELECT rule_id AS hi FROM telemetry.alarm_rules WHERE name = 'current high' \gset
SELECT rule_id AS fr FROM telemetry.alarm_rules WHERE name = 'current frozen' \gset
TRUNCATE telemetry.alarm_events;
INSERT INTO telemetry.alarm_events (time, rule_id, series_id, kind, from_status, to_status, severity)
SELECT '2025-07-01 00:00+00'::timestamptz + g * interval '20 s', :hi, :m1, k, f, t, 'high'
  FROM generate_series(0, 11) AS g,
       (VALUES ('raise', 'normal', 'unacknowledged'), ('clear', 'unacknowledged', 'returned_unacknowledged')) AS x (k, f, t)
 WHERE k = 'raise' OR g < 11;
INSERT INTO telemetry.alarm_events (time, rule_id, series_id, kind, from_status, to_status, severity) VALUES
  ('2025-07-01 03:00+00', :fr, :m1, 'raise', 'normal', 'unacknowledged', 'medium'),
  ('2025-07-01 03:05+00', :fr, :m1, 'clear', 'unacknowledged', 'normal', 'medium'),
  ('2025-07-02 00:00+00', :fr, :m1, 'raise', 'normal', 'unacknowledged', 'medium');
SELECT * FROM telemetry.alarm_performance('2025-07-01 00:00+00', '2025-07-03 00:00+00');
SELECT figure, rule_id = :hi AS current_high, severity, n, round(percent::numeric, 1) AS percent, since
  FROM telemetry.alarm_report('2025-07-01 00:00+00', '2025-07-03 00:00+00') ORDER BY figure, severity, n DESC;
SELECT * FROM telemetry.alarm_performance('2025-07-03 00:00+00', '2025-07-01 00:00+00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

DROP TABLE public.feed;
DELETE FROM telemetry.alarm_rules;
TRUNCATE telemetry.alarm_events, telemetry.alarm_outbox;
