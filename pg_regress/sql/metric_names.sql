-- Vendor names: folders, camelCase and PascalCase, unit suffixes of one or more tokens, the
-- shipped vocabulary (SunSpec included), and aliases that imply a sensor.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.sparkplug_metrics;

-- How names resolve: the canonical metric, or the one an unknown name would be registered as.
SELECT name, telemetry.normalize_metric(name) AS metric FROM (VALUES
  ('ghi_w_m2'), ('dni_w_m2'), ('dhi_w_m2'), ('temp_air_c'), ('dew_point_c'), ('rel_humidity_pct'),
  ('wind_speed_m_s'), ('wind_direction_deg'), ('pressure_mbar'), ('temperature_celsius'),
  ('AirTemperature'), ('windSpeed'), ('GearboxOilTemp'), ('MaxCellVoltage'), ('BatterySOC'),
  ('Inverter 1/ActivePower'), ('Weather/Station A/AirTemperature'),
  ('PhVphA'), ('AphB'), ('W'), ('Hz'), ('TmpCab'), ('VAr'), ('WH'),
  ('voltage_a'), ('energy_kwh'), ('frequency_hz'), ('tank_level_m'), ('door_state')) AS v (name);

-- A weather station: one multi-metric message, names with unit suffixes of several tokens.
SELECT readings, dead_letters, dead_letter_reasons FROM telemetry.ingest('site/ws-1/telemetry', pg_temp.j('{
  "assetId": "station-1", "timestamp": 1748779200000, "metrics": {
  "ghi_w_m2": 812, "dni_w_m2": 905, "dhi_w_m2": 97, "temp_air_c": 21.5, "dew_point_c": 9.8,
  "rel_humidity_pct": 46, "wind_speed_m_s": 5.2, "wind_direction_deg": 230, "pressure_mbar": 1013.2}}'), :rx);
SELECT s.metric, s.sensor_id, r.value, m.unit, telemetry.flag_names(r.flags) AS flags
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) JOIN telemetry.metric_rules m USING (metric)
 WHERE s.site_id = 'ws-1' ORDER BY s.metric;

-- SunSpec inverter points and per-phase names: the phase becomes the sensor.
SELECT readings, dead_letters FROM telemetry.ingest('site/pv-1/telemetry', pg_temp.j('{
  "assetId": "inv-1", "sensorId": "meter", "timestamp": 1748779200000, "metrics": {
  "W": 41200, "Hz": 50.02, "PhVphA": 231.1, "PhVphB": 230.4, "AphA": 59.8, "TmpCab": 41.5,
  "voltage_l3": 229.9, "cos_phi": 0.99}}'), :rx);
SELECT s.metric, s.sensor_id, r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'pv-1' ORDER BY s.metric, s.sensor_id;

-- Sparkplug B from Eclipse Tahu's encoder (npm sparkplug-payload): metric names with folders,
-- engUnit properties, and data by alias only. Folders go to the sensor, after the device.
SELECT readings, dead_letters FROM telemetry.ingest('spBv1.0/farm-1/DBIRTH/edge-1/inv-2',
  '\x0880dcf3daf232123d0a14496e7665727465722f416374697665506f77657210011880dcf3daf232200a4a110a07656e67556e69741206080c42026b5769000000000000144012590a0a54616e6b2f4c6576656c10021880dcf3daf23220094a3b0a07656e67556e69740a06656e674c6f770a07656e67486967681205080c420125120b080a310000000000000000120b080a310000000000005940650000204212410a16576561746865722f41697254656d706572617475726510031880dcf3daf232200a4a130a07656e67556e69741208080c4204646567466900000000004053401801', :rx);
SELECT metric, alias, unit, eng_low, eng_high FROM telemetry.sparkplug_metrics WHERE group_id = 'farm-1' ORDER BY alias;
SELECT readings, dead_letters FROM telemetry.ingest('spBv1.0/farm-1/DDATA/edge-1/inv-2',
  '\x08e8e3f3daf2321214100118e8e3f3daf232200a690000000000001e401210100218e8e3f3daf23220096500005c421214100318e8e3f3daf232200a6900000000008055401802', :rx);
SELECT s.sensor_id, s.metric, r.time, round(r.value::numeric, 3) AS value, telemetry.flag_names(r.flags) AS flags
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'farm-1' ORDER BY s.metric, r.time;

-- A name that is already known with its slashes keeps them; a name of only separators is refused.
SELECT telemetry.normalize_metric('///');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dead_letter_reasons FROM telemetry.ingest('site/s/telemetry', pg_temp.j('{"assetId": "a", "metrics": {"-/-": 1}}'), :rx);

-- Leave no registered metric behind for the suites that follow.
DELETE FROM telemetry.readings WHERE series_id IN (SELECT series_id FROM telemetry.series s JOIN telemetry.metric_rules m USING (metric) WHERE NOT m.reviewed);
DELETE FROM telemetry.series WHERE metric IN (SELECT metric FROM telemetry.metric_rules WHERE NOT reviewed);
DELETE FROM telemetry.metric_rules WHERE NOT reviewed;
