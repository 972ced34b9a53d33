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

-- The record of payload event ids (telemetry.recent_events), in generations of
-- telemetry.event_id_window: 3 s here, and the clock's generation boundaries are waited for.
-- Every reading has a time of its own, so only its event id can make it a duplicate.
CREATE EXTENSION dblink;
SET telemetry.event_id_window = 3;
CREATE FUNCTION pg_temp.generation() RETURNS bigint LANGUAGE sql AS
  $$ SELECT floor(extract(epoch FROM clock_timestamp()) / 3)::bigint $$;
-- Sleep into the next generation, `after` seconds past its start.
CREATE FUNCTION pg_temp.next_generation(after float8 DEFAULT 0.2) RETURNS void LANGUAGE sql AS
  $$ SELECT pg_sleep(3 - mod(extract(epoch FROM clock_timestamp())::numeric, 3)::float8 + after) $$;
-- The ingest of a reading of event e, `ts` seconds into 2025-06-01, as SQL text (for other
-- sessions too); pg_temp.send runs it here. Both give readings+duplicates.
CREATE FUNCTION pg_temp.ingest_sql(e text, ts int) RETURNS text LANGUAGE sql AS $$
  SELECT format($q$SELECT readings || '+' || duplicates FROM telemetry.ingest('telemetry/dedup-site/a1/humidity',
                  convert_to('{"event_id": "%s", "value": 1, "ts": %s}', 'UTF8'))$q$, e, 1748736000 + ts) $$;
CREATE FUNCTION pg_temp.send(e text, ts int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
  EXECUTE pg_temp.ingest_sql(e, ts) INTO result;
  RETURN result;
END $$;
-- The ids recorded for the site, by generation relative to g.
CREATE FUNCTION pg_temp.recorded(g bigint) RETURNS TABLE (generation bigint, event_id text) LANGUAGE sql AS $$
  SELECT r.generation - g, r.event_id FROM telemetry.recent_events r JOIN telemetry.series s USING (series_id)
   WHERE s.site_id = 'dedup-site' ORDER BY 1, 2 $$;
-- Whether the session of application_name `app` is waiting for a lock (within 5 s).
CREATE FUNCTION pg_temp.waits(app text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 100 LOOP
    IF EXISTS (SELECT FROM pg_stat_activity WHERE application_name = app AND wait_event_type = 'Lock') THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;
-- Session "second" runs `sql` while session "first" holds its transaction open: whether the
-- second waits for a lock, and its result once the first has committed (after sleeping into the
-- next generation, if asked).
CREATE FUNCTION pg_temp.second_after_first(sql text, into_next_generation boolean DEFAULT false)
RETURNS TABLE (second_waits boolean, second_result text) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM dblink_send_query('second', sql);
  second_waits := pg_temp.waits('second');
  IF into_next_generation THEN
    PERFORM pg_temp.next_generation();
  END IF;
  PERFORM dblink_exec('first', 'COMMIT');
  SELECT t.r INTO second_result FROM dblink_get_result('second') AS t (r text);
  PERFORM FROM dblink_get_result('second') AS t (r text);
  RETURN NEXT;
END $$;
SELECT 'dbname=' || current_database() || ' port=' || current_setting('port') || ' host=' || current_setting('unix_socket_directories')
       || ' options=''-c telemetry.event_id_window=3''' AS conn \gset

-- Generation g0: an id is new once; the same again, even re-stamped, is a duplicate, within a
-- message too.
SELECT pg_temp.next_generation() \gset
SELECT pg_temp.generation() AS g0 \gset
SELECT pg_temp.send('e1', 1) AS new, pg_temp.send('e1', 2) AS again_in_the_same_transaction;
SELECT pg_temp.send('e1', 3) AS again;
SELECT readings, duplicates FROM telemetry.ingest('telemetry/dedup-site/a1/humidity',
  convert_to('[{"event_id": "e2", "value": 1, "ts": 1748736004}, {"event_id": "e2", "value": 1, "ts": 1748736005}]', 'UTF8'));
-- g0 + 1: the previous generation is looked up too.
SELECT pg_temp.next_generation() \gset
SELECT pg_temp.send('e1', 6) AS recorded_in_the_previous_generation, pg_temp.send('e3', 7) AS new;
SELECT * FROM pg_temp.recorded(:g0);
-- g0 + 2: what g0 recorded is forgotten (at most twice the window), and the table that held it
-- was emptied by this session's first batch of the generation; g0 + 1's ids are still known.
SELECT pg_temp.next_generation() \gset
SELECT pg_temp.send('e1', 8) AS forgotten, pg_temp.send('e3', 9) AS recorded_in_the_previous_generation;
SELECT * FROM pg_temp.recorded(:g0);
SELECT count(*) AS rows_of_g0 FROM telemetry.recent_events WHERE generation = :g0;

-- The table of the next generation is emptied only when every row in it has expired: a row of
-- the next generation (as a batch that ran after the clock moved on would leave it) keeps it.
-- Each new session looks once a generation.
SELECT pg_temp.next_generation() \gset
SELECT pg_temp.generation() AS g \gset
SELECT series_id AS sid FROM telemetry.series WHERE site_id = 'dedup-site' \gset
INSERT INTO telemetry.recent_events VALUES (:g + 1, :sid, 'planted-next'), (:g - 2, :sid, 'planted-expired');
SELECT * FROM dblink(:'conn', pg_temp.ingest_sql('e4', 10)) AS t (result text);
SELECT * FROM pg_temp.recorded(:g) WHERE event_id LIKE 'planted%';
DELETE FROM telemetry.recent_events WHERE event_id = 'planted-next';
SELECT * FROM dblink(:'conn', pg_temp.ingest_sql('e5', 11)) AS t (result text);
SELECT * FROM pg_temp.recorded(:g) WHERE event_id LIKE 'planted%';
-- No batch waits to empty it: while another session holds it, it stays as it is.
SELECT pg_temp.next_generation() \gset
SELECT pg_temp.generation() AS g \gset
INSERT INTO telemetry.recent_events VALUES (:g - 2, :sid, 'planted-expired');
SELECT dblink_connect('holder', :'conn');
SELECT dblink_exec('holder', format('BEGIN; LOCK TABLE telemetry.recent_events_%s IN ACCESS SHARE MODE', (:g + 1) % 3));
SELECT * FROM dblink(:'conn' || ' options=''-c statement_timeout=2s -c telemetry.event_id_window=3''', pg_temp.ingest_sql('e6', 12)) AS t (result text);
SELECT * FROM pg_temp.recorded(:g) WHERE event_id LIKE 'planted%';
SELECT dblink_exec('holder', 'COMMIT');
SELECT * FROM dblink(:'conn', pg_temp.ingest_sql('e7', 13)) AS t (result text);
SELECT * FROM pg_temp.recorded(:g) WHERE event_id LIKE 'planted%';

-- Two sessions racing on a new id: the second waits for the first, and exactly one stores it.
SELECT pg_temp.next_generation() \gset
SELECT dblink_connect('first', :'conn' || ' application_name=first');
SELECT dblink_connect('second', :'conn' || ' application_name=second');
SELECT dblink_exec('first', 'BEGIN');
SELECT * FROM dblink('first', pg_temp.ingest_sql('race', 14)) AS t (result text);
SELECT * FROM pg_temp.second_after_first(pg_temp.ingest_sql('race', 15));
-- The same across a generation boundary: the first records the id in its generation, the second
-- in the next; it waits for the lock on telemetry.recent_events and finds the first's id. (The
-- first has looked at the expiring table in its generation before, so that it holds nothing
-- else the second needs.)
SELECT pg_temp.next_generation() \gset
SELECT * FROM dblink('first', pg_temp.ingest_sql('edge-0', 19)) AS t (result text);
SELECT * FROM dblink('first', pg_temp.ingest_sql('edge-1', 20)) AS t (result text);
SELECT pg_sleep(2) \gset
SELECT dblink_exec('first', 'BEGIN');
SELECT * FROM dblink('first', pg_temp.ingest_sql('edge', 16)) AS t (result text);
SELECT pg_temp.next_generation() \gset
SELECT * FROM pg_temp.second_after_first(pg_temp.ingest_sql('edge', 17));
-- A batch that waited for the lock until the clock moved into the next generation works in that
-- one (so that it also sees what batches of that generation recorded meanwhile).
SELECT pg_temp.next_generation() \gset
SELECT pg_temp.generation() AS g \gset
SELECT dblink_exec('first', format('BEGIN; LOCK TABLE ONLY telemetry.recent_events IN %s MODE',
                                   CASE WHEN (:g + 1) % 2 = 0 THEN 'SHARE' ELSE 'ROW EXCLUSIVE' END));
SELECT * FROM pg_temp.second_after_first(pg_temp.ingest_sql('late', 18), into_next_generation => true);
SELECT * FROM pg_temp.recorded(:g) WHERE event_id = 'late';
SELECT count(*) AS readings, count(*) FILTER (WHERE r.time = '2025-06-01 00:00:14+00' OR r.time = '2025-06-01 00:00:16+00') AS of_the_first
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'dedup-site' AND r.time BETWEEN '2025-06-01 00:00:14+00' AND '2025-06-01 00:00:17+00';
SELECT dblink_disconnect('first'), dblink_disconnect('second'), dblink_disconnect('holder');
RESET telemetry.event_id_window;
DROP EXTENSION dblink;
