-- telemetry: every role, grant and function owner, in one place.
-- Roles are cluster-wide and outlive DROP EXTENSION; they are created only if missing.
--   telemetry_reader    reads the data and the registries.
--   telemetry_writer    ingests, through the entry points and the inbox only.
--   telemetry_admin     edits the registries and rules, and reads.
--   telemetry_operator  acts on alarms (acknowledge, shelve, unshelve, out of service) and reads.
--   telemetry_publisher delivers alarms: reads and empties the outbox, through two functions.
--   telemetry_pipeline  owns the ingest entry points, which run as it (SECURITY DEFINER). It can
--                       log in nowhere and is granted to no one: it holds the table rights the
--                       writer must not have, and no more than the pipeline needs.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['telemetry_reader', 'telemetry_writer', 'telemetry_admin', 'telemetry_operator',
                           'telemetry_publisher', 'telemetry_pipeline'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA telemetry FROM PUBLIC;
GRANT USAGE ON SCHEMA telemetry TO telemetry_reader, telemetry_writer, telemetry_admin, telemetry_operator,
  telemetry_publisher, telemetry_pipeline;

-- Reader: the data, its context and the registries (the SQL functions read those).
GRANT SELECT ON telemetry.units, telemetry.unit_aliases, telemetry.metric_rules, telemetry.metric_aliases,
  telemetry.routes TO telemetry_reader, telemetry_admin;
GRANT SELECT ON telemetry.readings, telemetry.series, telemetry.sites, telemetry.assets, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.ingest_stats, telemetry.sparkplug_metrics,
  telemetry.metric_registrations, telemetry.metrics_to_review, telemetry.alarm_rules, telemetry.alarm_states,
  telemetry.alarm_events, telemetry.escalation_levels, telemetry.active_alarms, telemetry.standing_alarms,
  telemetry.escalations_due
  TO telemetry_reader;
GRANT telemetry_reader TO telemetry_operator;

-- Writer: EXECUTE on the entry points and INSERT on the inbox, nothing else. It cannot write a
-- reading, a series, a dead letter or a statistic except through the pipeline, nor read any.
GRANT INSERT ON telemetry.inbox TO telemetry_writer;

-- Admin: everything a reader sees, plus the registries and rules.
GRANT telemetry_reader TO telemetry_admin;
GRANT INSERT, UPDATE, DELETE ON telemetry.units, telemetry.unit_aliases, telemetry.metric_rules,
  telemetry.metric_aliases, telemetry.routes, telemetry.sites, telemetry.assets TO telemetry_admin;
GRANT INSERT ON telemetry.series TO telemetry_admin;
GRANT USAGE ON SEQUENCE telemetry.routes_route_id_seq, telemetry.series_series_id_seq TO telemetry_admin;
GRANT DELETE ON telemetry.dead_letters, telemetry.dead_letter_messages TO telemetry_admin;
GRANT INSERT, UPDATE, DELETE ON telemetry.alarm_rules, telemetry.escalation_levels TO telemetry_admin;
GRANT USAGE ON SEQUENCE telemetry.alarm_rules_rule_id_seq TO telemetry_admin;

-- Pipeline: what ingest reads and writes.
GRANT SELECT ON telemetry.units, telemetry.unit_aliases, telemetry.metric_rules, telemetry.metric_aliases,
  telemetry.routes TO telemetry_pipeline;
GRANT SELECT, INSERT ON telemetry.readings, telemetry.series, telemetry.sites, telemetry.assets TO telemetry_pipeline;
GRANT INSERT ON telemetry.dead_letters, telemetry.dead_letter_messages, telemetry.ingest_batches TO telemetry_pipeline;
GRANT SELECT, INSERT, DELETE ON telemetry.sparkplug_metrics TO telemetry_pipeline;
-- Metrics first seen are registered unreviewed; the pipeline cannot change an existing rule.
GRANT INSERT ON telemetry.metric_rules, telemetry.metric_registrations TO telemetry_pipeline;
-- Replay takes dead letters out as it runs them again.
GRANT SELECT, DELETE ON telemetry.dead_letter_messages TO telemetry_pipeline;
GRANT SELECT ON telemetry.dead_letters TO telemetry_pipeline;
-- Alarms: the pipeline, the maintenance run and the operator functions change states and
-- record events; no one else writes them.
GRANT SELECT ON telemetry.alarm_rules, telemetry.escalation_levels TO telemetry_pipeline;
GRANT SELECT, INSERT, UPDATE ON telemetry.alarm_states TO telemetry_pipeline;
GRANT SELECT, INSERT ON telemetry.alarm_events TO telemetry_pipeline;
GRANT SELECT, INSERT, DELETE, UPDATE (received_at) ON telemetry.alarm_outbox TO telemetry_pipeline;
GRANT USAGE ON SEQUENCE telemetry.alarm_events_event_id_seq TO telemetry_pipeline;
-- Event ids are recorded in the partitions directly, and a partition is emptied whole once
-- expired; TRUNCATE on the parent is for the lock each batch takes on it (LOCK TABLE in SHARE
-- mode asks for UPDATE, DELETE or TRUNCATE).
GRANT SELECT, INSERT, TRUNCATE ON telemetry.recent_events_0, telemetry.recent_events_1, telemetry.recent_events_2
  TO telemetry_pipeline;
GRANT TRUNCATE ON telemetry.recent_events TO telemetry_pipeline;
GRANT USAGE ON SEQUENCE telemetry.series_series_id_seq, telemetry.dead_letters_dead_letter_id_seq,
  telemetry.dead_letter_messages_message_id_seq, telemetry.ingest_batches_batch_id_seq TO telemetry_pipeline;
-- The staging table is a temporary table the pipeline creates for each session.
DO $$
BEGIN
  EXECUTE pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO telemetry_pipeline', pg_catalog.current_database());
END $$;

-- The entry points run as the pipeline with a pinned search_path: nothing of the caller's
-- (objects in public, a session's own pg_temp.text) can stand in for what they name.
DO $$
DECLARE f text;
BEGIN
  FOREACH f IN ARRAY ARRAY['telemetry.ingest(text, bytea, timestamptz)', 'telemetry.ingest_staged()',
                           'telemetry.prepare_staging()', 'telemetry.inbox_flush()',
                           'telemetry.replay_dead_letters(text, text, timestamptz, timestamptz, integer)',
                           'telemetry.acknowledge(bigint, integer, text)',
                           'telemetry.shelve(bigint, integer, timestamptz, text)',
                           'telemetry.unshelve(bigint, integer, text)',
                           'telemetry.set_out_of_service(bigint, integer, boolean, text)',
                           'telemetry.run_maintenance()'] LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO telemetry_pipeline', f);
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION telemetry.ingest(text, bytea, timestamptz), telemetry.ingest_staged(),
  telemetry.prepare_staging() TO telemetry_writer;
-- Trigger functions fire whatever their grants; revoking EXECUTE keeps them off other tables.
REVOKE ALL ON FUNCTION telemetry.inbox_begin(), telemetry.inbox_collect(), telemetry.registry_changed(),
  telemetry.metric_name_guard() FROM PUBLIC;
-- Replay and the vocabulary are the admin's: they decide what is stored and how it is named.
GRANT EXECUTE ON FUNCTION telemetry.replay_dead_letters(text, text, timestamptz, timestamptz, integer) TO telemetry_admin;
REVOKE ALL ON FUNCTION telemetry.load_vocabulary(), telemetry.merge_metric(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.load_vocabulary(), telemetry.merge_metric(text, text, text) TO telemetry_admin;
-- Alarms: operators act on them, the admin writes the rules and runs maintenance.
GRANT EXECUTE ON FUNCTION telemetry.acknowledge(bigint, integer, text),
  telemetry.shelve(bigint, integer, timestamptz, text), telemetry.unshelve(bigint, integer, text),
  telemetry.set_out_of_service(bigint, integer, boolean, text) TO telemetry_operator;
GRANT EXECUTE ON FUNCTION telemetry.run_maintenance() TO telemetry_admin;
REVOKE ALL ON FUNCTION telemetry.alarm_rule_check() FROM PUBLIC;
-- A DBA attaches telemetry.alarm_trigger() to a table of their own; it runs as the pipeline,
-- so that whoever writes that table need not hold rights on the alarm tables.
ALTER FUNCTION telemetry.alarm_trigger() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION telemetry.alarm_trigger() OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.alarm_trigger() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.alarm_trigger() TO telemetry_admin;
ALTER FUNCTION telemetry.alarm_outbox_pending(integer, bigint) OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_received(bigint[]) OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_session_lost() OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_confirm(bigint[]) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint), telemetry.alarm_outbox_received(bigint[]),
  telemetry.alarm_outbox_session_lost(), telemetry.alarm_outbox_confirm(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint), telemetry.alarm_outbox_received(bigint[]),
  telemetry.alarm_outbox_session_lost(), telemetry.alarm_outbox_confirm(bigint[])
  TO telemetry_publisher;
REVOKE ALL ON FUNCTION telemetry.add_alarm_rule(text, text, text, double precision, text, text, text, text, integer,
  interval, double precision, double precision, double precision, interval, integer, interval, integer, interval,
  interval, integer, integer, double precision, smallint, text[], text, text, text),
  telemetry.change_alarm_rule(text, jsonb), telemetry.enable_alarm_rule(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.add_alarm_rule(text, text, text, double precision, text, text, text, text, integer,
  interval, double precision, double precision, double precision, interval, integer, interval, integer, interval,
  interval, integer, integer, double precision, smallint, text[], text, text, text),
  telemetry.change_alarm_rule(text, jsonb), telemetry.enable_alarm_rule(text, boolean) TO telemetry_admin;

-- Series identity (sql/series_identity.sql). A series is relabelled only through
-- telemetry.rename_series(), which records the change; telemetry_admin may call it (it has no
-- UPDATE on telemetry.series). Everyone who reads series may read the record of renames.
REVOKE ALL ON FUNCTION telemetry.rename_series(integer, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.rename_series(integer, text, text, text, text, text) TO telemetry_admin;
GRANT SELECT ON telemetry.series_renames TO telemetry_reader;
REVOKE ALL ON FUNCTION telemetry.series_guard() FROM PUBLIC;
-- Run by the install and upgrade scripts only.
REVOKE ALL ON FUNCTION telemetry.disown_compressed_readings() FROM PUBLIC;

-- Analysis (sql/analysis.sql) and the quality report. The aggregates and the functions over
-- arrays read no table and are everyone's; those that read the readings are the readers'
-- (they run with the caller's rights, so the reader's SELECT is what they use).
REVOKE ALL ON FUNCTION telemetry.series_points(integer, timestamptz, timestamptz, interval),
  telemetry.series_id(text, text, text, text),
  telemetry.counter_deltas(integer, timestamptz, timestamptz, interval, double precision),
  telemetry.time_weighted_averages(integer, timestamptz, timestamptz, interval, text),
  telemetry.gapfill(integer, timestamptz, timestamptz, interval, text, text),
  telemetry.quality_report(timestamptz, timestamptz, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.series_points(integer, timestamptz, timestamptz, interval),
  telemetry.series_id(text, text, text, text),
  telemetry.counter_deltas(integer, timestamptz, timestamptz, interval, double precision),
  telemetry.time_weighted_averages(integer, timestamptz, timestamptz, interval, text),
  telemetry.gapfill(integer, timestamptz, timestamptz, interval, text, text),
  telemetry.quality_report(timestamptz, timestamptz, text, interval) TO telemetry_reader;
-- Rollups (sql/rollups.sql) and retention (sql/retention.sql). The pipeline owns the
-- materialized rows, the watermarks and the invalidations, and is the only writer: ingest
-- records late readings' buckets, and telemetry.materialize_rollups() and
-- telemetry.rebuild_rollups() run as it. Everyone who reads readings reads the rollups.
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT r.tier FROM telemetry.rollup_tiers() r LOOP
    EXECUTE pg_catalog.format('ALTER TABLE telemetry.%I OWNER TO telemetry_pipeline', 'rollup_' || t || '_materialized');
    EXECUTE pg_catalog.format('GRANT SELECT ON telemetry.%I, telemetry.%I, telemetry.%I TO telemetry_reader',
                              'rollup_' || t, 'rollup_' || t || '_materialized', 'sensor_readings_' || t);
  END LOOP;
END $$;
ALTER TABLE telemetry.rollup_watermarks OWNER TO telemetry_pipeline;
ALTER TABLE telemetry.rollup_invalidations OWNER TO telemetry_pipeline;
GRANT SELECT ON telemetry.rollup_watermarks, telemetry.rollup_invalidations TO telemetry_reader;
GRANT SELECT ON telemetry.retention TO telemetry_pipeline;
ALTER FUNCTION telemetry.materialize_tier(text, timestamptz, timestamptz, integer[], timestamptz[], integer) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.materialize_tier(text, timestamptz, timestamptz, integer[], timestamptz[], integer) FROM PUBLIC;
ALTER FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) SECURITY DEFINER;
ALTER FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) TO telemetry_admin, telemetry_pipeline;
GRANT SELECT ON telemetry.sensor_readings, telemetry.retention TO telemetry_reader;
ALTER FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) SECURITY DEFINER;
ALTER FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz),
  telemetry.apply_retention(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz),
  telemetry.apply_retention(boolean) TO telemetry_admin;
-- run_maintenance runs as the pipeline and applies retention.
GRANT EXECUTE ON FUNCTION telemetry.apply_retention(boolean) TO telemetry_pipeline;
-- The archive function runs with the rights of the extension owner: only a superuser names it.
GRANT UPDATE (keep) ON telemetry.retention TO telemetry_admin;
-- The aggregates' transition functions are not for calling on their own (they refuse outside
-- an aggregate anyway).
REVOKE ALL ON FUNCTION telemetry.summarize_trans(internal, timestamptz, double precision, real, integer, smallint),
  telemetry.rollup_trans(internal, telemetry.summary), telemetry.summary_final(internal) FROM PUBLIC;
