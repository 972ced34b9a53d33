-- telemetry: the readings hypertable. Its upkeep (reorder_chunks, compression on the
-- Community edition) is in sql/maintenance.sql.

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
    -- In TimescaleDB's schema (see 3. in sql/bootstrap.sql); create_hypertable gets all five arguments with
    -- their exact types, so it resolves to TimescaleDB's signature even on its own.
    EXECUTE pg_catalog.format(
      'SELECT %1$I.create_hypertable(%2$L::pg_catalog.regclass, %1$I.by_range(%3$L::pg_catalog.name, interval %4$L),
                                     false, false, false)',
      (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'timescaledb'),
      'telemetry.readings', 'time', '1 day');
  END IF;
END $$;
