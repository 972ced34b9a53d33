-- telemetry: metrics (telemetry.normalize_metric(), telemetry.metric_unit(), telemetry.validate()):
-- each canonical metric's unit and rules, vendor names for them, and the rows shipped in both
-- (builtin = true).

CREATE TABLE telemetry.metric_rules (
    metric             text PRIMARY KEY CHECK (metric ~ '^[a-z0-9]+(_[a-z0-9]+)*$' AND pg_catalog.length(metric) <= 128),
    unit               text NOT NULL REFERENCES telemetry.units (unit) ON UPDATE CASCADE,
    valid_min          double precision CHECK (valid_min > '-Infinity' AND valid_min < 'Infinity'),
    valid_max          double precision CHECK (valid_max > '-Infinity' AND valid_max < 'Infinity'),
    max_rate_of_change double precision CHECK (max_rate_of_change > 0 AND max_rate_of_change < 'Infinity'),
    expected_interval  interval CHECK (expected_interval > interval '0'),
    description        text,
    builtin            boolean NOT NULL DEFAULT false,
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

CREATE TABLE telemetry.metric_aliases (
    alias   text PRIMARY KEY CHECK (alias ~ '^[a-z0-9]+(_[a-z0-9]+)*$' AND pg_catalog.length(alias) <= 128),
    metric  text NOT NULL REFERENCES telemetry.metric_rules (metric) ON UPDATE CASCADE ON DELETE CASCADE,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.metric_aliases IS
  'Vendor metric names mapped to canonical ones. Aliases are stored in the normalised snake_case form telemetry.normalize_metric() produces before it looks them up.';
COMMENT ON COLUMN telemetry.metric_aliases.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

-- Under pg_restore (after timescaledb_pre_restore()) the dump brings these rows, as edited.
DO $seed$
BEGIN
IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') = 'on' THEN
  RETURN;
END IF;

-- Ranges from the seed documents: 002 (ESP pumps), 003 (dairy farm), 000 (solar, wind, BESS).
INSERT INTO telemetry.metric_rules
  (metric, unit, valid_min, valid_max, max_rate_of_change, expected_interval, description, builtin)
VALUES
  ('temperature',         'Cel',          -50,  200,   NULL, NULL,        'Equipment temperature (ESP motor: -50..200 degC)', true),
  ('ambient_temperature', 'Cel',          -40,  70,    1,    '1 minute',  'Outdoor or barn air temperature (industrial range -40..70 degC)', true),
  ('humidity',            '%',            0,    100,   NULL, '1 minute',  'Relative humidity', true),
  ('nh3',                 '[ppm]',        0,    100,   NULL, '1 minute',  'Ammonia concentration in a barn', true),
  ('activity_level',      '{count}',      0,    1000,  NULL, NULL,        'Animal activity (steps per interval)', true),
  ('rumination',          'min',          0,    1440,  NULL, '1 day',     'Rumination time per day', true),
  ('body_temperature',    'Cel',          35,   42,    NULL, NULL,        'Animal body temperature', true),
  ('milk_volume',         'mL',           0,    50000, NULL, NULL,        'Milk volume per milking', true),
  ('vibration',           'mm/s',         0,    NULL,  NULL, '1 minute',  'Vibration velocity', true),
  ('pressure',            'kPa',          0,    NULL,  NULL, '1 minute',  'Line or tubing pressure', true),
  ('intake_pressure',     'kPa',          0,    NULL,  NULL, '1 minute',  'ESP pump intake pressure', true),
  ('discharge_pressure',  'kPa',          0,    NULL,  NULL, '1 minute',  'ESP pump discharge pressure', true),
  ('flow_rate',           'm3/h',         0,    NULL,  NULL, '1 minute',  'Volumetric flow rate', true),
  ('motor_current',       'A',            0,    NULL,  NULL, '1 minute',  'Motor current', true),
  ('motor_speed',         'rpm',          0,    NULL,  NULL, '1 minute',  'Motor or shaft speed', true),
  ('active_power',        'kW',           NULL, NULL,  NULL, '1 second',  'Active power; negative when a battery charges', true),
  ('reactive_power',      'kvar',         NULL, NULL,  NULL, '1 second',  'Reactive power', true),
  ('energy',              'kWh',          0,    NULL,  NULL, '1 minute',  'Energy meter reading', true),
  ('voltage',             'V',            0,    NULL,  NULL, '1 second',  'Voltage', true),
  ('current',             'A',            NULL, NULL,  NULL, '1 second',  'Current; negative when a battery charges', true),
  ('frequency',           'Hz',           45,   65,    NULL, '1 second',  'Grid frequency', true),
  ('power_factor',        '1',            -1,   1,     NULL, '1 second',  'Power factor', true),
  ('state_of_charge',     '%',            0,    100,   NULL, '10 seconds', 'Battery state of charge', true),
  ('state_of_health',     '%',            0,    100,   NULL, '1 day',     'Battery state of health', true),
  ('cell_voltage',        'V',            0,    5,     NULL, '10 seconds', 'Battery cell voltage', true),
  ('irradiance',          'W/m2',         0,    1500,  NULL, '1 second',  'Solar irradiance (plane of array or global horizontal)', true),
  ('wind_speed',          'm/s',          0,    75,    NULL, '1 second',  'Wind speed at hub height', true),
  ('wind_direction',      'deg',          0,    360,   NULL, '1 second',  'Wind direction', true);

INSERT INTO telemetry.metric_aliases (alias, metric, builtin)
SELECT alias, metric, true FROM (VALUES
  ('temp', 'temperature'), ('motor_temperature', 'temperature'), ('motor_temp', 'temperature'),
  ('air_temperature', 'ambient_temperature'), ('outdoor_temperature', 'ambient_temperature'),
  ('relative_humidity', 'humidity'), ('rh', 'humidity'), ('humidity_percent', 'humidity'),
  ('ammonia', 'nh3'), ('activity', 'activity_level'), ('activity_index', 'activity_level'),
  ('rumination_minutes', 'rumination'), ('body_temp', 'body_temperature'),
  ('body_temperature_celsius', 'body_temperature'), ('milk_volume_ml', 'milk_volume'),
  ('flow', 'flow_rate'), ('rpm', 'motor_speed'), ('speed_rpm', 'motor_speed'),
  ('active_power_kw', 'active_power'), ('p_ac', 'active_power'), ('power', 'active_power'),
  ('reactive_power_kvar', 'reactive_power'), ('energy_kwh', 'energy'), ('freq', 'frequency'),
  ('grid_frequency', 'frequency'), ('pf', 'power_factor'), ('soc', 'state_of_charge'),
  ('soh', 'state_of_health'), ('ghi', 'irradiance'), ('poa_irradiance', 'irradiance'),
  ('windspeed', 'wind_speed'), ('winddirection', 'wind_direction')
) AS a (alias, metric);
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
