-- Metric name normalisation and the stable reading key.
SELECT name, telemetry.normalize_metric(name)
  FROM (VALUES ('ActivePower'), ('active-power'), ('ACTIVE POWER'), ('activePowerKW'), ('P_AC'), ('SOC'),
               ('Body Temp'), ('rumination_minutes'), ('HTTPServer'), ('pv1Voltage'), ('wind speed')) AS n (name);
SELECT telemetry.normalize_metric('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.normalize_metric('--');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.normalize_metric(repeat('a', 129));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.normalize_metric(NULL) IS NULL;
-- A DBA maps a vendor name.
INSERT INTO telemetry.metric_aliases (alias, metric) VALUES ('inv_pac_total', 'active_power');
SELECT telemetry.normalize_metric('INV.PacTotal'), telemetry.normalize_metric('inv_pac_total');
-- Short words are abbreviations or units, not camelCase; a trailing unit is understood.
SELECT telemetry.normalize_metric('SoC'), telemetry.normalize_metric('ActivePower_kW'), telemetry.normalize_metric('temperature_F');
SELECT telemetry.validate('temperature_f', 212), telemetry.validate('body_temp_f', 212);
INSERT INTO telemetry.metric_aliases (alias, metric) VALUES ('Not Normalised', 'active_power');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- reading_key: stable, alias-blind, and sensitive to every identity field.
SELECT telemetry.reading_key('site-1', 'inv-01', 'active_power', '2025-06-01 12:00:00+00');
SELECT telemetry.reading_key('site-1', 'inv-01', 'active_power', '2025-06-01 12:00:00+00')
     = telemetry.reading_key('site-1', 'inv-01', 'ActivePowerKW', '2025-06-01 14:00:00+02') AS same_reading;
SELECT count(DISTINCT k) AS distinct_keys FROM (
  SELECT telemetry.reading_key('site-1', 'inv-01', 'active_power', '2025-06-01 12:00:00+00')
  UNION ALL SELECT telemetry.reading_key('site-2', 'inv-01', 'active_power', '2025-06-01 12:00:00+00')
  UNION ALL SELECT telemetry.reading_key('site-1', 'inv-02', 'active_power', '2025-06-01 12:00:00+00')
  UNION ALL SELECT telemetry.reading_key('site-1', 'inv-01', 'reactive_power', '2025-06-01 12:00:00+00')
  UNION ALL SELECT telemetry.reading_key('site-1', 'inv-01', 'active_power', '2025-06-01 12:00:00.000001+00')
  UNION ALL SELECT telemetry.reading_key('site-1', 'inv-01', 'active_power', '2025-06-01 12:00:00+00', sensor_id => 's2')
) k (k);
-- Dedup in practice: keep the first row per key.
CREATE TEMP TABLE raw (site text, asset text, metric text, ts timestamptz, value float8);
INSERT INTO raw VALUES ('s1', 'a1', 'soc', '2025-06-01 12:00:00+00', 50), ('s1', 'a1', 'state_of_charge', '2025-06-01 12:00:00+00', 50),
                       ('s1', 'a1', 'SOC', '2025-06-01 12:00:01+00', 51);
SELECT count(*) AS rows, count(DISTINCT telemetry.reading_key(site, asset, metric, ts)) AS readings FROM raw;
SELECT telemetry.reading_key('s', 'a', '', now());
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An infinite time has no key.
SELECT telemetry.reading_key('s', 'a', 'm', 'infinity');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
