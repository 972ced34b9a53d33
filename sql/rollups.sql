-- telemetry: rollup tiers. Each tier table holds one telemetry.summary per series and bucket,
-- folded in by the ingest pipeline in the batch's own transaction (extension/src/ingest/rollups.rs),
-- so a committed reading is in every tier at once and late, out-of-order or repeated readings
-- leave every tier equal to aggregating the raw readings. The summary type, its merge and its
-- accessors are Rust functions (extension/src/rollups/); here are the aggregates over them, the
-- tier tables, the views by name, and telemetry.rebuild_rollups().

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

-- The tier tables: one hypertable per tier, keyed (series_id, bucket). Written only by the
-- pipeline (which owns them, see sql/grants.sql); bucket is the start of the bucket, placed as
-- date_bin(width, time, '1970-01-01 UTC') places it. A row is updated by every batch that has
-- readings of its bucket: half-empty pages let those updates stay on the page (HOT), without a
-- new index entry each.
DO $$
DECLARE
  t record;
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
         PRIMARY KEY (series_id, bucket)) WITH (fillfactor = 50)', 'rollup_' || t.tier);
    EXECUTE pg_catalog.format('COMMENT ON TABLE telemetry.%I IS %L', 'rollup_' || t.tier,
      pg_catalog.format('The %s rollup tier (hypertable, %s chunks): one telemetry.summary per series and %s bucket%s, kept equal to the raw readings by the ingest pipeline in the same transaction. Read it with the accessors (telemetry.mean(summary), ...), combine rows with telemetry.rollup(summary), or use telemetry.sensor_readings_%s by name.',
        t.tier, t.chunk, t.bucket_width,
        CASE WHEN t.percentiles THEN ', with a percentile sketch' ELSE ', without percentiles' END, t.tier));
    EXECUTE pg_catalog.format('COMMENT ON COLUMN telemetry.%I.bucket IS %L', 'rollup_' || t.tier,
      'Start of the bucket (UTC-aligned multiples of its width since 1970-01-01).');
    EXECUTE pg_catalog.format('COMMENT ON COLUMN telemetry.%I.summary IS %L', 'rollup_' || t.tier,
      'The summary of the readings of the series in the bucket.');
    IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
      EXECUTE pg_catalog.format(
        'SELECT %1$I.create_hypertable(%2$L::pg_catalog.regclass, %1$I.by_range(%3$L::pg_catalog.name, interval %4$L),
                                       false, false, false)',
        tsdb, 'telemetry.rollup_' || t.tier, 'bucket', t.chunk);
    END IF;
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

-- Rebuild: what a DBA runs after deleting or changing readings behind the pipeline's back
-- (merge_metric calls it for the series it converts or joins). It locks the tiers against
-- concurrent ingest (which then waits; ingest already past this point has committed its merge
-- first), so nothing is counted twice or lost. Buckets that begin before the oldest chunk of
-- raw readings left are never touched: retention may have dropped their readings.
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
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  IF NOT (since IS NULL OR pg_catalog.isfinite(since)) OR NOT (until IS NULL OR pg_catalog.isfinite(until))
     OR since >= until THEN
    RAISE EXCEPTION 'rebuild_rollups: since (%) and until (%) must be finite with since before until', since, until
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR t IN SELECT r.tier FROM telemetry.rollup_tiers() r LOOP
    EXECUTE pg_catalog.format('LOCK TABLE telemetry.%I IN SHARE ROW EXCLUSIVE MODE', 'rollup_' || t.tier);
  END LOOP;
  SELECT pg_catalog.min(ch.range_start) INTO oldest
    FROM timescaledb_information.chunks ch
   WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = 'readings';
  FOR t IN SELECT r.tier, r.bucket_width AS width, r.percentiles FROM telemetry.rollup_tiers() r LOOP
    tier := t.tier;
    buckets := 0;
    IF oldest IS NOT NULL THEN
      -- Whole buckets only, from the later of since and the oldest raw chunk.
      lo := pg_catalog.date_bin(t.width, GREATEST(since, oldest), origin);
      IF lo < oldest THEN
        lo := lo + t.width;
      END IF;
      hi := CASE WHEN until IS NULL THEN 'infinity'
                 WHEN pg_catalog.date_bin(t.width, until, origin) = until THEN until
                 ELSE pg_catalog.date_bin(t.width, until, origin) + t.width END;
      EXECUTE pg_catalog.format(
        'DELETE FROM telemetry.%I r WHERE ($1 IS NULL OR r.series_id = $1) AND r.bucket >= $2 AND r.bucket < $3',
        'rollup_' || t.tier) USING rebuild_rollups.series_id, lo, hi;
      EXECUTE pg_catalog.format(
        'INSERT INTO telemetry.%I (series_id, bucket, summary)
         SELECT r.series_id, pg_catalog.date_bin($4, r.time, $5), %s
           FROM telemetry.readings r
          WHERE ($1 IS NULL OR r.series_id = $1) AND r.time >= $2 AND r.time < $3
          GROUP BY 1, 2',
        'rollup_' || t.tier,
        CASE WHEN t.percentiles THEN 'telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality)'
             ELSE 'telemetry.without_percentiles(telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality))' END)
        USING rebuild_rollups.series_id, lo, hi, t.width, origin;
      GET DIAGNOSTICS buckets = ROW_COUNT;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) IS
  'rebuild_rollups(series_id => NULL, since => NULL, until => NULL): recompute every rollup tier from the raw readings, for one series or all, for the buckets that overlap [since, until) (NULL: unbounded), and return how many buckets each tier now holds there. For after readings were deleted or changed other than by ingest, or after telemetry.rollups was off. Buckets that begin before the oldest chunk of raw readings are left as they are (their readings may be gone by retention). Locks the tiers against ingest while it runs. Bad ranges raise 22023. For telemetry_admin.';
