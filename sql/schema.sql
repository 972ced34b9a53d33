-- telemetry: tables and registries. Loaded first (bootstrap), before the Rust functions.
-- Registries the DBA edits carry a `builtin` flag: rows we ship are builtin, and
-- pg_extension_config_dump keeps only the user's rows so pg_dump/restore round-trips.

CREATE TYPE telemetry.validation_status AS ENUM
  ('ok', 'below_min', 'above_max', 'not_finite', 'missing', 'unknown_metric');

CREATE TABLE telemetry.units (
    unit        text PRIMARY KEY CHECK (length(unit) BETWEEN 1 AND 64),
    dimension   text NOT NULL CHECK (length(dimension) BETWEEN 1 AND 64),
    factor      double precision NOT NULL CHECK (factor > 0 AND factor < 'Infinity'),
    "offset"    double precision NOT NULL DEFAULT 0 CHECK ("offset" > '-Infinity' AND "offset" < 'Infinity'),
    description text,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.units IS
  'Units of measure. A value v in this unit is (v + offset) * factor in the base unit of its dimension (K, W, J, Pa, m3, m3/s, ...). Codes follow UCUM where UCUM has one.';
COMMENT ON COLUMN telemetry.units.unit IS 'Canonical code, case-sensitive (mW is milliwatt, MW is megawatt).';
COMMENT ON COLUMN telemetry.units.dimension IS 'Physical dimension; only units of the same dimension convert into each other.';
COMMENT ON COLUMN telemetry.units.factor IS 'Multiplier to the base unit of the dimension, applied after the offset.';
COMMENT ON COLUMN telemetry.units."offset" IS 'Added before the factor; non-zero only for affine scales (degC, degF).';
COMMENT ON COLUMN telemetry.units.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

CREATE TABLE telemetry.unit_aliases (
    alias   text PRIMARY KEY CHECK (length(alias) BETWEEN 1 AND 64),
    unit    text NOT NULL REFERENCES telemetry.units (unit) ON UPDATE CASCADE ON DELETE CASCADE,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.unit_aliases IS
  'Other spellings of a unit as devices send them ("celsius", "°C", "C", "KW"). Matched exactly first, then case-insensitively when that is unambiguous.';
COMMENT ON COLUMN telemetry.unit_aliases.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

CREATE TABLE telemetry.metric_rules (
    metric             text PRIMARY KEY CHECK (metric ~ '^[a-z0-9]+(_[a-z0-9]+)*$' AND length(metric) <= 128),
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
    alias   text PRIMARY KEY CHECK (alias ~ '^[a-z0-9]+(_[a-z0-9]+)*$' AND length(alias) <= 128),
    metric  text NOT NULL REFERENCES telemetry.metric_rules (metric) ON UPDATE CASCADE ON DELETE CASCADE,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.metric_aliases IS
  'Vendor metric names mapped to canonical ones. Aliases are stored in the normalised snake_case form telemetry.normalize_metric() produces before it looks them up.';
COMMENT ON COLUMN telemetry.metric_aliases.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

CREATE TABLE telemetry.sites (
    site_id     text PRIMARY KEY CHECK (length(site_id) BETWEEN 1 AND 128),
    name        text,
    timezone    text,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    attributes  jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE telemetry.sites IS 'Sites (solar farm, wind farm, BESS, well pad, farm) used to enrich readings.';
COMMENT ON COLUMN telemetry.sites.timezone IS 'IANA time zone of the site, for local-time reports.';
COMMENT ON COLUMN telemetry.sites.attributes IS 'Free-form site metadata.';

CREATE TABLE telemetry.assets (
    site_id     text NOT NULL REFERENCES telemetry.sites (site_id) ON UPDATE CASCADE,
    asset_id    text NOT NULL CHECK (length(asset_id) BETWEEN 1 AND 128),
    asset_type  text,
    name        text,
    attributes  jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (site_id, asset_id)
);
COMMENT ON TABLE telemetry.assets IS 'Assets (inverter, turbine, battery rack, pump, barn sensor) within a site.';
COMMENT ON COLUMN telemetry.assets.asset_type IS 'Kind of asset, e.g. inverter, turbine, battery_rack, esp_pump.';
COMMENT ON COLUMN telemetry.assets.attributes IS 'Free-form asset metadata (model, capacity, commissioning date).';

CREATE TABLE telemetry.series (
    series_id   integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    site_id     text NOT NULL CHECK (length(site_id) BETWEEN 1 AND 128),
    asset_id    text NOT NULL CHECK (length(asset_id) BETWEEN 1 AND 128),
    sensor_id   text NOT NULL DEFAULT '' CHECK (length(sensor_id) <= 128),
    metric      text NOT NULL REFERENCES telemetry.metric_rules (metric) ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, asset_id, sensor_id, metric)
);
COMMENT ON TABLE telemetry.series IS
  'One row per (site, asset, sensor, metric). Readings carry the small integer series_id instead of repeating the text, which keeps rows small.';
COMMENT ON COLUMN telemetry.series.sensor_id IS 'Sensor within the asset; empty when the asset has one sensor per metric.';
COMMENT ON COLUMN telemetry.series.metric IS 'Canonical metric; its unit in telemetry.metric_rules is the unit of every stored value.';

CREATE TABLE telemetry.readings (
    time           timestamptz NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    value          double precision NOT NULL,
    series_id      integer NOT NULL,
    quality        real NOT NULL DEFAULT 1 CHECK (quality BETWEEN 0 AND 1),
    flags          integer NOT NULL DEFAULT 0,
    source_quality smallint NOT NULL DEFAULT 0 CHECK (source_quality IN (0, 1, 2)),
    UNIQUE (series_id, time)
);
-- Columns are ordered widest first so the row has no alignment padding.
COMMENT ON TABLE telemetry.readings IS
  'The hypertable of readings (1-day chunks): one row per series and source time, value in the canonical unit of its metric.';
COMMENT ON COLUMN telemetry.readings.time IS 'Source timestamp of the reading.';
COMMENT ON COLUMN telemetry.readings.ingested_at IS 'When the database stored the reading.';
COMMENT ON COLUMN telemetry.readings.value IS 'Value in the canonical unit of the series metric.';
COMMENT ON COLUMN telemetry.readings.quality IS 'Quality score 0..1 from telemetry.quality_score().';
COMMENT ON COLUMN telemetry.readings.flags IS 'Bitmask of quality flags; telemetry.flag_names(flags) spells them out.';
COMMENT ON COLUMN telemetry.readings.source_quality IS 'Quality the source reported: 0 good, 1 uncertain, 2 bad (OPC UA severity).';
-- Under pg_restore (after timescaledb_pre_restore()) TimescaleDB's catalog rows in the dump
-- make this a hypertable again; creating it here as well would clash with them.
DO $$
BEGIN
  IF coalesce(current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    -- No default index on time alone: readings are read per series, which the unique index
    -- serves with time ordered inside it, and chunk exclusion narrows time ranges; a second
    -- index would cost about a fifth of the disk and of the insert work.
    PERFORM create_hypertable('telemetry.readings', by_range('time', interval '1 day'),
                              create_default_indexes => false);
  END IF;
END $$;

CREATE TABLE telemetry.dead_letter_messages (
    message_id    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    topic         text,
    topic_bytes   integer,
    payload       bytea,
    payload_bytes integer,
    packet_id     integer,
    retained      boolean,
    redelivered   boolean
);
CREATE INDEX ON telemetry.dead_letter_messages (received_at);
COMMENT ON TABLE telemetry.dead_letter_messages IS
  'Each message that has dead letters, stored once however many of its readings were refused: topic, payload and what the broker said of it. Deleting a message deletes its dead letters.';
COMMENT ON COLUMN telemetry.dead_letter_messages.message_id IS 'Identity of the message; telemetry.dead_letters.message_id names it.';
COMMENT ON COLUMN telemetry.dead_letter_messages.received_at IS 'When the message arrived (the time of the batch when the client gave an infinite one).';
COMMENT ON COLUMN telemetry.dead_letter_messages.topic IS 'The MQTT topic, cut to telemetry.dead_letter_max_topic bytes.';
COMMENT ON COLUMN telemetry.dead_letter_messages.topic_bytes IS 'Length of the original topic in bytes, before any cut.';
COMMENT ON COLUMN telemetry.dead_letter_messages.payload IS 'The raw payload, cut to telemetry.dead_letter_max_payload bytes; payload_bytes keeps the original size.';
COMMENT ON COLUMN telemetry.dead_letter_messages.payload_bytes IS 'Size of the original payload, before any cut.';
COMMENT ON COLUMN telemetry.dead_letter_messages.packet_id IS 'The MQTT packet identifier, when the client passed it on.';
COMMENT ON COLUMN telemetry.dead_letter_messages.retained IS 'The MQTT retain flag, when the client passed it on.';
COMMENT ON COLUMN telemetry.dead_letter_messages.redelivered IS 'The MQTT DUP flag (a redelivery), when the client passed it on.';

CREATE TABLE telemetry.dead_letters (
    dead_letter_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    reason         text NOT NULL CHECK (reason ~ '^[a-z_]+$'),
    detail         text,
    message_id     bigint NOT NULL REFERENCES telemetry.dead_letter_messages (message_id) ON DELETE CASCADE
);
CREATE INDEX ON telemetry.dead_letters (received_at);
CREATE INDEX ON telemetry.dead_letters (reason, received_at);
CREATE INDEX ON telemetry.dead_letters (message_id);
COMMENT ON TABLE telemetry.dead_letters IS
  'Every message or reading that was not stored, with why; the message itself is in telemetry.dead_letter_messages. Nothing is dropped silently.';
COMMENT ON COLUMN telemetry.dead_letters.received_at IS 'When the message arrived, as in telemetry.dead_letter_messages.';
COMMENT ON COLUMN telemetry.dead_letters.reason IS 'Reason code: bad_json, bad_name, implausible_time, no_route, unknown_unit, out_of_range, conflicting_duplicate, pipeline_error, ...';
COMMENT ON COLUMN telemetry.dead_letters.detail IS 'Human-readable detail: which field, which value.';
COMMENT ON COLUMN telemetry.dead_letters.message_id IS 'The message in telemetry.dead_letter_messages this reading or message came in.';
