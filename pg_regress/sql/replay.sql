-- Dead-letter replay: after a rule, unit, route or birth is added, telemetry.replay_dead_letters()
-- runs the stored dead letters again; nothing is ever stored twice, however often it runs.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.sparkplug_metrics;
CREATE TEMP VIEW letters AS
  SELECT d.reason, m.topic FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);

-- A message of two readings, one in a unit no one knows yet: one stored, one dead letter.
SELECT readings, dead_letter_reasons FROM telemetry.ingest('site/rp-1/telemetry', pg_temp.j('{
  "assetId": "tank-1", "timestamp": 1748779200000,
  "metrics": {"temperature": 20, "pressure": {"value": 30, "unit": "inH2O"}}}'), :rx);
-- A route no one configured yet.
SELECT readings, dead_letter_reasons FROM telemetry.ingest('plant/rp-1/tank-2/pressure', pg_temp.j('{"value": 101}'), :rx);
SELECT reason, topic FROM letters ORDER BY topic;

-- Nothing has changed: replaying dead-letters them again, as new rows, and stores nothing twice.
SELECT messages, readings, duplicates, dead_letters, dead_letter_reasons, not_replayable FROM telemetry.replay_dead_letters();
SELECT reason, topic FROM letters ORDER BY topic;
-- The DBA adds the unit; replay by reason: the pressure is stored, the temperature is a duplicate.
INSERT INTO telemetry.units (unit, dimension, factor) VALUES ('[in_i''H2O]', 'pressure', 249.08891);
INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('inH2O', '[in_i''H2O]');
SELECT messages, readings, duplicates, dead_letters, not_replayable FROM telemetry.replay_dead_letters(reason => 'unknown_unit');
-- Replaying again finds nothing of that reason left.
SELECT messages, readings, duplicates, dead_letters FROM telemetry.replay_dead_letters(reason => 'unknown_unit');
SELECT s.asset_id, s.metric, round(r.value::numeric, 2) AS value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'rp-1' ORDER BY 1, 2;
-- The route, then replay by topic pattern and time.
INSERT INTO telemetry.routes (pattern, description) VALUES ('plant/{site_id}/{asset_id}/{metric}', 'replay test');
SELECT messages, readings, dead_letters FROM telemetry.replay_dead_letters(topic_like => 'plant/%',
  received_after => '2025-06-01 12:00:00+00', received_before => '2025-06-01 12:00:06+00');
SELECT count(*) AS letters_left FROM letters;

-- Sparkplug: data whose birth was lost asks for a rebirth; after the birth, replay recovers it.
SELECT readings, dead_letter_reasons, rebirth_nodes FROM telemetry.ingest('spBv1.0/rp-farm/DDATA/edge-1/inv-2',
  '\x08e8e3f3daf2321214100118e8e3f3daf232200a690000000000001e401210100218e8e3f3daf23220096500005c421214100318e8e3f3daf232200a6900000000008055401802', :rx);
SELECT readings, rebirth_nodes FROM telemetry.ingest('spBv1.0/rp-farm/DBIRTH/edge-1/inv-2',
  '\x0880dcf3daf232123d0a14496e7665727465722f416374697665506f77657210011880dcf3daf232200a4a110a07656e67556e69741206080c42026b5769000000000000144012590a0a54616e6b2f4c6576656c10021880dcf3daf23220094a3b0a07656e67556e69740a06656e674c6f770a07656e67486967681205080c420125120b080a310000000000000000120b080a310000000000005940650000204212410a16576561746865722f41697254656d706572617475726510031880dcf3daf232200a4a130a07656e67556e69741208080c4204646567466900000000004053401801', '2025-06-01 12:00:06+00');
SELECT messages, readings, duplicates, dead_letters, rebirth_nodes FROM telemetry.replay_dead_letters(reason => 'unknown_alias');
SELECT s.sensor_id, s.metric, r.time, round(r.value::numeric, 2) AS value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'rp-farm' ORDER BY 2, 3;
-- A birth older than the stored one (redelivered late, or replayed) names its own readings
-- but does not bring its aliases back.
SELECT readings FROM telemetry.ingest('spBv1.0/rp-farm/DBIRTH/edge-1/inv-2', '\x0880dcf3daf23212210a124469736368617267652050726573737572651001200a69000000000064894012150a0a4d6f746f722054656d70100220096500007642121d0a1050726f706572746965732f4d6f64656c1003200c7a054553502d391800', '2025-06-01 12:00:01+00');
SELECT metric, alias, born_at FROM telemetry.sparkplug_metrics WHERE group_id = 'rp-farm' ORDER BY alias;

-- A payload the dead letter cut cannot be replayed: it is counted and left.
SET telemetry.dead_letter_max_payload = 16;
SELECT dead_letter_reasons FROM telemetry.ingest('nowhere/at/all', pg_temp.j('{"value": 1, "padding": "xxxxxxxxxxxxxxxx"}'), :rx);
RESET telemetry.dead_letter_max_payload;
SELECT messages, not_replayable FROM telemetry.replay_dead_letters(topic_like => 'nowhere/%');
SELECT count(*) AS still_there FROM letters WHERE topic = 'nowhere/at/all';
SELECT * FROM telemetry.replay_dead_letters(batch_size => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Only the admin replays.
SET ROLE telemetry_writer;
SELECT * FROM telemetry.replay_dead_letters();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Leave no registered metric or test route behind.
DELETE FROM telemetry.readings; DELETE FROM telemetry.series;
DELETE FROM telemetry.metric_rules WHERE NOT reviewed;
DELETE FROM telemetry.routes WHERE description = 'replay test';
DELETE FROM telemetry.unit_aliases WHERE alias = 'inH2O';
DELETE FROM telemetry.units WHERE unit = '[in_i''H2O]';
