-- The ingest pipeline as a whole: one message at a time and a staged batch, every dead-letter
-- reason, duplicates, late readings, statistics, and what no single message may do to a batch
-- (the hostile-input findings of the 0.2.0 security review it reproduces are numbered).
-- received_at is fixed so quality scores are stable. Routes, JSON names, Sparkplug B, staging,
-- the inbox and dead-letter storage have suites of their own.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE FUNCTION pg_temp.readings_of(site text) RETURNS bigint LANGUAGE sql AS
  $$ SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = site $$;
-- Its queries see every reading, dead letter and batch, so it starts from empty pipeline
-- tables, whatever the suites before it left (the registries stay as they are).
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.sparkplug_metrics;

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

-- 3. One bad message failed its whole batch: a site id over 128 characters in the topic, a
-- sensor id over 128 characters, a Sparkplug edge node over 128 characters, received_at =
-- infinity and a Sparkplug timestamp of 9223372036854775 ms each raised an ERROR. Now each is a
-- dead letter and the good messages of the same batch are stored.
SELECT coalesce(max(dead_letter_id), 0) AS before FROM telemetry.dead_letters \gset
BEGIN;
SELECT telemetry.prepare_staging();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload) VALUES
  (:rx, 'telemetry/batch-site/p1/pressure', pg_temp.j('{"value": 1, "ts": 1748779200}')),
  (:rx, 'telemetry/' || repeat('s', 129) || '/p1/pressure', pg_temp.j('{"value": 1, "ts": 1748779200}')),
  (:rx, 'telemetry/batch-site/p1/pressure', pg_temp.j('{"value": 2, "ts": 1748779201, "sensor_id": "' || repeat('x', 129) || '"}')),
  (:rx, 'spBv1.0/batch-site/NBIRTH/' || repeat('e', 129), '\x0880dcf3daf23212200a0870726573737572651080808080808080808001200a6900000000000008401800'),
  ('infinity', 'telemetry/batch-site/p1/pressure', pg_temp.j('{"value": 3, "ts": 1748779202}')),
  ('-infinity', 'telemetry/batch-site/p1/pressure', pg_temp.j('{"value": 4}')),
  (:rx, 'spBv1.0/batch-site/NDATA/e1', '\x08f7a78dafba93b11012150a087072657373757265200a6900000000000020401800'),
  (:rx, 'spBv1.0/batch-site/NDATA/e1', '\x08ffffffffffffffffff0112150a087072657373757265200a6900000000000020401800'),
  (:rx, 'telemetry/batch-site/p1/pressure', pg_temp.j('{"value": 5, "ts": 1748779205}'));
SELECT messages, readings, dead_letters, dead_letter_reasons FROM telemetry.ingest_staged();
COMMIT;
SELECT pg_temp.readings_of('batch-site') AS stored;
SELECT reason, left(detail, 100) AS detail, topic_bytes FROM dead WHERE dead_letter_id > :before ORDER BY dead_letter_id;

-- 6. Reading times were not bounded: Sparkplug times at years 287168 and 10099 were stored, a
-- message without a time stored received_at as given (years 1 and 294000), and every distinct
-- day made a chunk until the lock table ran out. Now a time outside telemetry.max_reading_age
-- (ten years) before and telemetry.max_reading_lead (a day) after the transaction is refused.
SELECT count(*) AS chunks_before FROM timescaledb_information.chunks WHERE hypertable_name = 'readings' \gset
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/time-site/p1/pressure', pg_temp.j('{"value": 1}'), '0001-01-01 00:00:00+00');
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/time-site/p1/pressure', pg_temp.j('{"value": 1}'), '294000-01-01 00:00:00+00');
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/time-site/p1/pressure', pg_temp.j('{"value": 1, "ts": "9999-12-31T00:00:00Z"}'), now());
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/time-site/p1/pressure',
    pg_temp.j('[' || (SELECT string_agg(format('{"value": 1, "ts": %s}', 1000000000 - d * 86400), ',') FROM generate_series(1, 300) d) || ']'), now());
SELECT count(*) - :chunks_before AS chunks_made FROM timescaledb_information.chunks WHERE hypertable_name = 'readings';
SELECT reason, left(detail, 110) AS detail FROM dead WHERE topic LIKE 'telemetry/time-site/%' ORDER BY dead_letter_id LIMIT 4;
-- A commissioning backfill of older history takes a wider window, set by the DBA.
SET telemetry.max_reading_age = '10950d';
SELECT readings FROM telemetry.ingest('telemetry/time-site/p1/pressure', pg_temp.j('{"value": 1, "ts": "2001-09-09T01:46:40Z"}'), now());
RESET telemetry.max_reading_age;
SELECT count(*) AS backfill_chunks_dropped FROM drop_chunks('telemetry.readings', older_than => timestamptz '2002-01-01');

-- 10. (Smaller ones.) A session's own temporary objects named like the catalog's are not picked up.
CREATE TEMP TABLE pg_extension (extname name, extversion text);
INSERT INTO pg_temp.pg_extension VALUES ('telemetry', '0.0.1');
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (VALUE <> 'pressure');
SELECT readings FROM telemetry.ingest('telemetry/temp-site/p1/pressure', pg_temp.j('{"value": 1, "ts": 1748779200}'), :rx);
DROP TABLE pg_temp.pg_extension;
DROP DOMAIN pg_temp.text;

-- The last line of defence: a message that still makes the batch fail with a data error (here
-- a DBA's own trigger on telemetry.readings refusing one value) is isolated by halving the
-- batch, dead-lettered with the SQLSTATE and message, and the rest is stored.
CREATE FUNCTION pg_temp.refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.value = 666 THEN RAISE EXCEPTION 'value 666 refused by a site rule' USING ERRCODE = 'check_violation'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_666 BEFORE INSERT ON telemetry.readings FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_666();
BEGIN;
SELECT telemetry.prepare_staging();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload)
SELECT :rx, 'telemetry/isolate-site/p1/pressure', pg_temp.j(format('{"value": %s, "ts": %s}', CASE WHEN g = 6 THEN 666 ELSE g END, 1748779200 + g))
  FROM generate_series(1, 10) g;
SELECT messages, readings, dead_letters, dead_letter_reasons FROM telemetry.ingest_staged();
COMMIT;
DROP TRIGGER refuse_666 ON telemetry.readings;
SELECT pg_temp.readings_of('isolate-site') AS stored;
SELECT reason, detail FROM dead WHERE reason = 'pipeline_error';
SELECT messages, readings, dead_letters FROM telemetry.ingest_batches ORDER BY batch_id DESC LIMIT 1;
-- An error that says nothing about one message (here a cancel) still fails the batch.
SET statement_timeout = '1ms';
SELECT count(*) FROM telemetry.ingest('site/slow-site/telemetry',
    pg_temp.j('{"assetId": "a1", "ts": 1748779200, "metrics": {' || (SELECT string_agg(format('"m%s": 1', g), ',') FROM generate_series(1, 200000) g) || '}}'), :rx);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET statement_timeout;
