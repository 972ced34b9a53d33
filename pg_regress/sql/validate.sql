-- telemetry.validate: a status for every case.
SELECT metric, value, telemetry.validate(metric, value)
  FROM (VALUES ('ambient_temperature', 20::float8), ('ambient_temperature', -40.1), ('ambient_temperature', 70),
               ('ambient_temperature', 70.5), ('humidity', 101), ('body_temp', 38.5), ('milk_volume', 50001),
               ('temperature', 'NaN'), ('temperature', 'Infinity'), ('temperature', '-Infinity'),
               ('temperature', NULL), ('no_such_metric', 1), (NULL, 1), ('', 1)) AS v (metric, value);
-- With a unit, the value is converted to the canonical unit first: 100 degF is 37.8 degC.
SELECT telemetry.validate('body_temperature', 100, 'degF'), telemetry.validate('body_temperature', 120, 'degF');
SELECT telemetry.validate('milk_volume', 51, 'L'), telemetry.validate('pressure', -1, 'psi');
-- The result is the enum telemetry.validation_status, usable in comparisons and GROUP BY.
SELECT pg_typeof(telemetry.validate('humidity', 50));
SELECT telemetry.validate('humidity', 50) = 'ok' AS is_ok;
SELECT s, count(*) FROM (SELECT telemetry.validate('humidity', v) AS s FROM generate_series(-10, 110, 10) v) x GROUP BY s ORDER BY s;
-- Absurd metric names are simply unknown.
SELECT telemetry.validate(repeat('x', 1000000), 1);
-- A wrong unit is an error, not a status.
SELECT telemetry.validate('humidity', 50, 'kW');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A rule change is seen at once.
UPDATE telemetry.metric_rules SET valid_max = 110 WHERE metric = 'humidity';
SELECT telemetry.validate('humidity', 105);
UPDATE telemetry.metric_rules SET valid_max = 100 WHERE metric = 'humidity';
SELECT telemetry.validate('humidity', 105);
-- Rules are checked: min above max is refused.
INSERT INTO telemetry.metric_rules (metric, unit, valid_min, valid_max) VALUES ('broken', 'Cel', 10, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.metric_rules (metric, unit) VALUES ('Not Snake', 'Cel');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
