-- telemetry.quality_report on a hand-built hour of history (2024-02-29 00:00 to 01:00):
-- completeness, validity, consistency, timeliness and the weighted overall score of seed 002
-- section 8.1, per site, asset and metric.
SET timezone = 'UTC';
-- North: pump-1 reports pressure (expected every minute) every 2 minutes, quality 0.8, three
-- readings flagged spike and three ingested 10 minutes late; its flow_rate, registered before
-- the hour, sent nothing.
INSERT INTO telemetry.series (series_id, site_id, asset_id, metric, created_at) VALUES
  (9101, 'qr-north', 'pump-1', 'pressure', '2024-01-01'),
  (9102, 'qr-north', 'pump-1', 'flow_rate', '2024-01-01'),
  (9103, 'qr-south', 'tank-1', 'temperature', '2024-01-01');
-- South: humidity registered now (after the hour) and silent: not expected in the hour.
INSERT INTO telemetry.series (series_id, site_id, asset_id, metric) VALUES (9104, 'qr-south', 'tank-1', 'humidity');
INSERT INTO telemetry.readings (series_id, time, value, quality, flags, ingested_at)
  SELECT 9101, t, 300, 0.8, CASE WHEN i < 3 THEN 8 ELSE 0 END,
         t + CASE WHEN i >= 27 THEN interval '10 minutes' ELSE interval '1 minute' END
    FROM generate_series(0, 29) i, LATERAL (SELECT '2024-02-29 00:00'::timestamptz + i * interval '2 minutes' AS t) x;
-- South: tank-1 temperature (no expected interval in the vocabulary: the default 1 minute)
-- every minute, perfect; and readings just outside the hour, which do not count.
INSERT INTO telemetry.readings (series_id, time, value, ingested_at)
  SELECT 9103, t, 20, t + interval '10 seconds'
    FROM generate_series(0, 59) i, LATERAL (SELECT '2024-02-29 00:00'::timestamptz + i * interval '1 minute' AS t) x;
INSERT INTO telemetry.readings (series_id, time, value, quality) VALUES
  (9103, '2024-02-28 23:59', 20, 0), (9103, '2024-02-29 01:00', 20, 0), (9101, '2024-02-29 01:00', 20, 0);
SELECT metric, expected_interval FROM telemetry.metric_rules WHERE metric IN ('pressure', 'flow_rate', 'temperature') ORDER BY 1;

-- North: 30 of 120 expected is 25; validity 80; 27 of 30 unflagged and 27 of 30 timely are 90;
-- overall 25 * .30 + 80 * .30 + 90 * .25 + 90 * .15 = 67.5. South: 60 of 60, all 100.
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00');
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', group_by => 'asset');
-- Per metric the silent flow_rate is 0 for completeness and nothing else applies: overall 0;
-- pressure alone is 30 of 60 expected: 15 + 24 + 22.5 + 13.5 = 75.
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', group_by => 'metric');
-- Without a default interval, temperature's completeness is not judged: south is the other
-- three, renormalised (100).
SELECT site_id, expected_samples, received_samples, completeness, overall
  FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', default_interval => NULL);
-- The last half hour: north sent 15 of 60 expected (25), none flagged, 3 of 15 late (80):
-- 7.5 + 24 + 25 + 12 = 68.5.
SELECT site_id, expected_samples, received_samples, completeness, consistency, timeliness, overall
  FROM telemetry.quality_report('2024-02-29 00:30', '2024-02-29 01:00');

-- The DBA's settings count: a 15-minute threshold makes north fully timely, and without a
-- timeliness weight the rest is renormalised: (7.5 + 24 + 22.5) / .85 = 63.53.
SET telemetry.timeliness_threshold = '15min';
SELECT site_id, timeliness, overall FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00');
RESET telemetry.timeliness_threshold;
SET telemetry.quality_weight_timeliness = 0;
SELECT site_id, timeliness, overall FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00');
RESET telemetry.quality_weight_timeliness;

-- Readers may run it; the writer, who reads nothing, may not.
SET ROLE telemetry_reader;
SELECT site_id, overall FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00');
RESET ROLE;
\set VERBOSITY sqlstate
SET ROLE telemetry_writer;
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00');
RESET ROLE;
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', group_by => 'sensor');
SELECT * FROM telemetry.quality_report('2024-02-29 01:00', '2024-02-29 00:00');
SELECT * FROM telemetry.quality_report('2024-02-29 01:00', '2024-02-29 01:00');
SELECT * FROM telemetry.quality_report(NULL, '2024-02-29 00:00');
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', group_by => NULL);
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', default_interval => '-1 minute');
\set VERBOSITY default
SELECT * FROM telemetry.quality_report('2024-02-29 00:00', '2024-02-29 01:00', group_by => 'sensor');
