-- Metrics no rule knows: registered on first sight (telemetry.unknown_metrics = 'register', the
-- default) unreviewed and flagged no_rule, listed for review, bounded by
-- telemetry.max_pending_metrics, or refused (dead_letter); joined into a known metric later
-- with telemetry.merge_metric(), never split silently by an alias.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.sparkplug_metrics;
SHOW telemetry.unknown_metrics;

-- A lube oil temperature in degF and a tank level in cm: each registered in the base unit of its
-- dimension (K, m), its readings converted, flagged no_rule and not range-checked.
SELECT readings, dead_letters FROM telemetry.ingest('site/reg-1/telemetry', pg_temp.j('{
  "assetId": "pump-1", "timestamp": 1748779200000,
  "metrics": {"LubeTemp": {"value": 212, "unit": "degF"}, "tank_level_cm": 150, "door_state": 1}}'), :rx);
SELECT s.metric, m.unit, round(r.value::numeric, 2) AS value, telemetry.flag_names(r.flags) AS flags, r.quality
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) JOIN telemetry.metric_rules m USING (metric)
 WHERE s.site_id = 'reg-1' ORDER BY s.metric;
SELECT metric, unit, dimension, first_topic, units_seen, round(example_value::numeric, 2) AS example_value, series
  FROM telemetry.metrics_to_review ORDER BY metric;
-- The next message of the same metric in another unit of its dimension is converted into it;
-- one of another dimension is refused.
SELECT readings, dead_letters, dead_letter_reasons FROM telemetry.ingest('telemetry/reg-1/pump-1/lube_temp',
  pg_temp.j('{"value": 90, "unit": "Cel", "ts": 1748779201}'), :rx);
SELECT readings, dead_letter_reasons FROM telemetry.ingest('telemetry/reg-1/pump-1/lube_temp',
  pg_temp.j('{"value": 90, "unit": "bar", "ts": 1748779202}'), :rx);

-- Reviewing a rule: a range, reviewed = true; then readings are validated and no longer no_rule.
UPDATE telemetry.metric_rules SET valid_min = 0, valid_max = 5, reviewed = true WHERE metric = 'tank_level';
SELECT readings FROM telemetry.ingest('telemetry/reg-1/pump-1/tank_level', pg_temp.j('{"value": 900, "unit": "cm", "ts": 1748779203}'), :rx);
SELECT r.value, telemetry.flag_names(r.flags) AS flags FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.metric = 'tank_level' ORDER BY r.time;
SELECT metric FROM telemetry.metrics_to_review ORDER BY metric;

-- The other policy: unknown metrics are dead letters.
SET telemetry.unknown_metrics = dead_letter;
SELECT readings, dead_letters, dead_letter_reasons FROM telemetry.ingest('telemetry/reg-1/pump-1/valve_position', pg_temp.j('{"value": 40}'), :rx);
SELECT reason, detail FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
 WHERE m.topic = 'telemetry/reg-1/pump-1/valve_position';
RESET telemetry.unknown_metrics;
-- The budget: no more than telemetry.max_pending_metrics awaiting review.
SET telemetry.max_pending_metrics = 2;
SELECT readings, dead_letters, dead_letter_reasons FROM telemetry.ingest('site/reg-1/telemetry', pg_temp.j('{
  "assetId": "pump-2", "timestamp": 1748779200000, "metrics": {"valve_position": 40, "seal_leak": 0}}'), :rx);
SELECT reason, detail FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
 WHERE m.topic = 'site/reg-1/telemetry';
RESET telemetry.max_pending_metrics;
-- The settings are the DBA's: a writer cannot loosen them.
SET ROLE telemetry_writer;
SET telemetry.unknown_metrics = register;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- An alias named like a registered metric would split its history; refused with what to do.
INSERT INTO telemetry.metric_aliases (alias, metric) VALUES ('lube_temp', 'temperature');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.metric_rules (metric, unit) VALUES ('rh', '%');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- merge_metric joins it: series relabelled (and recorded), readings converted K -> Cel, the
-- rule gone, the name an alias; later readings land in the same series.
SELECT * FROM telemetry.merge_metric('lube_temp', 'temperature');
SELECT s.metric, s.sensor_id, round(r.value::numeric, 2) AS value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'reg-1' AND s.asset_id = 'pump-1' AND s.metric = 'temperature' ORDER BY r.time;
SELECT old_metric, new_metric, note FROM telemetry.series_renames WHERE old_metric = 'lube_temp';
SELECT alias, metric FROM telemetry.metric_aliases WHERE alias = 'lube_temp';
SELECT readings, dead_letters FROM telemetry.ingest('telemetry/reg-1/pump-1/LubeTemp', pg_temp.j('{"value": 95, "unit": "Cel", "ts": 1748779210}'), :rx);
SELECT count(DISTINCT series_id) AS series, count(*) AS readings FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'reg-1' AND s.asset_id = 'pump-1' AND s.metric = 'temperature';
-- Merging where both names have a series: the readings join the existing one.
SELECT readings FROM telemetry.ingest('telemetry/reg-1/pump-3/winding_heat', pg_temp.j('{"value": 310, "unit": "K", "ts": 1748779260}'), :rx);
SELECT readings FROM telemetry.ingest('telemetry/reg-1/pump-3/temperature', pg_temp.j('{"value": 20, "ts": 1748779300}'), :rx);
SELECT * FROM telemetry.merge_metric('winding_heat', 'temperature', note => 'same sensor, vendor name');
SELECT count(*) AS series, sum(n) AS readings FROM (
  SELECT s.series_id, count(*) AS n FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
   WHERE s.asset_id = 'pump-3' GROUP BY 1) x;
-- Wrong merges are refused.
SELECT * FROM telemetry.merge_metric('door_state', 'temperature');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM telemetry.merge_metric('no_such_metric', 'temperature');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Leave no registered metric behind for the suites that follow.
DELETE FROM telemetry.readings WHERE series_id IN (SELECT series_id FROM telemetry.series WHERE site_id = 'reg-1');
DELETE FROM telemetry.series WHERE site_id = 'reg-1';
DELETE FROM telemetry.metric_rules WHERE NOT reviewed OR metric = 'tank_level';
DELETE FROM telemetry.metric_aliases WHERE alias = 'lube_temp';
