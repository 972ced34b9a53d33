-- telemetry: retention per tier, applied by telemetry.apply_retention(), which
-- telemetry.run_maintenance() (and so the background worker) runs. Raw readings and each rollup
-- tier age out on their own: dropping raw chunks never changes a rollup, since raw readings are
-- dropped only once every tier has materialized them and no late reading of theirs awaits
-- materializing again.

CREATE TABLE telemetry.retention (
    tier         text PRIMARY KEY CHECK (tier IN ('raw', '1m', '5m', '15m', '1h', '1d')),
    keep         interval NOT NULL CHECK (keep > interval '0'),
    archive_with regprocedure CHECK (archive_with IS NULL OR tier = 'raw')
);
COMMENT ON TABLE telemetry.retention IS
  'How long each tier is kept: raw (telemetry.readings) and the rollup tiers 1m, 5m, 15m, 1h and 1d. telemetry.apply_retention() drops the chunks that ended more than keep ago. Defaults from seed 000: raw 90 days, 1m 1 year, 5m 3 years, 15m, 1h and 1d 5 years. telemetry_admin may change keep; archive_with only a superuser.';
COMMENT ON COLUMN telemetry.retention.tier IS 'raw (telemetry.readings) or a rollup tier of telemetry.rollup_tiers() (its materialized rows, telemetry.rollup_<tier>_materialized).';
COMMENT ON COLUMN telemetry.retention.keep IS 'How long the tier keeps its data; whole chunks are dropped once they ended longer ago.';
COMMENT ON COLUMN telemetry.retention.archive_with IS
  'raw only: a function (chunk regclass, range_start timestamptz, range_end timestamptz) called for each chunk of readings before it is dropped, e.g. one that runs COPY ... TO PROGRAM ''gzip > ...''. It runs with the rights of the extension owner; an error in it keeps the chunk (and fails the run). Only a superuser may set it.';

DO $seed$
BEGIN
  IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    INSERT INTO telemetry.retention (tier, keep) VALUES
      ('raw', interval '90 days'), ('1m', interval '1 year'), ('5m', interval '3 years'),
      ('15m', interval '5 years'), ('1h', interval '5 years'), ('1d', interval '5 years');
  END IF;
END $seed$;

-- It drops chunks of tables it owns and calls the archive function a superuser chose, so it runs
-- as the extension owner (SECURITY DEFINER); a transaction-level advisory lock lets one run at
-- a time do the work, a concurrent one returns at once, and a repeated one finds nothing left.
CREATE FUNCTION telemetry.apply_retention(quiet boolean DEFAULT false)
RETURNS TABLE (tier text, chunk text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r telemetry.retention;
  c record;
  rel text;
  cutoff timestamptz;
  tsdb name := (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'timescaledb');
BEGIN
  IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('telemetry.apply_retention')) THEN
    RETURN;
  END IF;
  IF NOT quiet AND telemetry.timescaledb_license() = 'apache' THEN
    RAISE NOTICE 'telemetry: compression of old raw chunks is unavailable on the Apache edition of TimescaleDB (timescaledb.license = apache); raw readings stay uncompressed until retention drops them';
  END IF;
  FOR r IN SELECT * FROM telemetry.retention x ORDER BY x.tier LOOP
    rel := CASE r.tier WHEN 'raw' THEN 'readings' ELSE 'rollup_' || r.tier || '_materialized' END;
    cutoff := pg_catalog.now() - r.keep;
    IF r.tier = 'raw' THEN
      cutoff := least(cutoff,
                      (SELECT pg_catalog.min(coalesce(w.materialized_until, '-infinity')) FROM telemetry.rollup_watermarks w),
                      (SELECT pg_catalog.min(i.bucket) FROM telemetry.rollup_invalidations i));
    END IF;
    CONTINUE WHEN NOT pg_catalog.isfinite(cutoff);
    IF r.archive_with IS NOT NULL THEN
      FOR c IN SELECT pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::pg_catalog.regclass AS chunk,
                      ch.range_start, ch.range_end
                 FROM timescaledb_information.chunks ch
                WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = rel AND ch.range_end <= cutoff
                ORDER BY ch.range_start LOOP
        EXECUTE pg_catalog.format('SELECT %s($1, $2, $3)', r.archive_with::pg_catalog.oid::pg_catalog.regproc)
          USING c.chunk, c.range_start, c.range_end;
      END LOOP;
    END IF;
    FOR chunk IN EXECUTE pg_catalog.format('SELECT %I.drop_chunks(%L::pg_catalog.regclass, older_than => $1)',
                                           tsdb, 'telemetry.' || rel) USING cutoff LOOP
      tier := r.tier;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.apply_retention(boolean) IS
  'apply_retention(quiet => false): drop the chunks of telemetry.readings and of each rollup tier''s materialized rows that ended more than telemetry.retention.keep ago, archiving each raw chunk first through telemetry.retention.archive_with if set; returns the chunks dropped. Rollups are never changed by dropping raw chunks: raw chunks wait until every tier has materialized them (telemetry.rollup_watermarks) and no late reading of theirs awaits materializing again (telemetry.rollup_invalidations). Safe to run concurrently (one run works, the others return at once) and repeatedly. On the Apache edition it says, in one NOTICE, that compression is unavailable (not when quiet). telemetry.run_maintenance() runs it quietly. For telemetry_admin.';

-- pg_dump keeps every row, the defaults as the DBA edited them too.
SELECT pg_catalog.pg_extension_config_dump('telemetry.retention', '');
