-- The inbox: clients that can only INSERT or COPY into a table use telemetry.inbox; each
-- statement is one batch through the pipeline, and the inbox itself stays empty.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE FUNCTION pg_temp.readings_of(site text) RETURNS bigint LANGUAGE sql AS
  $$ SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = site $$;

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

-- Hostile input (the cases that name a finding reproduce that finding of the 0.2.0 security
-- review first): everything a publisher sends becomes a stored reading or a dead letter with a
-- reason, never an ERROR that loses the batch, a loop, or a flood of copies.
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
-- 10. (Smaller ones.) The inbox's trigger functions serve the inbox only.
CREATE TABLE pg_temp.mine (temperature double precision);
CREATE TRIGGER f AFTER INSERT ON pg_temp.mine FOR EACH STATEMENT EXECUTE FUNCTION telemetry.inbox_flush();
INSERT INTO pg_temp.mine VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER f ON pg_temp.mine;
