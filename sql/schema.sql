-- telemetry: tables and registries. Loaded first (bootstrap), before the Rust functions.
-- Registries the DBA edits carry a `builtin` flag: rows we ship are builtin, and
-- pg_extension_config_dump keeps only the user's rows so pg_dump/restore round-trips.

-- The install runs as a superuser. Before it runs anything else it makes sure that no other role
-- can have put objects where it looks for them. CREATE EXTENSION starts it with search_path
-- "telemetry, public": any role that may create in public (every database upgraded from
-- PostgreSQL 14 or earlier) could plant a function there that a call without a schema would
-- run with superuser rights (the CVE-2023-39417 class), and a schema telemetry created
-- beforehand by another role would be used as it is, with whatever that role put in it.
--
-- 1. The schema telemetry must be safe to run in: owned by the installing role or another
--    superuser (a dump restored by another superuser than the one who installed creates it with
--    its old owner), with no CREATE for anyone but its owner, and holding no function, operator,
--    type or relation of a role that is not a superuser, other than the extension's own. A
--    schema only superusers can have put things in gives no one rights they do not have
--    already. These checks run with only pg_catalog on the path, since the schema is not
--    trusted yet. (The upgrade scripts start with the same block.)
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
DO $$
DECLARE
  ns pg_catalog.oid;
  schema_owner pg_catalog.oid;
  acl pg_catalog.aclitem[];
  foreign_object text;
BEGIN
  SELECT n.oid, n.nspowner, n.nspacl INTO ns, schema_owner, acl
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'telemetry';
  IF pg_catalog.pg_get_userbyid(schema_owner) <> current_user
     AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = schema_owner) THEN
    RAISE EXCEPTION 'schema telemetry already exists and is owned by %, who is not a superuser', pg_catalog.pg_get_userbyid(schema_owner)
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Its owner could have put objects in it that the install would run as superuser. Inspect it and drop it (DROP SCHEMA telemetry CASCADE), or make it yours (ALTER SCHEMA telemetry OWNER TO ' || pg_catalog.quote_ident(current_user) || ') once you trust what it holds, then try again.';
  END IF;
  SELECT pg_catalog.string_agg(CASE a.grantee WHEN 0 THEN 'PUBLIC'
                               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
    INTO foreign_object
    FROM pg_catalog.aclexplode(acl) a
   WHERE a.privilege_type = 'CREATE' AND a.grantee <> schema_owner;
  IF foreign_object IS NOT NULL THEN
    RAISE EXCEPTION 'schema telemetry already exists and lets % create objects in it', foreign_object
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Only its owner may create in the schema of the extension. Check what those roles put in it, REVOKE CREATE ON SCHEMA telemetry FROM them, then try again.';
  END IF;
  -- Functions, operators, types and relations (a table's row type is a type too), but not what
  -- our own scripts made: members of the extension (an upgrade finds the ingest entry points
  -- owned by telemetry_pipeline).
  SELECT pg_catalog.format('%s (owned by %s)', pg_catalog.pg_describe_object(o.classid, o.objid, 0),
                           pg_catalog.pg_get_userbyid(o.owner))
    INTO foreign_object
    FROM (SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.proowner
            FROM pg_catalog.pg_proc p WHERE p.pronamespace = ns
          UNION ALL
          SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner
            FROM pg_catalog.pg_operator o WHERE o.oprnamespace = ns
          UNION ALL
          SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typowner
            FROM pg_catalog.pg_type t WHERE t.typnamespace = ns AND t.typrelid = 0 AND t.typcategory <> 'A'
          UNION ALL
          SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner
            FROM pg_catalog.pg_class c WHERE c.relnamespace = ns AND c.relkind NOT IN ('i', 'I', 't')
         ) AS o (classid, objid, owner)
    JOIN pg_catalog.pg_roles r ON r.oid = o.owner
   WHERE NOT r.rolsuper
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                      WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e'
                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND e.extname = 'telemetry')
   ORDER BY 1 LIMIT 1;
  IF foreign_object IS NOT NULL THEN
    RAISE EXCEPTION 'schema telemetry holds % of a role that is not a superuser', foreign_object
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'It would be used with superuser rights. Drop it, or the schema (DROP SCHEMA telemetry CASCADE), then try again.';
  END IF;
END $$;

-- 2. From here on the script resolves names in telemetry (checked above; pgrx creates the Rust
--    functions without a schema, so telemetry must come first), then pg_catalog, never public.
--    Built-in functions are still named with pg_catalog, and the plpgsql and SQL functions we
--    ship pin their own search_path or name every object, so that they are safe when they run,
--    under the caller's search_path, too.
SELECT pg_catalog.set_config('search_path', 'telemetry, pg_catalog, pg_temp', true);

-- 3. TimescaleDB's functions are called with their schema, looked up in pg_extension (it is
--    public only by default). A schema name alone does not make a call safe: a role that may
--    create in that schema can add an overload that matches our arguments better than
--    TimescaleDB's polymorphic ones (by_range(name, anyelement, regproc) loses to a planted
--    by_range(name, interval), add_compression_policy(regclass, "any", ...) to one taking an
--    interval), and no cast can make an argument match anyelement or "any" exactly. So the
--    install refuses when a function of the names it calls exists in that schema and is not a
--    member of the timescaledb extension: then every candidate a call can resolve to is
--    TimescaleDB's own. pg_proc is locked in SHARE mode until the install commits, so that no
--    function can be created or renamed between this check and the calls, here or in the files
--    loaded after this one. timescaledb_information.chunks, used by telemetry.reorder_chunks(),
--    lives in a schema TimescaleDB creates itself (its install fails if it exists) and only
--    TimescaleDB's owner can create in it.
DO $$
DECLARE
  planted text;
BEGIN
  LOCK TABLE pg_catalog.pg_proc IN SHARE MODE;
  SELECT pg_catalog.string_agg(pg_catalog.format('%s (owned by %s)', p.oid::pg_catalog.regprocedure,
                                                 pg_catalog.pg_get_userbyid(p.proowner)), ', '
                               ORDER BY p.oid::pg_catalog.regprocedure::text)
    INTO planted
    FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_proc p ON p.pronamespace = e.extnamespace
   WHERE e.extname = 'timescaledb'
     AND p.proname = ANY (ARRAY['create_hypertable', 'by_range', 'add_compression_policy'])
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        AND d.objid = p.oid
                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND d.refobjid = e.oid
                        AND d.deptype = 'e');
  IF planted IS NOT NULL THEN
    RAISE EXCEPTION 'not installing telemetry: the schema of TimescaleDB holds functions the install would call that are not part of the timescaledb extension: %', planted
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The install calls TimescaleDB''s function of that name as superuser, and this one could be called instead. Find out who created it and why, drop it, and revoke CREATE on that schema from roles that need not create there; then run CREATE EXTENSION telemetry again.';
  END IF;
END $$;

CREATE TYPE telemetry.validation_status AS ENUM
  ('ok', 'below_min', 'above_max', 'not_finite', 'missing', 'unknown_metric');

CREATE TABLE telemetry.units (
    unit        text PRIMARY KEY CHECK (pg_catalog.length(unit) BETWEEN 1 AND 64),
    dimension   text NOT NULL CHECK (pg_catalog.length(dimension) BETWEEN 1 AND 64),
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
    alias   text PRIMARY KEY CHECK (pg_catalog.length(alias) BETWEEN 1 AND 64),
    unit    text NOT NULL REFERENCES telemetry.units (unit) ON UPDATE CASCADE ON DELETE CASCADE,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.unit_aliases IS
  'Other spellings of a unit as devices send them ("celsius", "°C", "C", "KW"). Matched exactly first, then case-insensitively when that is unambiguous.';
COMMENT ON COLUMN telemetry.unit_aliases.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

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

CREATE TABLE telemetry.sites (
    site_id     text PRIMARY KEY CHECK (pg_catalog.length(site_id) BETWEEN 1 AND 128),
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
    asset_id    text NOT NULL CHECK (pg_catalog.length(asset_id) BETWEEN 1 AND 128),
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
    site_id     text NOT NULL CHECK (pg_catalog.length(site_id) BETWEEN 1 AND 128),
    asset_id    text NOT NULL CHECK (pg_catalog.length(asset_id) BETWEEN 1 AND 128),
    sensor_id   text NOT NULL DEFAULT '' CHECK (pg_catalog.length(sensor_id) <= 128),
    metric      text NOT NULL REFERENCES telemetry.metric_rules (metric) ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (site_id, asset_id, sensor_id, metric)
);
COMMENT ON TABLE telemetry.series IS
  'One row per (site, asset, sensor, metric). Readings carry the small integer series_id instead of repeating the text, which keeps rows small.';
COMMENT ON COLUMN telemetry.series.sensor_id IS 'Sensor within the asset; empty when the asset has one sensor per metric.';
COMMENT ON COLUMN telemetry.series.metric IS 'Canonical metric; its unit in telemetry.metric_rules is the unit of every stored value.';

CREATE TABLE telemetry.readings (
    time           timestamptz NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
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
  IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    -- No default index on time alone: readings are read per series, which the unique index
    -- serves with time ordered inside it, and chunk exclusion narrows time ranges; a second
    -- index would cost about a fifth of the disk and of the insert work.
    -- In TimescaleDB's schema (see 3. above); create_hypertable gets all five arguments with
    -- their exact types, so it resolves to TimescaleDB's signature even on its own.
    EXECUTE pg_catalog.format(
      'SELECT %1$I.create_hypertable(%2$L::pg_catalog.regclass, %1$I.by_range(%3$L::pg_catalog.name, interval %4$L),
                                     false, false, false)',
      (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'timescaledb'),
      'telemetry.readings', 'time', '1 day');
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
    received_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
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
