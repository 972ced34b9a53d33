-- The ingest pipeline: one message at a time and staged batches, every format and every
-- dead-letter reason. received_at is fixed so quality scores are stable.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;

-- Seed 001: one JSON reading per message, identity in the topic and the payload.
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-001/TEMPERATURE', pg_temp.j('{"event_id": "evt-001",
  "timestamp": 1748779200000, "site_id": "site-001", "asset_id": "asset-001", "sensor_type": "TEMPERATURE",
  "sensor_id": "temp-001", "value": 72.5, "unit": "fahrenheit", "quality_flag": "GOOD"}'), :rx);
-- Seed 000: a multi-metric object; unit suffixes in the keys are understood.
SELECT * FROM telemetry.ingest('site/LOAD-001/telemetry', pg_temp.j('{"assetId": "ASSET-1", "timestamp": 1748779200000,
  "metrics": {"active_power_kw": 512.5, "temperature_c": 31.2, "irradiance": {"value": 0.8, "unit": "kW/m2"}}}'), :rx);
-- Arrays, per-reading timestamps as ISO 8601 with offsets and epoch seconds, source quality.
SELECT * FROM telemetry.ingest('smart-dairy/farm-1/sensors/barn-3', pg_temp.j('[
  {"asset_id": "barn-3", "metric": "nh3", "value": 14.2, "unit": "ppm", "ts": "2025-06-01T14:00:00+02:00"},
  {"asset_id": "barn-3", "metric": "RH", "value": "61.5", "ts": 1748779260, "quality": "UNCERTAIN"},
  {"asset_id": "cow-17", "metric": "body_temp", "value": 39.1, "ts": "2025-06-01 12:00:00+00", "quality": "0x80000000"}]'), :rx);
-- No source time: the received time is used and the reading is flagged.
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-001/humidity', pg_temp.j('{"value": 55}'), :rx);

SELECT s.site_id, s.asset_id, s.sensor_id, s.metric, r.time, r.value, r.quality,
       telemetry.flag_names(r.flags) AS flags, r.source_quality
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) ORDER BY s.site_id, s.asset_id, s.metric;

-- Sites and assets seen for the first time are listed in the registry for the DBA to describe.
SELECT a.site_id, a.asset_id, a.asset_type, s.name IS NULL AS undescribed
  FROM telemetry.assets a JOIN telemetry.sites s USING (site_id) ORDER BY 1, 2;

-- Duplicates: the same reading again is dropped and counted; the same key with another value
-- keeps the first and dead-letters the newcomer with both values.
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-001/humidity', pg_temp.j('{"value": 55, "ts": "2025-06-01T12:00:05Z"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-001/humidity', pg_temp.j('{"value": 56, "ts": "2025-06-01T12:00:05Z"}'), :rx);
-- Within one message too.
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-002/humidity', pg_temp.j('[{"value": 1, "ts": 1748779200}, {"value": 1, "ts": 1748779200}, {"value": 2, "ts": 1748779200}]'), :rx);
-- A resent reading with the same event_id is a duplicate even when the device re-stamped it;
-- another metric of the same event is not.
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-004/humidity', pg_temp.j('{"event_id": "evt-9", "value": 41, "ts": 1748779200}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-004/humidity', pg_temp.j('{"event_id": "evt-9", "value": 41, "ts": 1748779201}'), :rx);
SELECT * FROM telemetry.ingest('site/site-001/telemetry', pg_temp.j('{"assetId": "asset-004", "event_id": "evt-10", "ts": 1748779300, "metrics": {"humidity": 42, "temperature": 20}}'), :rx);
SELECT * FROM telemetry.ingest('site/site-001/telemetry', pg_temp.j('[{"assetId": "asset-004", "event_id": "evt-11", "ts": 1748779400, "metrics": {"humidity": 43}},
                                                                    {"assetId": "asset-004", "event_id": "evt-11", "ts": 1748779401, "metrics": {"humidity": 43}}]'), :rx);
SET telemetry.event_id_window = 0;
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-004/humidity', pg_temp.j('{"event_id": "evt-9", "value": 41, "ts": 1748779202}'), :rx);
RESET telemetry.event_id_window;
SELECT count(*) AS readings_of_asset_004 FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.asset_id = 'asset-004';

-- Out of order and late: all stored; the one older than telemetry.timeliness_threshold is flagged.
SELECT * FROM telemetry.ingest('telemetry/site-001/asset-003/humidity', pg_temp.j('[{"value": 3, "ts": 1748779200}, {"value": 1, "ts": 1748779000}, {"value": 2, "ts": 1748779100}, {"value": 0, "ts": 1748776800}]'), :rx);
SELECT time, value, telemetry.flag_names(flags) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.asset_id = 'asset-003' ORDER BY time;

-- Every dead-letter reason.
SET telemetry.max_payload_bytes = 64;
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j(repeat(' ', 65) || '{"value": 1}'), :rx);
RESET telemetry.max_payload_bytes;
SELECT * FROM telemetry.ingest('no/route/here', pg_temp.j('{"value": 1}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": 1'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', '\xfffe', :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('"just a string"'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"val": null}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": "wet"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": 1, "ts": "last tuesday"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": 1, "unit": "furlongs"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": 1, "unit": "kW"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": "NaN"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/active_power', pg_temp.j('{"value": 1e308, "unit": "MW"}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/flux_capacitance', pg_temp.j('{"value": 1.21}'), :rx);
SELECT * FROM telemetry.ingest('telemetry/s/a/humidity', pg_temp.j('{"value": 1, "quality": "superb"}'), :rx);
SELECT * FROM telemetry.ingest('site/LOAD-001/telemetry', pg_temp.j('{"metrics": {"humidity": 1}}'), :rx);
SET telemetry.auto_register_series = off;
SELECT * FROM telemetry.ingest('telemetry/new-site/new-asset/humidity', pg_temp.j('{"value": 1}'), :rx);
RESET telemetry.auto_register_series;
-- Each dead letter names its message, stored once in telemetry.dead_letter_messages.
CREATE TEMP VIEW dead AS
  SELECT d.dead_letter_id, d.reason, d.detail, m.*
    FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);
SELECT reason, topic, detail, payload_bytes, octet_length(payload) AS kept
  FROM dead ORDER BY dead_letter_id;

-- A large payload is kept only up to telemetry.dead_letter_max_payload bytes.
SET telemetry.dead_letter_max_payload = 10;
SELECT * FROM telemetry.ingest('no/route', pg_temp.j(repeat('x', 1000)), :rx);
RESET telemetry.dead_letter_max_payload;
SELECT payload_bytes, octet_length(payload) FROM dead WHERE topic = 'no/route';

-- A staged batch: COPY (here INSERT) raw messages, run the pipeline, in one transaction.
-- Good and bad messages mixed: the bad ones are dead letters, the good ones are stored.
BEGIN;
SELECT telemetry.prepare_staging();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload)
SELECT :rx, 'telemetry/batch-site/pump-' || (i % 5) || '/pressure',
       CASE WHEN i % 10 = 0 THEN pg_temp.j('{broken')
            ELSE pg_temp.j(format('{"value": %s, "unit": "bar", "ts": %s}', i, 1748779200 + i)) END
  FROM generate_series(1, 100) AS i;
SELECT * FROM telemetry.ingest_staged();
-- The table is empty again, so a second call in the same transaction finds nothing.
SELECT * FROM telemetry.ingest_staged();
COMMIT;
SELECT count(*) AS staged_rows_after_commit FROM pg_temp.telemetry_staging;
SELECT count(*), min(value), max(value) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'batch-site';

-- Statistics per batch, and per hour in the view.
SELECT messages, readings, duplicates, conflicting_duplicates, dead_letters, series_created
  FROM telemetry.ingest_batches ORDER BY batch_id;
SELECT batches, messages, readings, duplicates, conflicting_duplicates, dead_letters, series_created FROM telemetry.ingest_stats;

-- Routes: the DBA adds one with fixed values; priority decides between overlapping patterns.
INSERT INTO telemetry.routes (pattern, priority, site_id, metric, unit) VALUES ('legacy/{asset_id}', 10, 'legacy-site', 'pressure', 'psi');
SELECT * FROM telemetry.ingest('legacy/pump-9', pg_temp.j('{"value": 100, "ts": 1748779200}'), :rx);
SELECT s.site_id, s.asset_id, s.metric, round(r.value::numeric, 3) AS kpa FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'legacy-site';
SELECT * FROM telemetry.match_topic('site/{site_id}/{asset_type}/{asset_id}/{metric}', 'site/ALPHA-001/inverter/INV-01/power');
SELECT count(*) FROM telemetry.match_topic('site/{site_id}/telemetry', 'site/ALPHA-001/other');
INSERT INTO telemetry.routes (pattern) VALUES ('a/#/b');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.routes (pattern) VALUES ('a/{bad name}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The documented path for any client: COPY raw messages into the staging table, then ingest.
BEGIN;
SELECT telemetry.prepare_staging();
COPY pg_temp.telemetry_staging (received_at, topic, payload) FROM STDIN;
2025-06-01 12:01:05+00	telemetry/copy-site/pump-1/temperature	\\x7b2276616c7565223a2032312e352c20227473223a2022323032352d30362d30315431323a30303a30305a227d
2025-06-01 12:01:05+00	telemetry/copy-site/pump-1/temperature	\\x7b2276616c7565223a2032322e352c20227473223a2022323032352d30362d30315431323a30313a30305a227d
\.
SELECT * FROM telemetry.ingest_staged();
COMMIT;
SELECT r.time, r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'copy-site' ORDER BY r.time;

-- A client may pass on what the broker said of each message (packet id, retain and DUP flags),
-- which dead letters keep, and the original size of a payload it did not pass on whole: that
-- message is a payload_too_large dead letter. Rows are taken in arrival order, also when a
-- transaction stages and ingests twice: the first reading of a key stays.
BEGIN;
SELECT telemetry.prepare_staging();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload, payload_bytes, packet_id, retained, redelivered) VALUES
  (:rx, 'telemetry/meta-site/pump-1/pressure', pg_temp.j('{"value": 1, "ts'), 5000000, 17, false, true),
  (:rx, 'telemetry/meta-site/pump-1/pressure', pg_temp.j('{"value": 2'), NULL, 18, true, false),
  (:rx, 'telemetry/meta-site/pump-1/pressure', pg_temp.j('{"value": 3, "ts": 1748779200}'), NULL, 19, false, false),
  (:rx, 'telemetry/meta-site/pump-1/pressure', pg_temp.j('{"value": 4, "ts": 1748779200}'), NULL, 20, false, true);
SELECT * FROM telemetry.ingest_staged();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload, packet_id) VALUES
  (:rx, 'telemetry/meta-site/pump-1/pressure', pg_temp.j('{"value": 5, "ts": 1748779200}'), 21);
SELECT * FROM telemetry.ingest_staged();
COMMIT;
SELECT reason, payload_bytes, octet_length(payload) AS kept, packet_id, retained, redelivered, detail
  FROM dead WHERE topic = 'telemetry/meta-site/pump-1/pressure' ORDER BY packet_id;
SELECT r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'meta-site';

-- Clients that can only INSERT or COPY into a table use telemetry.inbox: each statement is one
-- batch through the same pipeline, and the inbox itself stays empty.
INSERT INTO telemetry.inbox (received_at, topic, payload) VALUES
  ('2025-06-01 12:02:05+00', 'telemetry/inbox-site/pump-1/pressure', pg_temp.j('{"value": 2, "unit": "bar", "ts": "2025-06-01T12:02:00Z"}')),
  ('2025-06-01 12:02:05+00', 'telemetry/inbox-site/pump-1/pressure', pg_temp.j('{"value": 3, "unit": "bar", "ts": "2025-06-01T12:02:01Z"}')),
  ('2025-06-01 12:02:05+00', 'telemetry/inbox-site/pump-1/pressure', pg_temp.j('not json'));
COPY telemetry.inbox (topic, payload) FROM STDIN;
telemetry/inbox-site/pump-2/pressure	\\x7b2276616c7565223a20312c20227473223a20313734383737393230307d
\.
SELECT count(*) AS rows_in_inbox FROM telemetry.inbox;
SELECT s.asset_id, r.time, r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'inbox-site' ORDER BY s.asset_id, r.time;
SELECT messages, readings, dead_letters FROM telemetry.ingest_batches ORDER BY batch_id DESC LIMIT 2;
-- A statement that fails leaves nothing behind for the next one.
BEGIN;
SAVEPOINT s;
INSERT INTO telemetry.inbox (topic, payload)
SELECT 'telemetry/inbox-site/pump-3/pressure', pg_temp.j(format('{"value": %s, "ts": %s}', 1 / (3 - g), 1748779200 + g))
  FROM generate_series(1, 3) AS g;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
INSERT INTO telemetry.inbox (topic, payload) VALUES ('telemetry/inbox-site/pump-4/pressure', pg_temp.j('{"value": 4, "ts": 1748779200}'));
COMMIT;
SELECT s.asset_id, count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'inbox-site' AND s.asset_id IN ('pump-3', 'pump-4') GROUP BY 1 ORDER BY 1;

-- A new session has no staging table until it asks for one.
\c
SELECT * FROM telemetry.ingest_staged();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A table of that name the session made itself is refused (42501): it could carry triggers
-- that would run with the pipeline's rights. The hint says how to get the right one.
CREATE TEMP TABLE telemetry_staging (topic text, payload bytea);
SELECT telemetry.prepare_staging();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM telemetry.ingest_staged();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE pg_temp.telemetry_staging;
-- A payload_bytes no larger than the payload (or negative) says nothing was cut: the message
-- is stored as it is.
BEGIN;
SELECT telemetry.prepare_staging();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload, payload_bytes) VALUES
  ('2025-06-01 12:05:00+00', 'telemetry/size-site/pump-1/pressure', convert_to('{"value": 1, "ts": 1748779200}', 'UTF8'), 5),
  ('2025-06-01 12:05:00+00', 'telemetry/size-site/pump-1/pressure', convert_to('{"value": 1, "ts": 1748779201}', 'UTF8'), -1);
SELECT messages, readings, dead_letters FROM telemetry.ingest_staged();
COMMIT;

-- Sparkplug B (protobuf, encoded by hand here): a birth declares aliases, data uses them.
SET timezone = 'UTC';
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/NBIRTH/edge-7', '\x0880dcf3daf232120d0a056264536571100020085000121c0a144e6f646520436f6e74726f6c2f526562697274681001200b50001800', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DBIRTH/edge-7/pump-3', '\x0880dcf3daf23212210a124469736368617267652050726573737572651001200a69000000000064894012150a0a4d6f746f722054656d70100220096500007642121d0a1050726f706572746965732f4d6f64656c1003200c7a054553502d391800', '2025-06-01 12:00:05+00');
SELECT group_id, edge_node_id, device_id, alias, metric FROM telemetry.sparkplug_aliases ORDER BY 1, 2, 3, 4;
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08e8e3f3daf232120d1001200a6900000000007889401210100218dce7f3daf232200965000078421800', '2025-06-01 12:00:05+00');
-- The aliases outlive the batch: a later message in a new transaction still resolves them.
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08a0fbf3daf232120d1001200a690000000000a089401800', '2025-06-01 12:00:05+00');
SELECT s.site_id, s.asset_id, s.sensor_id, s.metric, r.time, r.value
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'plant-1' ORDER BY s.metric, r.time;
-- Unknown alias, a string value, a death (consumed), a command (not telemetry), corrupt bytes.
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08d0ebf3daf232120d1009200a69000000000000f03f1800', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08b8f3f3daf23212130a06537461747573200c7a0772756e6e696e671800', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDEATH/edge-7/pump-3', '\x', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/NCMD/edge-7', '\x', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\xffffff', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA', '\x', '2025-06-01 12:00:05+00');
SELECT reason, topic, detail FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
 WHERE topic LIKE 'spBv1.0/%' ORDER BY dead_letter_id;
