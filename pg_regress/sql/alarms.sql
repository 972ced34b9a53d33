-- Alarms, ISA-18.2: rules checked as they are written, evaluated by the pipeline as it stores
-- readings (deadband, delays, the suppression window, late and duplicate readings), operator
-- actions, time-driven rules in telemetry.run_maintenance(), suppression by design, escalation,
-- every transition an event with its outbox row, and the views and figures operators read.
SET timezone = 'UTC';
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
-- One discharge pressure reading (kPa) at second s of 2025-06-01 12:00.
CREATE FUNCTION pg_temp.p(asset text, s int, v float8) RETURNS int LANGUAGE sql AS $$
  SELECT readings FROM telemetry.ingest('telemetry/al-1/' || asset || '/discharge_pressure',
    convert_to(pg_catalog.format('{"value": %s, "ts": %s}', v, 1748779200 + s), 'UTF8'), '2025-06-01 12:10:00+00') $$;
CREATE TEMP VIEW ev AS
  SELECT e.event_id, CASE WHEN e.time < '2025-06-02' THEN extract(epoch FROM e.time - '2025-06-01 12:00:00+00')::int END AS s,
         s.asset_id, r.name AS rule,
         e.kind, e.from_status, e.to_status, e.value, e.severity, e.actor IS NOT NULL AS by_operator, e.note
    FROM telemetry.alarm_events e JOIN telemetry.series s ON s.series_id = e.series_id JOIN telemetry.alarm_rules r ON r.rule_id = e.rule_id;
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.sparkplug_metrics;

-- Rules are checked as they are written.
SELECT telemetry.add_alarm_rule('no limit', 'high', 'high');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.add_alarm_rule('stale with a limit', 'stale', 'low', limit_value => 3, after => '1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.add_alarm_rule('both deadbands', 'high', 'low', limit_value => 3, deadband => 1, deadband_percent => 5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.add_alarm_rule('unheard of', 'very_high', 'low', limit_value => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.add_alarm_rule('no such severity', 'high', 'urgent', limit_value => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A high limit with a deadband: hovering between the limit and limit - deadband raises once.
SELECT telemetry.add_alarm_rule('discharge high', 'HIGH', 'CRITICAL', limit_value => 900, deadband => 20,
  metric => 'discharge_pressure', site_id => 'al-1', suppression_window => '0 s',
  cause => 'Blocked outlet', consequence => 'Pump damage', action => 'Open the outlet valve') AS rule_id \gset
SELECT pg_temp.p('pump-1', s, v) FROM (VALUES (0, 850), (10, 910), (20, 895), (30, 905), (40, 885), (50, 870)) AS x (s, v);
SELECT s, kind, from_status, to_status, value, severity FROM ev WHERE asset_id = 'pump-1' ORDER BY event_id;
SELECT status, severity, last_value FROM telemetry.alarm_states WHERE rule_id = :rule_id;

-- Late and duplicate readings neither raise nor clear.
SELECT pg_temp.p('pump-1', 15, 990);
SELECT pg_temp.p('pump-1', 50, 870);
SELECT count(*) AS events FROM ev WHERE asset_id = 'pump-1';

-- Acknowledge then clear; clear then acknowledge.
SELECT pg_temp.p('pump-1', 60, 950);
SELECT series_id AS pump1 FROM telemetry.series WHERE asset_id = 'pump-1' \gset
SELECT telemetry.acknowledge(:rule_id, :pump1, note => 'valve opened');
SELECT pg_temp.p('pump-1', 70, 800);
SELECT pg_temp.p('pump-1', 80, 950);
SELECT pg_temp.p('pump-1', 90, 800);
SELECT telemetry.acknowledge(:rule_id, :pump1);
SELECT telemetry.acknowledge(:rule_id, :pump1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT s, kind, from_status, to_status, by_operator, note FROM ev WHERE asset_id = 'pump-1' AND s >= 60 ORDER BY event_id;

-- On-delay by samples and the suppression window: a flapping signal raises one alarm.
SELECT telemetry.add_alarm_rule('discharge high-high', 'high_high', 'critical', limit_value => 1000,
  metric => 'discharge_pressure', asset_id => 'pump-2', on_delay_samples => 2, suppression_window => '60 s') AS hh \gset
SELECT pg_temp.p('pump-2', s, v) FROM (VALUES (0, 1010), (5, 990), (10, 1010), (15, 1020), (20, 990), (25, 1030),
  (30, 980), (40, 1020), (50, 970), (90, 960), (100, 960)) AS x (s, v);
SELECT s, rule, kind, to_status FROM ev WHERE asset_id = 'pump-2' ORDER BY event_id;

-- Shelving, its expiry in the maintenance run, out of service, and the errors.
SELECT series_id AS pump2 FROM telemetry.series WHERE asset_id = 'pump-2' \gset
SELECT pg_temp.p('pump-2', 200, 1100), pg_temp.p('pump-2', 205, 1100);
SELECT telemetry.shelve(:hh, :pump2, now() + interval '1 hour', note => 'known issue');
\set VERBOSITY sqlstate
SELECT telemetry.shelve(:hh, :pump2, now() - interval '1 hour');
\set VERBOSITY default
SELECT status FROM telemetry.alarm_states WHERE rule_id = :hh;
UPDATE telemetry.alarm_states SET shelved_until = now() - interval '1 s' WHERE rule_id = :hh;
SELECT * FROM telemetry.run_maintenance();
SELECT * FROM telemetry.run_maintenance();
SELECT s IS NULL AS at_the_time_of_maintenance, kind, from_status, to_status FROM ev WHERE asset_id = 'pump-2' AND kind IN ('shelve', 'unshelve', 'raise') ORDER BY event_id DESC LIMIT 3;
SELECT telemetry.set_out_of_service(:hh, :pump2, note => 'transmitter replaced');
SELECT telemetry.acknowledge(:hh, :pump2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.set_out_of_service(:hh, :pump2, out_of_service => false);
SELECT telemetry.acknowledge(:rule_id, 999999);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Stale and flat-line, driven by time in the maintenance run; NaN never counts.
SELECT telemetry.add_alarm_rule('pump-3 silent', 'stale', 'medium', after => '1 minute', asset_id => 'pump-3') AS stale \gset
SELECT pg_temp.p('pump-3', 0, 500);
SELECT * FROM telemetry.run_maintenance();
SELECT kind, to_status, severity FROM ev WHERE rule = 'pump-3 silent' ORDER BY event_id;

-- Suppression by design: while a site's communication-loss rule is active, its stale alarms
-- are suppressed.
SELECT telemetry.add_alarm_rule('al-1 link down', 'bad_quality', 'high', site_id => 'al-1', asset_id => 'gateway',
  suppresses => ARRAY['stale']);
SELECT readings FROM telemetry.ingest('telemetry/al-1/gateway/discharge_pressure',
  pg_temp.j('{"value": 1, "ts": 1748779300, "quality": "bad"}'), '2025-06-01 12:10:00+00');
SELECT rule, kind, to_status FROM ev WHERE rule IN ('al-1 link down', 'pump-3 silent') ORDER BY event_id;
SELECT rule, status FROM telemetry.active_alarms ORDER BY rule;

-- Escalation: levels fall due once each, in the maintenance run.
INSERT INTO telemetry.escalation_levels VALUES ('medium', 1, '0 s', 'shift lead', 'sms'), ('medium', 2, '1 hour', 'plant manager', 'phone');
-- The communication-loss rule no longer suppresses: the stale alarm returns, raises, escalates.
UPDATE telemetry.alarm_rules SET suppresses = NULL WHERE name = 'al-1 link down';
SELECT * FROM telemetry.run_maintenance();
SELECT * FROM telemetry.run_maintenance();
SELECT r.name AS rule, e.kind, e.level, e.target, e.method FROM telemetry.alarm_events e JOIN telemetry.alarm_rules r ON r.rule_id = e.rule_id
 WHERE e.kind = 'escalate' ORDER BY event_id;
SELECT rule_id = :stale AS stale_rule, level, target FROM telemetry.escalations_due;

-- Every event is in the outbox, once.
SELECT (SELECT count(*) FROM telemetry.alarm_events) = (SELECT count(*) FROM telemetry.alarm_outbox) AS all_in_outbox;

-- The standing list, and the performance figures on this history.
SELECT site_id, severity, status, alarms FROM telemetry.standing_alarms ORDER BY 1, 2, 3;
SELECT * FROM telemetry.alarm_performance('2025-06-01 00:00+00', '2025-06-02 00:00+00');
SELECT figure, severity, n, round(percent::numeric, 1) AS percent FROM telemetry.alarm_report('2025-06-01 00:00+00', '2025-06-02 00:00+00')
 WHERE figure IN ('priority', 'chattering') ORDER BY 1, 2;

-- Who may do what: operators act, the writer does not, the admin writes rules.
SET ROLE telemetry_writer;
SELECT telemetry.acknowledge(:rule_id, :pump1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE telemetry.alarm_states SET status = 'normal';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE telemetry_operator;
SELECT count(*) > 0 AS sees_active FROM telemetry.active_alarms;
INSERT INTO telemetry.alarm_rules (name, kind, severity, limit_value) VALUES ('sneaky', 'high', 'low', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT limit_value, on_delay, deadband FROM telemetry.change_alarm_rule('discharge high', '{"limit_value": 950, "on_delay": "30 s"}');
-- The publisher reads and empties the outbox through its four functions, and nothing else.
SELECT count(*) AS pending FROM telemetry.alarm_outbox \gset
SET ROLE telemetry_publisher;
SELECT count(*) = :pending AS sees_all_pending, bool_and(payload ? 'event_id' AND payload ? 'rule') AS messages_complete,
       (array_agg(severity ORDER BY severity = 'critical' DESC))[1] AS first_severity
  FROM telemetry.alarm_outbox_pending(max_events => 1000);
SELECT count(*) AS after_the_last FROM telemetry.alarm_outbox_pending(after_event => (SELECT max(event_id) FROM telemetry.alarm_outbox_pending(1000)));
SELECT telemetry.alarm_outbox_confirm(ARRAY(SELECT event_id FROM telemetry.alarm_outbox_pending(2))) AS confirmed;
SELECT telemetry.alarm_outbox_confirm(ARRAY[-1, NULL]::bigint[]) AS confirmed_nothing;
-- QoS 2: an event's packet id follows from its id; the broker's receipt is recorded, and
-- forgotten with a session the broker lost.
SELECT bool_and(packet_id = event_id % 65535 + 1) AS packet_ids, bool_or(received) AS any_received
  FROM telemetry.alarm_outbox_pending(1000);
SELECT telemetry.alarm_outbox_received(ARRAY(SELECT event_id FROM telemetry.alarm_outbox_pending(2))) AS received;
SELECT telemetry.alarm_outbox_received(ARRAY(SELECT event_id FROM telemetry.alarm_outbox_pending(2))) AS received_again;
SELECT telemetry.alarm_outbox_received(ARRAY[-1, NULL]::bigint[]) AS received_nothing,
       telemetry.alarm_outbox_received(NULL) AS received_from_null;
SELECT count(*) FILTER (WHERE received) AS marked FROM telemetry.alarm_outbox_pending(1000);
SELECT telemetry.alarm_outbox_session_lost() AS forgotten;
SELECT count(*) FILTER (WHERE received) AS marked FROM telemetry.alarm_outbox_pending(1000);
RESET ROLE;
-- An event whose packet id an earlier event still holds waits for that one's PUBCOMP.
SELECT min(event_id) AS holder FROM telemetry.alarm_outbox \gset
INSERT INTO telemetry.alarm_events (time, event_id, rule_id, series_id, kind, from_status, to_status, severity)
  SELECT time, event_id + 65535, rule_id, series_id, kind, from_status, to_status, severity
    FROM telemetry.alarm_events WHERE event_id = :holder;
INSERT INTO telemetry.alarm_outbox (event_id, time, severity)
  SELECT event_id, time, severity FROM telemetry.alarm_events WHERE event_id = :holder + 65535;
SET ROLE telemetry_publisher;
SELECT count(*) FILTER (WHERE event_id = :holder) AS holder_pending, count(*) FILTER (WHERE event_id = :holder + 65535) AS sharer_pending
  FROM telemetry.alarm_outbox_pending(1000);
SELECT telemetry.alarm_outbox_confirm(ARRAY[:holder::bigint]) AS confirmed;
SELECT packet_id = :holder % 65535 + 1 AS same_packet_id FROM telemetry.alarm_outbox_pending(1000) WHERE event_id = :holder + 65535;
SELECT telemetry.alarm_outbox_confirm(ARRAY[:holder + 65535]) AS confirmed;
SELECT count(*) FROM telemetry.alarm_events;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM telemetry.alarm_outbox;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) = :pending - 3 AS three_fewer FROM telemetry.alarm_outbox;
SET ROLE telemetry_writer;
SELECT count(*) FROM telemetry.alarm_outbox_pending();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.alarm_outbox_received(ARRAY[1::bigint]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.alarm_outbox_session_lost();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM telemetry.load_vocabulary();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE telemetry_admin;
SELECT * FROM telemetry.load_vocabulary();
RESET ROLE;
SELECT telemetry.change_alarm_rule('discharge high', '{"colour": "red"}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.enable_alarm_rule('discharge high', false);

-- A table of the DBA's own (seed 002's ESP readings, wide), watched by the same rules.
CREATE TABLE public.esp (well text, ts timestamptz, discharge_kpa float8, intake_kpa real);
CREATE TRIGGER alarms AFTER INSERT ON public.esp FOR EACH ROW EXECUTE FUNCTION
  telemetry.alarm_trigger('site=al-1', 'asset_column=well', 'time_column=ts', 'discharge_kpa=discharge_pressure', 'intake_kpa=intake_pressure');
SELECT telemetry.enable_alarm_rule('discharge high', true);
INSERT INTO public.esp VALUES ('well-9', '2025-06-01 12:00:00+00', 1200, 80), ('well-9', '2025-06-01 12:00:10+00', 1250, 80),
  ('well-9', '2025-06-01 12:00:40+00', 1250, 80);
SELECT s, asset_id, rule, kind, to_status FROM ev WHERE asset_id = 'well-9' ORDER BY event_id;
CREATE TRIGGER broken AFTER INSERT ON public.esp FOR EACH ROW EXECUTE FUNCTION telemetry.alarm_trigger('site=al-1');
INSERT INTO public.esp VALUES ('well-9', '2025-06-01 12:00:50+00', 1250, 80);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE public.esp;

-- Leave no rules behind for the suites that follow.
DELETE FROM telemetry.alarm_rules;
DELETE FROM telemetry.escalation_levels;
