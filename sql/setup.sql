-- telemetry: what needs the Rust functions: registry triggers, run-time edition
-- detection and pg_dump configuration.

-- Every name in the body carries its schema, so the function is safe under any search_path
-- without a SET clause (which would keep it from being inlined).
CREATE FUNCTION telemetry.timescaledb_license() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(pg_catalog.current_setting('timescaledb.license', true), 'apache') $$;

-- Registry edits must reach the per-backend caches of the Rust functions.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['units', 'unit_aliases', 'metric_rules', 'metric_aliases'] LOOP
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.%I
         FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed()', t);
    EXECUTE pg_catalog.format('COMMENT ON TRIGGER registry_changed ON telemetry.%I IS %L', t,
      'Invalidates the cached registries of every session when this table changes.');
  END LOOP;
END $$;

-- The license is read when the extension is created, never when it is built: the Community
-- edition compresses old chunks of readings; the Apache edition keeps them as they are.
-- add_compression_policy is called in TimescaleDB's schema, which sql/schema.sql checked (and
-- locked) for functions of that name that are not TimescaleDB's.
DO $$
BEGIN
  IF telemetry.timescaledb_license() = 'timescale'
     AND coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    ALTER TABLE telemetry.readings SET (timescaledb.compress,
      timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'time');
    EXECUTE pg_catalog.format('SELECT %I.add_compression_policy(%L::pg_catalog.regclass, interval %L)',
      (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'timescaledb'),
      'telemetry.readings', '7 days');
  END IF;
END $$;

-- pg_dump keeps every row of the registries, shipped rows as the DBA edited them too; under
-- pg_restore the seed is skipped, so the dump's rows are the only ones.
SELECT pg_catalog.pg_extension_config_dump('telemetry.units', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.unit_aliases', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.metric_rules', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.metric_aliases', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.sites', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.assets', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.series', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.series_series_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.dead_letter_messages', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.dead_letter_messages_message_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.dead_letters_dead_letter_id_seq', '');
