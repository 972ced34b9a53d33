-- telemetry: analysis of (time, value) rows, usable on both TimescaleDB editions (the Apache
-- edition has no time_bucket_gapfill): counters through resets and rollovers, time-weighted
-- averages, gap filling, exponential moving averages and trend slopes. The aggregates take
-- plain columns, and the bucketed functions arrays of times and values, so they serve raw
-- readings, rollup rows or any rows an analyst has; the forms by series id below read
-- telemetry.readings. The logic is telemetry_core::analysis, the state functions are in
-- extension/src/analysis/. The simple moving average is avg() OVER (...), see README.md.

-- Counters: the rise over ordered rows, and the rise per second.
CREATE AGGREGATE telemetry.counter_increase("time" timestamptz, value double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_increase_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.counter_increase("time" timestamptz, value double precision, rollover double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_increase_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.counter_rate("time" timestamptz, value double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_rate_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.counter_rate("time" timestamptz, value double precision, rollover double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_rate_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.counter_increase(timestamptz, double precision) IS
  'How much a cumulative counter rose over the rows, which must come in time order (counter_increase(time, value ORDER BY time)): a drop is a reset, after which the new value counts from zero.';
COMMENT ON AGGREGATE telemetry.counter_increase(timestamptz, double precision, double precision) IS
  'How much a cumulative counter rose over the rows in time order: a drop that implies a rise under half of rollover (the value the register wraps to 0 at: 65536 for 16 bits, 4294967296 for 32) is a wrap, any other drop a reset.';
COMMENT ON AGGREGATE telemetry.counter_rate(timestamptz, double precision) IS
  'The rise of a cumulative counter per second between its first and last rows in time order, through resets; NULL without two distinct times.';
COMMENT ON AGGREGATE telemetry.counter_rate(timestamptz, double precision, double precision) IS
  'The rise of a cumulative counter per second between its first and last rows in time order, through resets and wraps at rollover.';

-- Time-weighted averages.
CREATE AGGREGATE telemetry.time_weighted_average("time" timestamptz, value double precision) (
  SFUNC = telemetry.time_weight_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.time_weight_final, COMBINEFUNC = telemetry.time_weight_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.time_weighted_average("time" timestamptz, value double precision, method text) (
  SFUNC = telemetry.time_weight_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.time_weight_final, COMBINEFUNC = telemetry.time_weight_combine,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.time_weighted_average(timestamptz, double precision) IS
  'The average of a gauge over time from its first to its last row (in time order: ORDER BY time), reading it on the straight line between rows; one row is its own average.';
COMMENT ON AGGREGATE telemetry.time_weighted_average(timestamptz, double precision, text) IS
  'The average of a gauge over time from its first to its last row in time order; method ''linear'' reads it on the straight line between rows, ''locf'' carries each row forward to the next (the method of the first row counts).';

-- Smoothing and trend.
CREATE AGGREGATE telemetry.ema(value double precision, alpha double precision) (
  SFUNC = telemetry.ema_accum, STYPE = double precision, PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.ema("time" timestamptz, value double precision, time_constant interval) (
  SFUNC = telemetry.ema_time_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.ema_time_final, PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.trend_slope("time" timestamptz, value double precision) (
  SFUNC = telemetry.trend_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.trend_slope_final, COMBINEFUNC = telemetry.trend_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.trend_slope("time" timestamptz, value double precision, per interval) (
  SFUNC = telemetry.trend_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.trend_slope_final, COMBINEFUNC = telemetry.trend_combine,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.ema(double precision, double precision) IS
  'Exponential moving average (seed 003): the first value, then alpha * value + (1 - alpha) * previous, alpha in (0, 1]. As a window aggregate, ema(value, 0.3) OVER (ORDER BY time), it gives the EMA at each row; as a plain aggregate it needs ORDER BY time.';
COMMENT ON AGGREGATE telemetry.ema(timestamptz, double precision, interval) IS
  'Exponential moving average for irregular sampling: each row weighs 1 - exp(-dt / time_constant) for the time dt since the previous row. Rows in time order: ema(time, value, interval ''5 minutes'') OVER (ORDER BY time).';
COMMENT ON AGGREGATE telemetry.trend_slope(timestamptz, double precision) IS
  'The least-squares slope of value against time, per hour (as seed 003 fits it); NULL without two distinct times. Rows in any order.';
COMMENT ON AGGREGATE telemetry.trend_slope(timestamptz, double precision, interval) IS
  'The least-squares slope of value against time, per the given interval (interval ''1 day'' for degradation per day; a month counts 30 days). Rows in any order.';

-- The forms by series id (their search_path pinned, so that no operator a caller's path brings
-- can stand in for pg_catalog's): the series' readings covering the buckets, and the one reading on
-- either side of them, so spans reaching into the first and last buckets count and gaps at
-- either end are filled from beyond. "from" - bucket and "to" + bucket surely cover the buckets
-- (the first holds "from", the last starts before "to").
CREATE FUNCTION telemetry.series_points(series_id integer, "from" timestamptz, "to" timestamptz, margin interval)
RETURNS TABLE (times timestamptz[], "values" double precision[])
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.array_agg(p.time ORDER BY p.time), pg_catalog.array_agg(p.value ORDER BY p.time)
    FROM ((SELECT r.time, r.value FROM telemetry.readings r
            WHERE r.series_id = $1 AND r.time < $2 - $4 ORDER BY r.time DESC LIMIT 1)
          UNION ALL
          (SELECT r.time, r.value FROM telemetry.readings r
            WHERE r.series_id = $1 AND r.time >= $2 - $4 AND r.time < $3 + $4)
          UNION ALL
          (SELECT r.time, r.value FROM telemetry.readings r
            WHERE r.series_id = $1 AND r.time >= $3 + $4 ORDER BY r.time LIMIT 1)) p
$$;
COMMENT ON FUNCTION telemetry.series_points(integer, timestamptz, timestamptz, interval) IS
  'The times and values of a series'' readings in [from - margin, to + margin), with the last reading before and the first after, in time order: what the bucketed analysis functions take.';

-- By name: the series of a site, asset, metric (any alias of it) and sensor.
CREATE FUNCTION telemetry.series_id(site_id text, asset_id text, metric text, sensor_id text DEFAULT '')
RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  id integer;
BEGIN
  SELECT s.series_id INTO id FROM telemetry.series s
   WHERE s.site_id = $1 AND s.asset_id = $2 AND s.metric = telemetry.normalize_metric($3) AND s.sensor_id = $4;
  IF id IS NULL THEN
    RAISE EXCEPTION 'no series of site %, asset %, sensor %, metric %', pg_catalog.quote_literal($1),
      pg_catalog.quote_literal($2), pg_catalog.quote_literal($4), pg_catalog.quote_literal($3)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'telemetry.series lists the series.';
  END IF;
  RETURN id;
END $$;
COMMENT ON FUNCTION telemetry.series_id(text, text, text, text) IS
  'series_id(site_id, asset_id, metric, sensor_id => ''''): the series of those names (the metric by any of its aliases), for the analysis functions by series id: telemetry.gapfill(telemetry.series_id(''site-1'', ''inv-01'', ''active_power''), ...). An unknown series is an error (22023).';

CREATE FUNCTION telemetry.counter_deltas(series_id integer, "from" timestamptz, "to" timestamptz,
                                         bucket interval DEFAULT '1 hour', rollover double precision DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, delta double precision, rate_per_second double precision, resets bigint)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT d.bucket, d.delta, d.rate_per_second, d.resets
    FROM telemetry.series_points($1, $2, $3, $4) p,
         telemetry.counter_deltas(p.times, p."values", $2, $3, $4, $5) d
$$;
COMMENT ON FUNCTION telemetry.counter_deltas(integer, timestamptz, timestamptz, interval, double precision) IS
  'The rise of a counter series per bucket of [from, to), through resets (a drop counts from zero) and wraps at rollover: a rise between two readings is split over the buckets they straddle in proportion to time, so the deltas add up to the whole rise. rate_per_second is the delta over the part of the bucket between readings.';

CREATE FUNCTION telemetry.time_weighted_averages(series_id integer, "from" timestamptz, "to" timestamptz,
                                                 bucket interval DEFAULT '1 hour', method text DEFAULT 'linear')
RETURNS TABLE (bucket timestamptz, average double precision)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.bucket, a.average
    FROM telemetry.series_points($1, $2, $3, $4) p,
         telemetry.time_weighted_averages(p.times, p."values", $2, $3, $4, $5) a
$$;
COMMENT ON FUNCTION telemetry.time_weighted_averages(integer, timestamptz, timestamptz, interval, text) IS
  'The time-weighted average of a series per bucket of [from, to), linear or locf: the value at a bucket''s start is interpolated (or carried) from the readings around it; NULL where no two readings span any of the bucket.';

CREATE FUNCTION telemetry.gapfill(series_id integer, "from" timestamptz, "to" timestamptz,
                                  bucket interval DEFAULT '1 hour', method text DEFAULT 'linear', agg text DEFAULT 'avg')
RETURNS TABLE (bucket timestamptz, value double precision, filled boolean)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT g.bucket, g.value, g.filled
    FROM telemetry.series_points($1, $2, $3, $4) p,
         telemetry.gapfill(p.times, p."values", $2, $3, $4, $5, $6) g
$$;
COMMENT ON FUNCTION telemetry.gapfill(integer, timestamptz, timestamptz, interval, text, text) IS
  'Every bucket of [from, to) of a series: its readings aggregated by agg (avg, min, max, sum, first, last), and empty buckets filled by method (linear, locf or none), from the last reading before "from" and the first after "to" where the gap is at an end. filled is true for a filled-in value.';
