-- Least privilege, role by role: each can do its job and nothing more. The refusals reproduce
-- findings of the 0.2.0 security review (the writer forged readings, dead letters, statistics
-- and Sparkplug aliases, read every reading, and changed how its own data was judged).
SET timezone = 'UTC';
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname LIKE 'telemetry\_%' ORDER BY 1;
-- Nobody is a member of the pipeline role: only the entry points run as it.
SELECT count(*) AS members_of_pipeline FROM pg_auth_members WHERE roleid = 'telemetry_pipeline'::regrole;
SELECT p.oid::regprocedure AS function, p.prosecdef, p.proowner::regrole AS owner, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'telemetry'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text COLLATE "C";
INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('roles-site', 'inv-01', 'active_power') RETURNING series_id AS sid \gset
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', :sid, 1.5);
CREATE ROLE regress_writer LOGIN IN ROLE telemetry_writer;
CREATE ROLE regress_reader LOGIN IN ROLE telemetry_reader;
CREATE ROLE regress_admin LOGIN IN ROLE telemetry_admin;

-- Writer: its job is to ingest, through every entry point.
\c - regress_writer
SET timezone = 'UTC';
SELECT readings, dead_letters FROM telemetry.ingest('telemetry/roles-site/inv-03/active_power', convert_to('{"value": 5, "ts": 1748779200}', 'UTF8'), '2025-06-01 12:00:05+00');
INSERT INTO telemetry.inbox (received_at, topic, payload) VALUES ('2025-06-01 12:00:05+00', 'telemetry/roles-site/inv-03/active_power', convert_to('{"value": 6, "ts": 1748779201}', 'UTF8'));
BEGIN;
SELECT telemetry.prepare_staging();
COPY pg_temp.telemetry_staging (received_at, topic, payload) FROM STDIN;
2025-06-01 12:00:05+00	telemetry/roles-site/inv-03/active_power	\\x7b2276616c7565223a20372c20227473223a20313734383737393230327d
\.
SELECT messages, readings FROM telemetry.ingest_staged();
COMMIT;
-- ... and nothing more: no table but the inbox, not even to read.
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', :sid, 9);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('roles-site', 'inv-02', 'active_power');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.dead_letter_messages (received_at, topic) VALUES (now(), 't');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.dead_letters (reason, message_id) VALUES ('bad_json', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.ingest_batches (started_at, finished_at, messages, readings, duplicates, conflicting_duplicates, dead_letters, series_created) VALUES (now(), now(), 1, 1, 0, 0, 0, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM telemetry.sparkplug_metrics;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.sparkplug_metrics (group_id, edge_node_id, device_id, metric, alias, born_at) VALUES ('g', 'e', '', 'pressure', 1, now());
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM telemetry.readings;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM telemetry.inbox;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE telemetry.readings SET value = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('w2', 'W');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- It cannot change how its data is judged or admitted: the settings are the DBA's.
SET telemetry.auto_register_series = on;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET telemetry.quality_weight_validity = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET telemetry.max_reading_age = '100y';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET telemetry.max_payload_bytes = '1GB';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nor hang the pipeline's trigger functions on a table of its own.
CREATE TEMP TABLE mine (n int);
CREATE TRIGGER f AFTER INSERT ON mine FOR EACH STATEMENT EXECUTE FUNCTION telemetry.inbox_flush();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TRIGGER c BEFORE INSERT ON mine FOR EACH ROW EXECUTE FUNCTION telemetry.inbox_collect();
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A placeholder set before the library loads is refused when it does (PostgreSQL 15 checks
-- who set it): the 5000 degC reading below is scored with the DBA's weights, not quality 1.0.
\c - regress_writer
SET telemetry.quality_weight_validity = 0;
SET telemetry.quality_weight_completeness = 0;
SET telemetry.quality_weight_timeliness = 0;
SELECT readings FROM telemetry.ingest('telemetry/roles-site/inv-04/temperature', convert_to('{"value": 5000, "ts": 1748779200}', 'UTF8'), '2025-06-01 12:00:05+00');
SHOW telemetry.quality_weight_validity;
-- Nor smuggle its own staging table, with a trigger that would run as the pipeline.
CREATE FUNCTION pg_temp.mine() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'running as %', current_user; RETURN NULL; END $$;
CREATE TEMP TABLE telemetry_staging (received_at timestamptz NOT NULL DEFAULT now(), topic text NOT NULL,
  payload bytea NOT NULL, payload_bytes integer, packet_id integer, retained boolean, redelivered boolean);
CREATE TRIGGER t BEFORE TRUNCATE ON pg_temp.telemetry_staging EXECUTE FUNCTION pg_temp.mine();
SELECT telemetry.prepare_staging();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM telemetry.ingest_staged();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE pg_temp.telemetry_staging;

-- Reader: reads the data, the dead letters and the registries; writes nothing, ingests nothing.
\c - regress_reader
SET timezone = 'UTC';
SELECT r.time, r.value, r.quality FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'roles-site' ORDER BY s.asset_id, r.time;
SELECT count(*) >= 0 AS reads_dead_letters FROM telemetry.dead_letters JOIN telemetry.dead_letter_messages USING (message_id);
SELECT telemetry.convert(1, 'kW', 'W');
INSERT INTO telemetry.readings (time, series_id, value) VALUES (now(), 1, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.inbox (topic, payload) VALUES ('t', '\x00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE telemetry.metric_rules SET valid_max = 1 WHERE metric = 'humidity';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT readings FROM telemetry.ingest('telemetry/roles-site/inv-03/active_power', convert_to('{"value": 6}', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.prepare_staging();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET telemetry.auto_register_series = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Admin: edits the registries and rules and clears dead letters; cannot write readings,
-- ingest, or relabel a series' history.
\c - regress_admin
UPDATE telemetry.sites SET name = 'Solar One' WHERE site_id = 'roles-site';
INSERT INTO telemetry.sites (site_id, name) VALUES ('admin-site', 'Wind Two');
UPDATE telemetry.metric_rules SET description = 'Relative humidity of the air' WHERE metric = 'humidity';
INSERT INTO telemetry.routes (pattern, site_id) VALUES ('roles/{asset_id}/{metric}', 'roles-site');
DELETE FROM telemetry.dead_letter_messages WHERE topic = 'no such topic';
SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'roles-site';
INSERT INTO telemetry.readings (time, series_id, value) VALUES (now(), 1, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE telemetry.series SET site_id = 'admin-site' WHERE site_id = 'roles-site';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT readings FROM telemetry.ingest('telemetry/roles-site/inv-03/active_power', convert_to('{"value": 6}', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET telemetry.quality_weight_validity = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

\c - postgres
-- The superuser decides the settings, for a role or a database.
ALTER ROLE regress_writer SET telemetry.event_id_window = 0;
SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'regress_writer'::regrole;
-- Readings: unique per series and time, so a redelivery cannot store twice.
DO $$
BEGIN
  INSERT INTO telemetry.readings (time, series_id, value)
  SELECT '2025-06-01 12:00:00+00', series_id, 1.5 FROM telemetry.series WHERE site_id = 'roles-site' AND asset_id = 'inv-01';
EXCEPTION WHEN unique_violation THEN
  RAISE NOTICE 'second reading for the same series and time refused: unique_violation';
END $$;
DROP ROLE regress_writer, regress_reader, regress_admin;
