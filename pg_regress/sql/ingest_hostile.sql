-- Hostile input: everything a publisher can send becomes a stored reading or a dead letter with
-- a reason, never an ERROR that loses the batch, a loop, or a flood of copies. Each case first
-- reproduces a finding of the 0.2.0 security review.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE TEMP VIEW dead AS
  SELECT d.dead_letter_id, d.reason, d.detail, m.message_id, m.topic, m.topic_bytes, m.payload_bytes
    FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);
CREATE FUNCTION pg_temp.readings_of(site text) RETURNS bigint LANGUAGE sql AS
  $$ SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = site $$;

-- 1. A NUL in a name spun for ever in INSERT INTO telemetry.series ... ON CONFLICT (under
-- C.UTF-8 the index saw "a\0..." equal to "a"). Now it is refused in decoding, and no NUL
-- reaches any text column: not a name, not an event id, not the detail of the dead letter.
INSERT INTO telemetry.series (site_id, asset_id, sensor_id, metric) VALUES ('S1', 'A1', '', 'temperature');
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/S1/A1/temperature', pg_temp.j('{"value": 1, "sensor_id": "\u0000"}'), :rx);
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/S1/A1/temperature', pg_temp.j('{"value": 1, "ts": 1748779200, "event_id": "e\u0000"}'), :rx);
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/S1/A1/temperature', pg_temp.j('{"value": 1, "ts": 1748779200, "unit": "\u001bC"}'), :rx);
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('site/S1/telemetry', pg_temp.j('{"assetId": "A1", "ts": 1748779200, "metrics": {"temp\u0000": 1, "humidity": 50}}'), :rx);
SELECT reason, detail FROM dead WHERE topic LIKE '%/S1/%' ORDER BY dead_letter_id;
SELECT count(*) AS series_of_s1 FROM telemetry.series WHERE site_id = 'S1';

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

-- 7. Sparkplug aliases of 2^63 and above came back as alias 0, so a DATA with the undeclared
-- alias 0 was stored as that metric. Every u64 now round-trips.
SELECT readings FROM telemetry.ingest('spBv1.0/alias-site/NBIRTH/e1', '\x0880dcf3daf23212200a0870726573737572651080808080808080808001200a6900000000000008401800', :rx);
SELECT alias, metric FROM telemetry.sparkplug_aliases WHERE group_id = 'alias-site';
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NDATA/e1', '\x08e8e3f3daf232120d1000200a6900000000000010401800', :rx);
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NDATA/e1', '\x08d0ebf3daf23212161080808080808080808001200a6900000000000014401800', :rx);
SELECT readings FROM telemetry.ingest('spBv1.0/alias-site/NBIRTH/e1', '\x0880dcf3daf23212200a08707265737375726510ffffffffffffffffff01200a6900000000000018401800', :rx);
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NDATA/e1', '\x08b8f3f3daf232121610ffffffffffffffffff01200a690000000000001c401800', :rx);
SELECT alias, metric FROM telemetry.sparkplug_aliases WHERE group_id = 'alias-site';
-- A birth naming a metric with a NUL keeps no alias for it; its reading is a bad_name.
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/DBIRTH/e1/d1', '\x0880dcf3daf23212180a097072657300737572651005200a6900000000000022401800', :rx);
SELECT count(*) AS aliases_of_d1 FROM telemetry.sparkplug_aliases WHERE group_id = 'alias-site' AND device_id = 'd1';
SELECT s.metric, r.time, r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'alias-site' ORDER BY r.time;

-- 5. Dead letters multiplied the payload: each rejected reading kept its own copy, and one
-- message of 6,661 unknown metrics stored 6,661 copies of 64 kB. Now the message is stored
-- once, however many of its readings are refused; topics are cut, their length kept.
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('site/many-site/telemetry',
    pg_temp.j('{"assetId": "a1", "ts": 1748779200, "metrics": {' || (SELECT string_agg(format('"unknown_%s": %s', g, g), ',') FROM generate_series(1, 6661) g) || '}}'), :rx);
SELECT count(*) AS letters, count(DISTINCT message_id) AS messages_stored FROM dead WHERE topic = 'site/many-site/telemetry';
SELECT pg_size_pretty(sum(octet_length(payload))) AS payload_stored FROM telemetry.dead_letter_messages WHERE topic = 'site/many-site/telemetry';
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest(repeat('t/', 100000), pg_temp.j('{}'), :rx);
SELECT topic_bytes, octet_length(topic) AS topic_kept FROM dead WHERE topic LIKE 't/t/t/%';
-- A Sparkplug birth of 100,000 metrics ran 44 s and failed ("array size exceeds the maximum
-- allowed"); a 1 MB JSON message of 52,000 unknown metrics took 6.2 GB. A message of more than
-- telemetry.max_readings_per_message (10,000) readings is now one dead letter, and a birth
-- that large leaves its node's aliases as they were.
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest('site/huge-site/telemetry',
    pg_temp.j('{"assetId": "a1", "ts": 1748779200, "metrics": {' || (SELECT string_agg(format('"m%s": 1', g), ',') FROM generate_series(1, 52000) g) || '}}'), :rx);
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NBIRTH/e1',
    decode(repeat('12030a0161', 100000), 'hex'), :rx);
SELECT alias, metric FROM telemetry.sparkplug_aliases WHERE group_id = 'alias-site';
SELECT left(detail, 80) AS detail FROM dead WHERE reason = 'too_many_readings' ORDER BY dead_letter_id;

-- 10. Smaller ones. ingest(topic, NULL) was STRICT and recorded nothing.
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest('telemetry/null-site/p1/pressure', NULL, :rx);
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest(NULL, pg_temp.j('{"value": 1}'), :rx);
-- A session's own temporary objects named like the catalog's are not picked up.
CREATE TEMP TABLE pg_extension (extname name, extversion text);
INSERT INTO pg_temp.pg_extension VALUES ('telemetry', '0.0.1');
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (VALUE <> 'pressure');
SELECT readings FROM telemetry.ingest('telemetry/temp-site/p1/pressure', pg_temp.j('{"value": 1, "ts": 1748779200}'), :rx);
DROP TABLE pg_temp.pg_extension;
DROP DOMAIN pg_temp.text;
-- A partitioned staging table of the session's own returned 0 messages and dropped the rows;
-- a TRUNCATE trigger on it fired with the pipeline's rights. A staging table not made by
-- telemetry.prepare_staging() is refused.
DROP TABLE pg_temp.telemetry_staging;
CREATE TEMP TABLE telemetry_staging (received_at timestamptz NOT NULL DEFAULT now(), topic text NOT NULL,
  payload bytea NOT NULL, payload_bytes integer, packet_id integer, retained boolean, redelivered boolean)
  PARTITION BY LIST (topic);
SELECT * FROM telemetry.ingest_staged();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE pg_temp.telemetry_staging;
-- One the pipeline's role owns but prepare_staging() did not make (only a superuser can hand
-- one over) is refused as the wrong kind of object (42809): partitioned, or with other columns.
CREATE TEMP TABLE telemetry_staging (received_at timestamptz NOT NULL DEFAULT now(), topic text NOT NULL,
  payload bytea NOT NULL, payload_bytes integer, packet_id integer, retained boolean, redelivered boolean)
  PARTITION BY LIST (topic);
ALTER TABLE pg_temp.telemetry_staging OWNER TO telemetry_pipeline;
SELECT * FROM telemetry.ingest_staged();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE pg_temp.telemetry_staging;
CREATE TEMP TABLE telemetry_staging (topic text, payload bytea);
ALTER TABLE pg_temp.telemetry_staging OWNER TO telemetry_pipeline;
SELECT * FROM telemetry.ingest_staged();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE pg_temp.telemetry_staging;
-- clean_row attached AFTER or FOR EACH STATEMENT silently did nothing.
CREATE TABLE pg_temp.mine (temperature double precision);
CREATE TRIGGER c AFTER INSERT ON pg_temp.mine FOR EACH ROW EXECUTE FUNCTION telemetry.clean_row('temperature=temperature@degF');
INSERT INTO pg_temp.mine VALUES (212);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER c ON pg_temp.mine;
CREATE TRIGGER c BEFORE INSERT ON pg_temp.mine FOR EACH STATEMENT EXECUTE FUNCTION telemetry.clean_row('temperature=temperature@degF');
INSERT INTO pg_temp.mine VALUES (212);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER c ON pg_temp.mine;
-- The inbox's trigger functions serve the inbox only.
CREATE TRIGGER f AFTER INSERT ON pg_temp.mine FOR EACH STATEMENT EXECUTE FUNCTION telemetry.inbox_flush();
INSERT INTO pg_temp.mine VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER f ON pg_temp.mine;

-- 4. Inbox rows vanished: an INSERT ... SELECT whose WHERE called a function that wrote to a
-- table of its own recorded 1 message of 5, and no dead letter. Now every row of the statement
-- is one batch, and an INSERT into the inbox nested inside another is a batch of its own.
CREATE TABLE pg_temp.side (n int);
CREATE FUNCTION pg_temp.f(n int) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO pg_temp.side VALUES (n); RETURN true; END $$;
INSERT INTO telemetry.inbox (received_at, topic, payload)
SELECT :rx, 'telemetry/vanish-site/p1/pressure', pg_temp.j(format('{"value": %s, "ts": %s}', n, 1748779200 + n))
  FROM generate_series(1, 5) n WHERE pg_temp.f(n);
SELECT pg_temp.readings_of('vanish-site') AS stored;
CREATE FUNCTION pg_temp.nested(n int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO telemetry.inbox (received_at, topic, payload)
  VALUES ('2025-06-01 12:00:05+00', 'telemetry/nested-site/inner/pressure', convert_to(format('{"value": %s, "ts": %s}', n, 1748779200 + n), 'UTF8'));
  RETURN true;
END $$;
INSERT INTO telemetry.inbox (received_at, topic, payload)
SELECT :rx, 'telemetry/nested-site/outer/pressure', pg_temp.j(format('{"value": %s, "ts": %s}', n, 1748779200 + n))
  FROM generate_series(1, 3) n WHERE pg_temp.nested(n);
SELECT s.asset_id, count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'nested-site' GROUP BY 1 ORDER BY 1;
SELECT messages, readings FROM telemetry.ingest_batches ORDER BY batch_id DESC LIMIT 4;
-- A statement that failed leaves nothing behind for the next one.
BEGIN;
SAVEPOINT s;
INSERT INTO telemetry.inbox (received_at, topic, payload)
SELECT :rx, 'telemetry/failed-site/p1/pressure', pg_temp.j(format('{"value": %s, "ts": %s}', 1 / (2 - n), 1748779200 + n))
  FROM generate_series(1, 2) n;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
INSERT INTO telemetry.inbox (received_at, topic, payload) VALUES (:rx, 'telemetry/failed-site/p2/pressure', pg_temp.j('{"value": 1, "ts": 1748779200}'));
COMMIT;
SELECT s.asset_id, count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'failed-site' GROUP BY 1 ORDER BY 1;

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
