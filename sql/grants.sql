-- telemetry: every role and grant, in one place.
-- Roles are cluster-wide and outlive DROP EXTENSION; they are created only if missing.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['telemetry_reader', 'telemetry_writer', 'telemetry_admin'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA telemetry FROM PUBLIC;
GRANT USAGE ON SCHEMA telemetry TO telemetry_reader, telemetry_writer, telemetry_admin;

-- Every function reads the registries, so every role may read them.
GRANT SELECT ON telemetry.units, telemetry.unit_aliases, telemetry.metric_rules, telemetry.metric_aliases,
  telemetry.routes TO telemetry_reader, telemetry_writer, telemetry_admin;

-- Reader: the data and its context.
GRANT SELECT ON telemetry.readings, telemetry.series, telemetry.sites, telemetry.assets, telemetry.dead_letters,
  telemetry.ingest_batches, telemetry.ingest_stats TO telemetry_reader;

-- Writer: ingest only. It registers new series and records dead letters, and reads what it must
-- to resolve series; it cannot change or delete stored readings.
GRANT SELECT, INSERT ON telemetry.readings, telemetry.series TO telemetry_writer;
GRANT SELECT, INSERT ON telemetry.sites, telemetry.assets TO telemetry_writer;
GRANT INSERT ON telemetry.dead_letters, telemetry.ingest_batches, telemetry.inbox TO telemetry_writer;
GRANT SELECT, INSERT, DELETE ON telemetry.sparkplug_aliases TO telemetry_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON telemetry.recent_events TO telemetry_writer;
GRANT SELECT ON telemetry.sparkplug_aliases TO telemetry_reader;
GRANT USAGE ON SEQUENCE telemetry.series_series_id_seq, telemetry.dead_letters_dead_letter_id_seq,
  telemetry.ingest_batches_batch_id_seq TO telemetry_writer;

-- Admin: everything a reader sees, plus the registries and rules.
GRANT telemetry_reader TO telemetry_admin;
GRANT INSERT, UPDATE, DELETE ON telemetry.units, telemetry.unit_aliases, telemetry.metric_rules,
  telemetry.metric_aliases, telemetry.routes, telemetry.sites, telemetry.assets, telemetry.series TO telemetry_admin;
GRANT USAGE ON SEQUENCE telemetry.routes_route_id_seq TO telemetry_admin;
GRANT DELETE ON telemetry.dead_letters TO telemetry_admin;
GRANT USAGE ON SEQUENCE telemetry.series_series_id_seq TO telemetry_admin;
