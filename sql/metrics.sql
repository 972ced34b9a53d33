-- telemetry: metrics (telemetry.normalize_metric(), telemetry.metric_unit(), telemetry.validate()):
-- each canonical metric's unit and rules, vendor names for them, and the rows shipped in both
-- (builtin = true, from sql/vocabulary/ through telemetry.load_vocabulary()). Metrics the
-- pipeline registers on first sight are in sql/metric_registration.sql.

CREATE TABLE telemetry.metric_rules (
    metric             text PRIMARY KEY CHECK (metric ~ '^[a-z0-9]+(_[a-z0-9]+)*$' AND pg_catalog.length(metric) <= 128),
    unit               text NOT NULL REFERENCES telemetry.units (unit) ON UPDATE CASCADE,
    valid_min          double precision CHECK (valid_min > '-Infinity' AND valid_min < 'Infinity'),
    valid_max          double precision CHECK (valid_max > '-Infinity' AND valid_max < 'Infinity'),
    max_rate_of_change double precision CHECK (max_rate_of_change > 0 AND max_rate_of_change < 'Infinity'),
    expected_interval  interval CHECK (expected_interval > interval '0'),
    description        text,
    builtin            boolean NOT NULL DEFAULT false,
    reviewed           boolean NOT NULL DEFAULT true,
    CHECK (valid_min IS NULL OR valid_max IS NULL OR valid_min <= valid_max)
);
COMMENT ON TABLE telemetry.metric_rules IS
  'One row per canonical metric: its canonical unit and the rules readings of it must meet.';
COMMENT ON COLUMN telemetry.metric_rules.metric IS 'Canonical metric name, snake_case.';
COMMENT ON COLUMN telemetry.metric_rules.unit IS 'Canonical unit: readings are stored converted to it.';
COMMENT ON COLUMN telemetry.metric_rules.valid_min IS 'Lowest valid value in the canonical unit (NULL: no lower bound).';
COMMENT ON COLUMN telemetry.metric_rules.valid_max IS 'Highest valid value in the canonical unit (NULL: no upper bound).';
COMMENT ON COLUMN telemetry.metric_rules.max_rate_of_change IS 'Largest plausible change per second, in the canonical unit (NULL: not checked).';
COMMENT ON COLUMN telemetry.metric_rules.expected_interval IS 'How often a reading is expected; later than this the series is stale.';
COMMENT ON COLUMN telemetry.metric_rules.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';
COMMENT ON COLUMN telemetry.metric_rules.reviewed IS 'False for a metric the pipeline registered on first sight (telemetry.metrics_to_review): its readings are flagged no_rule and validated only against a range its source declared. Set it true once the rule is right.';

CREATE TABLE telemetry.metric_aliases (
    alias   text PRIMARY KEY CHECK (alias ~ '^[a-z0-9]+(_[a-z0-9]+)*$' AND pg_catalog.length(alias) <= 128),
    metric  text NOT NULL REFERENCES telemetry.metric_rules (metric) ON UPDATE CASCADE ON DELETE CASCADE,
    builtin boolean NOT NULL DEFAULT false,
    sensor  text CHECK (pg_catalog.length(sensor) BETWEEN 1 AND 128 AND sensor !~ '[[:cntrl:]]')
);
COMMENT ON TABLE telemetry.metric_aliases IS
  'Vendor metric names mapped to canonical ones. Aliases are stored in the normalised snake_case form telemetry.normalize_metric() produces before it looks them up.';
COMMENT ON COLUMN telemetry.metric_aliases.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';
COMMENT ON COLUMN telemetry.metric_aliases.sensor IS 'A sensor the name implies (the phase of voltage_l1, the blade of pitch_angle_2), appended to the reading''s sensor with a /; NULL for none.';

-- The shipped vocabulary (sql/vocabulary/). Under pg_restore (after timescaledb_pre_restore())
-- the dump brings these rows, as edited.
DO $seed$
BEGIN
  IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    PERFORM telemetry.load_vocabulary();
  END IF;
END $seed$;

-- Registry edits must reach the per-backend caches of the Rust functions.
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.metric_rules
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed();
COMMENT ON TRIGGER registry_changed ON telemetry.metric_rules IS 'Invalidates the cached registries of every session when this table changes.';
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.metric_aliases
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed();
COMMENT ON TRIGGER registry_changed ON telemetry.metric_aliases IS 'Invalidates the cached registries of every session when this table changes.';

-- pg_dump keeps every row, shipped rows as the DBA edited them too.
SELECT pg_catalog.pg_extension_config_dump('telemetry.metric_rules', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.metric_aliases', '');
