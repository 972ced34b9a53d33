-- Staging: the documented path for a client that runs statements of its own (the shim): COPY
-- raw messages into pg_temp.telemetry_staging, then telemetry.ingest_staged(), in one
-- transaction; broker metadata, arrival order, and which staging tables are refused.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE TEMP VIEW dead AS
  SELECT d.dead_letter_id, d.reason, d.detail, m.*
    FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);

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

-- Payloads are read once and gone at commit: kept inline up to 8 kB and never compressed.
SELECT c.reloptions, a.attstorage FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.oid = 'pg_temp.telemetry_staging'::regclass AND a.attname = 'payload';

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

-- Only the rows staged in a transaction are ingested by it: none left by a transaction that
-- committed without ingest_staged(), and none of a subtransaction rolled back.
BEGIN;
SELECT telemetry.prepare_staging();
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload) VALUES
  (:rx, 'telemetry/left-site/pump-1/pressure', convert_to('{"value": 1, "ts": 1748779200}', 'UTF8'));
COMMIT;
BEGIN;
SAVEPOINT s;
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload) VALUES
  (:rx, 'telemetry/left-site/pump-1/pressure', convert_to('{"value": 2, "ts": 1748779260}', 'UTF8'));
ROLLBACK TO SAVEPOINT s;
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload) VALUES
  (:rx, 'telemetry/left-site/pump-1/pressure', convert_to('{"value": 3, "ts": 1748779320}', 'UTF8'));
SELECT messages, readings FROM telemetry.ingest_staged();
COMMIT;
SELECT r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'left-site';
-- The table is not emptied at commit, but stays small: 60 batches of 40 messages of 1.5 kB
-- (8 blocks each, 3.8 MB in all) leave it under 1 MB and a batch, and every reading stored.
CREATE PROCEDURE pg_temp.stage_batches() LANGUAGE plpgsql AS $$
BEGIN
  FOR b IN 0 .. 59 LOOP
    INSERT INTO pg_temp.telemetry_staging (topic, payload)
      SELECT 'telemetry/grow-site/pump-1/pressure',
             pg_catalog.convert_to('{"value": ' || i || ', "ts": ' || (1748779200 + b * 100 + i) || pg_catalog.repeat(' ', 1500) || '}', 'UTF8')
        FROM pg_catalog.generate_series(1, 40) AS i;
    PERFORM telemetry.ingest_staged();
    COMMIT;
  END LOOP;
END $$;
CALL pg_temp.stage_batches();
SELECT pg_relation_size('pg_temp.telemetry_staging') <= (128 + 8) * 8192 AS bounded;
SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'grow-site';

-- Hostile input (the cases that name a finding reproduce that finding of the 0.2.0 security
-- review first): everything a publisher sends becomes a stored reading or a dead letter with a
-- reason, never an ERROR that loses the batch, a loop, or a flood of copies.
-- 10. (Smaller ones.) A partitioned staging table of the session's own returned 0 messages and dropped the rows;
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
