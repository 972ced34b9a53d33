-- telemetry: rollup tiers that are always fresh and exact, without the pipeline writing them.
-- Each tier is a view, telemetry.rollup_<tier> (series_id, bucket, summary), read series by
-- series of telemetry.series, over three parts:
-- the rows maintenance materialized in bulk into the table telemetry.rollup_<tier>_materialized
-- for the closed buckets below the tier's watermark (telemetry.rollup_watermarks), except those
-- with late readings since (telemetry.rollup_invalidations, recorded by the ingest pipeline,
-- extension/src/ingest/rollups.rs); and, computed from the raw readings as the view is read,
-- the buckets at or above the watermark and the invalidated ones. So a committed reading is in
-- every tier at once, late data of any age within raw retention is reflected exactly, and
-- ingest of in-order data writes nothing for the rollups. telemetry.materialize_rollups()
-- (which telemetry.run_maintenance() runs) advances the watermarks and re-materializes the
-- invalidated buckets. The summary type, its merge and its accessors are Rust functions
-- (extension/src/rollups/); here are the aggregates over them, the tables, the views,
-- materialize_rollups() and rebuild_rollups().
COMMENT ON TYPE telemetry.summary IS
  'A mergeable summary of the readings of one series over a span of time: count, sum, min, max, first and last by time, mean and M2 (combined by the parallel form of Chan et al., stable for values like 1e9 + small), counts of good / uncertain / bad readings, mean quality score, flags seen, and, from the 5-minute tier up, a relative-error percentile sketch (1 % relative error, see telemetry.percentile()). Combine with telemetry.rollup(), read with telemetry.mean(), telemetry.percentile() and the other accessors. Its text form is JSON.';

CREATE AGGREGATE telemetry.summarize(timestamptz, double precision, real, integer, smallint) (
  SFUNC = telemetry.summarize_trans,
  STYPE = internal,
  FINALFUNC = telemetry.summary_final,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.summarize(timestamptz, double precision, real, integer, smallint) IS
  'summarize(time, value, quality, flags, source_quality): the telemetry.summary of raw readings, with its percentile sketch, e.g. SELECT telemetry.summarize(time, value, quality, flags, source_quality) FROM telemetry.readings WHERE ... Rows with a NULL time or value are skipped; NULL when none is left.';

CREATE AGGREGATE telemetry.rollup(telemetry.summary) (
  SFUNC = telemetry.rollup_trans,
  STYPE = internal,
  FINALFUNC = telemetry.summary_final,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.rollup(telemetry.summary) IS
  'rollup(summary): the summary of all the readings the summaries summarise, e.g. a 2-hour bucket from 1-minute rows: SELECT pg_catalog.date_bin(''2 hours'', bucket, ''2000-01-01''), telemetry.mean(telemetry.rollup(summary)) FROM telemetry.rollup_1m GROUP BY 1. Exact for every field (mean and variance to floating-point rounding); it keeps a percentile sketch only if every input has one (the 1-minute tier has none). NULL inputs are skipped.';

-- How far each tier is materialized, and the late readings' buckets since. One row per tier;
-- NULL until maintenance first finds readings to materialize.
CREATE TABLE telemetry.rollup_watermarks (
    tier               text PRIMARY KEY,
    materialized_until timestamptz
);
COMMENT ON TABLE telemetry.rollup_watermarks IS
  'How far each rollup tier is materialized: telemetry.rollup_<tier>_materialized holds the buckets that begin before materialized_until (NULL: none yet); telemetry.rollup_<tier> computes the later ones from the raw readings. Advanced by telemetry.materialize_rollups(); a tier is never ahead of the tier below it.';
COMMENT ON COLUMN telemetry.rollup_watermarks.tier IS 'A tier of telemetry.rollup_tiers().';
COMMENT ON COLUMN telemetry.rollup_watermarks.materialized_until IS
  'Buckets that begin before it are materialized (a multiple of the tier''s width); NULL: nothing is.';
INSERT INTO telemetry.rollup_watermarks (tier) SELECT r.tier FROM telemetry.rollup_tiers() r;

CREATE TABLE telemetry.rollup_invalidations (
    series_id integer NOT NULL,
    bucket    timestamptz NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
COMMENT ON TABLE telemetry.rollup_invalidations IS
  'The 1-minute buckets of late readings: readings stored for a bucket that was already materialized (its time before the 1-minute watermark). The ingest pipeline records them, one row per series and minute, in the batch''s transaction; until telemetry.materialize_rollups() re-materializes them (and the buckets of every tier that hold them) and deletes the rows, the views compute those buckets from the raw readings.';
COMMENT ON COLUMN telemetry.rollup_invalidations.bucket IS 'Start of the 1-minute bucket.';

COMMENT ON FUNCTION telemetry.rollup_origin() IS
  'rollup_origin(): 1970-01-01 00:00 UTC, where the buckets of every rollup tier start counting, as pg_catalog.date_bin(width, time, telemetry.rollup_origin()) places them.';
-- telemetry.rollup_watermark(tier) is a Rust function (extension/src/rollups/watermark.rs): the
-- views call it for every series, and it reads the table once per snapshot.
COMMENT ON FUNCTION telemetry.rollup_watermark(text) IS
  'rollup_watermark(tier): the tier''s materialized_until in telemetry.rollup_watermarks (NULL: nothing materialized, or no such tier); what the views telemetry.rollup_<tier> read, once per series. It reads the table once per snapshot.';

-- The materialized rows: one hypertable per tier, keyed (series_id, bucket), written only by
-- materialize_rollups() and rebuild_rollups() (owned by the pipeline, see sql/grants.sql);
-- bucket is the start of the bucket, placed as date_bin(width, time, '1970-01-01 UTC') places
-- it. The views: the materialized rows below the watermark that no late reading invalidated,
-- then the buckets at or above the watermark from the raw readings, then the invalidated ones
-- from the raw readings. Quals on series_id and bucket reach every part.
DO $$
DECLARE
  t record;
  width text;
  summary text;
  watermark text;
  tsdb name := (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'timescaledb');
BEGIN
  FOR t IN SELECT r.tier, r.bucket_width, r.percentiles,
                  CASE r.tier WHEN '1m' THEN interval '7 days' WHEN '5m' THEN interval '30 days'
                              WHEN '15m' THEN interval '90 days' WHEN '1h' THEN interval '180 days'
                              ELSE interval '2 years' END AS chunk
             FROM telemetry.rollup_tiers() r LOOP
    EXECUTE pg_catalog.format(
      'CREATE TABLE telemetry.%I (
         series_id integer NOT NULL,
         bucket    timestamptz NOT NULL,
         summary   telemetry.summary NOT NULL,
         PRIMARY KEY (series_id, bucket))', 'rollup_' || t.tier || '_materialized');
    EXECUTE pg_catalog.format('COMMENT ON TABLE telemetry.%I IS %L', 'rollup_' || t.tier || '_materialized',
      pg_catalog.format('The materialized rows of the %s rollup tier (hypertable, %s chunks): one telemetry.summary per series and %s bucket%s, for buckets before its watermark (telemetry.rollup_watermarks), written in bulk by telemetry.materialize_rollups(). An implementation detail: query telemetry.rollup_%s, which is exact at any moment.',
        t.tier, t.chunk, t.bucket_width,
        CASE WHEN t.percentiles THEN ', with a percentile sketch' ELSE ', without percentiles' END, t.tier));
    EXECUTE pg_catalog.format('COMMENT ON COLUMN telemetry.%I.bucket IS %L', 'rollup_' || t.tier || '_materialized',
      'Start of the bucket (UTC-aligned multiples of its width since 1970-01-01).');
    EXECUTE pg_catalog.format('COMMENT ON COLUMN telemetry.%I.summary IS %L', 'rollup_' || t.tier || '_materialized',
      'The summary of the readings of the series in the bucket.');
    IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
      EXECUTE pg_catalog.format(
        'SELECT %1$I.create_hypertable(%2$L::pg_catalog.regclass, %1$I.by_range(%3$L::pg_catalog.name, interval %4$L),
                                       false, false, false)',
        tsdb, 'telemetry.rollup_' || t.tier || '_materialized', 'bucket', t.chunk);
    END IF;
    -- Widths as seconds, so that bucket + width is the same in every time zone.
    width := pg_catalog.format('interval %L', pg_catalog.date_part('epoch', t.bucket_width)::bigint || ' seconds');
    summary := CASE WHEN t.percentiles THEN 'telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality)'
                    ELSE 'telemetry.without_percentiles(telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality))' END;
    watermark := pg_catalog.format('telemetry.rollup_watermark(%L)', t.tier);
    -- Series by series, so that a query for some series (by id, or by site through a join with
    -- telemetry.series) reads only theirs, every part through an index on (series_id, time or
    -- bucket): the materialized rows below the watermark that no late reading invalidated, the
    -- buckets at or above it from the raw readings, and the invalidated ones from the raw
    -- readings. The series' invalidated buckets are read once, as an array that the first
    -- part filters by and the third walks: were the table probed for every materialized row,
    -- the planner would scan it per row once it is analyzed empty. The watermark is a stable
    -- function: TimescaleDB leaves out the chunks before it at executor startup. Plans that
    -- read these views are not JIT-compiled (extension/src/rollups/jit.rs); the origin is
    -- telemetry.rollup_origin(), which planning evaluates, so that the library making that
    -- rule is loaded before the plan runs.
    EXECUTE pg_catalog.format(
      'CREATE VIEW telemetry.%1$I AS
       SELECT s.series_id, x.bucket, x.summary
         FROM telemetry.series s
        CROSS JOIN LATERAL (
              SELECT pg_catalog.array_agg(DISTINCT pg_catalog.date_bin(%4$s, i.bucket, telemetry.rollup_origin())) AS buckets
                FROM telemetry.rollup_invalidations i WHERE i.series_id = s.series_id) late
        CROSS JOIN LATERAL (
              SELECT m.bucket, m.summary
                FROM telemetry.%2$I m
               WHERE m.series_id = s.series_id AND m.bucket < %3$s
                 AND (late.buckets IS NULL OR m.bucket <> ALL (late.buckets))
              UNION ALL
              SELECT pg_catalog.date_bin(%4$s, r.time, telemetry.rollup_origin()), %5$s
                FROM telemetry.readings r
               WHERE r.series_id = s.series_id AND r.time >= coalesce(%3$s, ''-infinity'')
               GROUP BY 1
              UNION ALL
              SELECT i.bucket, x.summary
                FROM pg_catalog.unnest(late.buckets) i (bucket)
               CROSS JOIN LATERAL (
                     SELECT %5$s AS summary
                       FROM telemetry.readings r
                      WHERE r.series_id = s.series_id AND r.time >= i.bucket AND r.time < i.bucket + %4$s) x
               WHERE i.bucket < %3$s AND x.summary IS NOT NULL) x',
      'rollup_' || t.tier, 'rollup_' || t.tier || '_materialized', watermark, width, summary);
    EXECUTE pg_catalog.format('COMMENT ON VIEW telemetry.%I IS %L', 'rollup_' || t.tier,
      pg_catalog.format('The %s rollup tier: one telemetry.summary per series (of telemetry.series) and %s bucket%s, exactly the raw readings at any moment: the materialized rows (telemetry.rollup_%s_materialized) below the watermark that no late reading invalidated, and the rest summarised from telemetry.readings as it is read. Read it with the accessors (telemetry.mean(summary), ...), combine rows with telemetry.rollup(summary), or use telemetry.sensor_readings_%s by name.',
        t.tier, t.bucket_width, CASE WHEN t.percentiles THEN ', with a percentile sketch' ELSE ', without percentiles' END,
        t.tier, t.tier));
    EXECUTE pg_catalog.format(
      'CREATE VIEW telemetry.%I AS
       SELECT r.bucket, s.site_id, s.asset_id, s.sensor_id, s.metric, m.unit, r.series_id, r.summary,
              telemetry.num_vals(r.summary) AS samples, telemetry.mean(r.summary) AS mean,
              telemetry.min_val(r.summary) AS min, telemetry.max_val(r.summary) AS max,
              telemetry.stddev(r.summary) AS stddev, telemetry.good_count(r.summary) AS good_count,
              telemetry.bad_count(r.summary) AS bad_count
         FROM telemetry.%I r
         JOIN telemetry.series s ON s.series_id = r.series_id
         JOIN telemetry.metric_rules m ON m.metric = s.metric', 'sensor_readings_' || t.tier, 'rollup_' || t.tier);
    EXECUTE pg_catalog.format('COMMENT ON VIEW telemetry.%I IS %L', 'sensor_readings_' || t.tier,
      pg_catalog.format('telemetry.rollup_%s by name (site, asset, sensor, metric, unit), with the common accessors as columns; summary is there for the others and for telemetry.rollup().', t.tier));
  END LOOP;
END $$;

CREATE VIEW telemetry.sensor_readings AS
SELECT r.time, s.site_id, s.asset_id, s.sensor_id, s.metric, m.unit, r.value, r.quality, r.flags,
       r.source_quality, r.ingested_at, r.series_id
  FROM telemetry.readings r
  JOIN telemetry.series s ON s.series_id = r.series_id
  JOIN telemetry.metric_rules m ON m.metric = s.metric;
COMMENT ON VIEW telemetry.sensor_readings IS
  'The raw readings by name (site, asset, sensor, metric and the canonical unit of the value), as seed 000''s sensor_readings; telemetry.sensor_readings_1m to _1d are the rollup tiers the same way.';

-- Materialize one tier's buckets that begin in [lo, hi) (and, with keys, only those of the
-- (series, 1-minute bucket) pairs given) from its source: the raw readings, or the tier below
-- when that one keeps percentiles. Rows there are replaced. Returns the buckets written.
CREATE FUNCTION telemetry.materialize_tier(tier text, lo timestamptz, hi timestamptz,
                                           key_series integer[] DEFAULT NULL, key_buckets timestamptz[] DEFAULT NULL,
                                           series_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
  target text := pg_catalog.format('telemetry.%I', 'rollup_' || materialize_tier.tier || '_materialized');
  source text;
  summary text;
  at text;
  keys text;
  n bigint;
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  SELECT x.* INTO t FROM (SELECT r.tier, r.percentiles,
                                 pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', r.bucket_width)::float8) AS width,
                                 pg_catalog.lag(r.tier) OVER w AS below_tier, pg_catalog.lag(r.percentiles) OVER w AS below_percentiles
                            FROM telemetry.rollup_tiers() WITH ORDINALITY r WINDOW w AS (ORDER BY r.ordinality)) x
   WHERE x.tier = materialize_tier.tier;
  IF coalesce(t.below_percentiles, false) THEN
    source := pg_catalog.format('telemetry.%I', 'rollup_' || t.below_tier || '_materialized');
    at := 'bucket';
    summary := 'telemetry.rollup(s.summary)';
  ELSE
    source := 'telemetry.readings';
    at := 'time';
    summary := CASE WHEN t.percentiles THEN 'telemetry.summarize(s.time, s.value, s.quality, s.flags, s.source_quality)'
                    ELSE 'telemetry.without_percentiles(telemetry.summarize(s.time, s.value, s.quality, s.flags, s.source_quality))' END;
  END IF;
  IF key_series IS NULL THEN
    EXECUTE pg_catalog.format('DELETE FROM %s m WHERE m.bucket >= $1 AND m.bucket < $2 AND ($3 IS NULL OR m.series_id = $3)', target)
      USING lo, hi, materialize_tier.series_id;
    EXECUTE pg_catalog.format(
      'INSERT INTO %s (series_id, bucket, summary)
       SELECT s.series_id, pg_catalog.date_bin($1, s.%I, $2), %s FROM %s s
        WHERE s.%2$I >= $3 AND s.%2$I < $4 AND ($5 IS NULL OR s.series_id = $5) GROUP BY 1, 2',
      target, at, summary, source) USING t.width, origin, lo, hi, materialize_tier.series_id;
  ELSE
    keys := 'SELECT DISTINCT k.s, pg_catalog.date_bin($1, k.b, $2) AS b
               FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.timestamptz[])) AS k (s, b)
              WHERE pg_catalog.date_bin($1, k.b, $2) >= $5 AND pg_catalog.date_bin($1, k.b, $2) < $6';
    EXECUTE pg_catalog.format('DELETE FROM %s m USING (%s) k WHERE m.series_id = k.s AND m.bucket = k.b', target, keys)
      USING t.width, origin, key_series, key_buckets, lo, hi;
    EXECUTE pg_catalog.format(
      'INSERT INTO %s (series_id, bucket, summary)
       SELECT k.s, k.b, %s FROM (%s) k JOIN %s s ON s.series_id = k.s AND s.%I >= k.b AND s.%5$I < k.b + $1
        GROUP BY 1, 2',
      target, summary, keys, source, at) USING t.width, origin, key_series, key_buckets, lo, hi;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION telemetry.materialize_tier(text, timestamptz, timestamptz, integer[], timestamptz[], integer) IS
  'materialize_tier(tier, lo, hi, key_series => NULL, key_buckets => NULL, series_id => NULL): internal to telemetry.materialize_rollups() and telemetry.rebuild_rollups(): replace the materialized rows of the tier''s buckets that begin in [lo, hi) (of one series, or of the (series, 1-minute bucket) pairs given) by the summary of their source, the raw readings or the tier below when that one keeps percentiles; returns the rows written.';

-- Maintenance: the closed buckets in bulk, set-wise, and the invalidated ones again. Batches
-- that store readings take the advisory lock 'telemetry.rollup_watermark' shared before they
-- read the 1-minute watermark and hold it to their commit; this run takes it exclusively, so
-- it waits for the batches that read the old watermark to commit (its statements then see
-- their readings) and later batches read the new one (and record what they add below it as
-- late). Batches wait for a run meanwhile: max_buckets bounds it.
CREATE FUNCTION telemetry.materialize_rollups(max_buckets bigint DEFAULT 100000, settle interval DEFAULT '1 minute',
                                              quiet boolean DEFAULT false, lock_wait interval DEFAULT '2 seconds')
RETURNS TABLE (tier text, materialized_until timestamptz, buckets bigint, rematerialized bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
  inv_series integer[];
  inv_buckets timestamptz[];
  below timestamptz;
  first boolean := true;
  closed timestamptz;
  upto timestamptz;
  width interval;
  span bigint;
  saved_timeout text;
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  IF max_buckets IS NULL OR max_buckets < 1 OR settle IS NULL OR settle < interval '0'
     OR lock_wait IS NULL OR lock_wait <= interval '0' THEN
    RAISE EXCEPTION 'materialize_rollups: max_buckets (%) must be at least 1, settle (%) not negative and lock_wait (%) positive',
      max_buckets, settle, lock_wait
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('telemetry.materialize_rollups')) THEN
    RETURN;
  END IF;
  -- While this waits, batches that would take the lock wait behind it: an ingest transaction
  -- left open would stall them all, so give up after lock_wait and try again next run.
  saved_timeout := pg_catalog.current_setting('lock_timeout');
  PERFORM pg_catalog.set_config('lock_timeout', (pg_catalog.date_part('epoch', lock_wait) * 1000)::bigint::text, true);
  BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('telemetry.rollup_watermark'));
  EXCEPTION WHEN lock_not_available THEN
    PERFORM pg_catalog.set_config('lock_timeout', saved_timeout, true);
    RAISE WARNING 'telemetry: rollups not materialized this run: an ingest transaction held the watermark lock for more than %', lock_wait
      USING HINT = 'Look for sessions idle in a transaction that ingested (pg_stat_activity).';
    RETURN;
  END;
  PERFORM pg_catalog.set_config('lock_timeout', saved_timeout, true);
  -- A new statement, a new snapshot: every batch that read the old watermark has committed.
  SELECT pg_catalog.array_agg(i.series_id ORDER BY i.series_id, i.bucket), pg_catalog.array_agg(i.bucket ORDER BY i.series_id, i.bucket)
    INTO inv_series, inv_buckets
    FROM (SELECT x.series_id, x.bucket FROM telemetry.rollup_invalidations x ORDER BY 1, 2 LIMIT max_buckets) i;
  DELETE FROM telemetry.rollup_invalidations x
   USING ROWS FROM (pg_catalog.unnest(inv_series), pg_catalog.unnest(inv_buckets)) AS k (s, b)
   WHERE x.series_id = k.s AND x.bucket = k.b;
  span := greatest(1, max_buckets / greatest(1, (SELECT pg_catalog.count(*) FROM telemetry.series)));
  FOR t IN SELECT r.tier, r.bucket_width, x.materialized_until AS until
             FROM telemetry.rollup_tiers() WITH ORDINALITY r JOIN telemetry.rollup_watermarks x ON x.tier = r.tier
            ORDER BY r.ordinality LOOP
    tier := t.tier;
    width := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', t.bucket_width)::float8);
    materialized_until := t.until;
    rematerialized := 0;
    buckets := 0;
    -- Late readings: their buckets of this tier again, below the watermark (the tiers below
    -- were done first).
    IF materialized_until IS NOT NULL AND inv_series IS NOT NULL THEN
      rematerialized := telemetry.materialize_tier(t.tier, '-infinity', materialized_until, inv_series, inv_buckets);
    END IF;
    -- Closed buckets, never past the tier below; the first time from the oldest reading.
    closed := pg_catalog.date_bin(width, pg_catalog.now() - settle, origin);
    IF NOT first THEN
      closed := least(closed, pg_catalog.date_bin(width, coalesce(below, '-infinity'), origin));
    END IF;
    IF materialized_until IS NULL THEN
      materialized_until := pg_catalog.date_bin(width, (SELECT pg_catalog.min(r.time) FROM telemetry.readings r), origin);
    END IF;
    IF materialized_until < closed THEN
      -- At most span buckets from the first that holds readings; the rest at once if none does.
      upto := least(closed, coalesce(pg_catalog.date_bin(width, (SELECT pg_catalog.min(r.time) FROM telemetry.readings r
                                                                   WHERE r.time >= materialized_until AND r.time < closed), origin),
                                     closed) + width * span);
      IF NOT EXISTS (SELECT FROM telemetry.readings r WHERE r.time >= upto AND r.time < closed) THEN
        upto := closed;
      END IF;
      buckets := telemetry.materialize_tier(t.tier, materialized_until, upto);
      materialized_until := upto;
      UPDATE telemetry.rollup_watermarks x SET materialized_until = upto WHERE x.tier = t.tier;
      IF upto < closed THEN
        IF quiet THEN
          RAISE LOG 'telemetry: rollup tier % materialized until %; the next runs go on from there', t.tier, upto;
        ELSE
          RAISE NOTICE 'telemetry: rollup tier % materialized until %; the next runs go on from there', t.tier, upto;
        END IF;
      END IF;
    END IF;
    below := materialized_until;
    first := false;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) IS
  'materialize_rollups(max_buckets => 100000, settle => ''1 minute'', quiet => false, lock_wait => ''2 seconds''): materialize the rollup tiers: first the buckets of late readings again (telemetry.rollup_invalidations, at most max_buckets of them, and their buckets in every tier), then the closed buckets (ended at least settle ago) after each tier''s watermark, in bulk from the raw readings (1m and 5m) or the tier below (15m, 1h, 1d), at most about max_buckets per tier, advancing the watermark; a catch-up that needs more runs says how far it got in a NOTICE (a LOG line when quiet). Returns per tier its watermark, the buckets materialized and the buckets re-materialized. The views telemetry.rollup_<tier> are exact whether it ran or not; it makes them cheap. Ingest waits while it runs; if ingest transactions keep it waiting for the watermark lock longer than lock_wait, it gives up with a WARNING and returns no rows (the next run tries again). Safe to run concurrently (one run works, the others return at once) and repeatedly. telemetry.run_maintenance() runs it quietly, before retention. Bad arguments raise 22023. For telemetry_admin.';

-- Rebuild: what a DBA runs after deleting or changing readings behind the pipeline's back
-- (merge_metric calls it for the series it converts or joins): the materialized rows of the
-- range again from the raw readings, under the same locks as maintenance. Buckets that begin
-- before the oldest chunk of raw readings left are never touched: retention may have dropped
-- their readings. Buckets at or above a watermark are computed from raw anyway.
CREATE FUNCTION telemetry.rebuild_rollups(series_id integer DEFAULT NULL, since timestamptz DEFAULT NULL,
                                          until timestamptz DEFAULT NULL)
RETURNS TABLE (tier text, buckets bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
  oldest timestamptz;
  lo timestamptz;
  hi timestamptz;
  width interval;
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  IF NOT (since IS NULL OR pg_catalog.isfinite(since)) OR NOT (until IS NULL OR pg_catalog.isfinite(until))
     OR since >= until THEN
    RAISE EXCEPTION 'rebuild_rollups: since (%) and until (%) must be finite with since before until', since, until
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('telemetry.materialize_rollups'));
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('telemetry.rollup_watermark'));
  SELECT pg_catalog.min(ch.range_start) INTO oldest
    FROM timescaledb_information.chunks ch
   WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = 'readings';
  FOR t IN SELECT r.tier, r.bucket_width, x.materialized_until AS until
             FROM telemetry.rollup_tiers() WITH ORDINALITY r JOIN telemetry.rollup_watermarks x ON x.tier = r.tier
            ORDER BY r.ordinality LOOP
    tier := t.tier;
    buckets := 0;
    width := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', t.bucket_width)::float8);
    IF oldest IS NOT NULL AND t.until IS NOT NULL THEN
      -- Whole buckets only, from the later of since and the oldest raw chunk, below the watermark.
      lo := pg_catalog.date_bin(width, GREATEST(since, oldest), origin);
      IF lo < oldest THEN
        lo := lo + width;
      END IF;
      hi := CASE WHEN until IS NULL THEN t.until
                 WHEN pg_catalog.date_bin(width, until, origin) = until THEN least(until, t.until)
                 ELSE least(pg_catalog.date_bin(width, until, origin) + width, t.until) END;
      IF lo < hi THEN
        buckets := telemetry.materialize_tier(t.tier, lo, hi, series_id => rebuild_rollups.series_id);
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) IS
  'rebuild_rollups(series_id => NULL, since => NULL, until => NULL): recompute the materialized rollup rows from the raw readings, for one series or all, for the buckets that overlap [since, until) (NULL: unbounded), and return how many buckets each tier now holds materialized there. For after readings were deleted or changed other than by ingest (what ingest stores needs nothing). Buckets that begin before the oldest chunk of raw readings are left as they are (their readings may be gone by retention). Waits for a maintenance run and holds up ingest while it runs. Bad ranges raise 22023. For telemetry_admin.';
