-- Benchmark: each telemetry function against an equivalent PL/pgSQL function over the same
-- rows, in the same run. Prints best-of-N wall time for both and the ratio.
\set ON_ERROR_STOP 1
\if :{?rows}
\else
  \set rows 1000000
\endif
\if :{?runs}
\else
  \set runs 3
\endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- The PL/pgSQL equivalents do the same work the same way: registry lookups, then arithmetic.
CREATE FUNCTION bench.resolve_unit(u text) RETURNS telemetry.units LANGUAGE plpgsql STABLE AS $$
DECLARE r telemetry.units;
BEGIN
  SELECT * INTO r FROM telemetry.units WHERE unit = btrim(u);
  IF FOUND THEN RETURN r; END IF;
  SELECT un.* INTO r FROM telemetry.unit_aliases a JOIN telemetry.units un USING (unit) WHERE a.alias = btrim(u);
  IF FOUND THEN RETURN r; END IF;
  SELECT un.* INTO r FROM telemetry.unit_aliases a JOIN telemetry.units un USING (unit) WHERE lower(a.alias) = lower(btrim(u));
  IF FOUND THEN RETURN r; END IF;
  RAISE EXCEPTION 'unknown unit "%"', u USING ERRCODE = '22023';
END $$;

CREATE FUNCTION bench.convert(v float8, from_unit text, to_unit text) RETURNS float8 LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE a telemetry.units := bench.resolve_unit(from_unit); b telemetry.units := bench.resolve_unit(to_unit);
BEGIN
  IF a.dimension <> b.dimension THEN
    RAISE EXCEPTION 'cannot convert % to %', a.unit, b.unit USING ERRCODE = '22023';
  END IF;
  RETURN (v + a."offset") * a.factor / b.factor - b."offset";
END $$;

CREATE FUNCTION bench.normalize_metric(name text) RETURNS text LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE n text; canonical text;
BEGIN
  n := regexp_replace(name, '([a-z0-9])([A-Z])', '\1_\2', 'g');
  n := regexp_replace(n, '([A-Z])([A-Z][a-z])', '\1_\2', 'g');
  n := btrim(regexp_replace(lower(n), '[^a-z0-9]+', '_', 'g'), '_');
  IF n = '' THEN RAISE EXCEPTION 'metric name "%" has no letters or digits', name USING ERRCODE = '22023'; END IF;
  SELECT metric INTO canonical FROM telemetry.metric_aliases WHERE alias = n;
  RETURN coalesce(canonical, n);
END $$;

CREATE FUNCTION bench.rule(metric text) RETURNS telemetry.metric_rules LANGUAGE plpgsql STABLE AS $$
DECLARE r telemetry.metric_rules;
BEGIN
  SELECT * INTO r FROM telemetry.metric_rules m WHERE m.metric = rule.metric;
  IF NOT FOUND THEN
    SELECT * INTO r FROM telemetry.metric_rules m WHERE m.metric = bench.normalize_metric(rule.metric);
  END IF;
  RETURN r;
END $$;

CREATE FUNCTION bench.validate(metric text, value float8) RETURNS telemetry.validation_status LANGUAGE plpgsql STABLE AS $$
DECLARE r telemetry.metric_rules;
BEGIN
  IF value IS NULL THEN RETURN 'missing'; END IF;
  IF value IN ('NaN', 'Infinity', '-Infinity') THEN RETURN 'not_finite'; END IF;
  r := bench.rule(metric);
  IF r.metric IS NULL THEN RETURN 'unknown_metric'; END IF;
  IF value < r.valid_min THEN RETURN 'below_min'; END IF;
  IF value > r.valid_max THEN RETURN 'above_max'; END IF;
  RETURN 'ok';
END $$;

CREATE FUNCTION bench.quality_score(metric text, value float8, source_time timestamptz, ingested_at timestamptz,
                                    previous_value float8, previous_time timestamptz)
RETURNS float8 LANGUAGE plpgsql STABLE AS $$
DECLARE
  r telemetry.metric_rules := bench.rule(metric);
  wc float8 := current_setting('telemetry.quality_weight_completeness')::float8;
  wv float8 := current_setting('telemetry.quality_weight_validity')::float8;
  wk float8 := current_setting('telemetry.quality_weight_consistency')::float8;
  wt float8 := current_setting('telemetry.quality_weight_timeliness')::float8;
  threshold float8 := extract(epoch FROM current_setting('telemetry.timeliness_threshold')::interval);
  sum float8 := 0; weight float8 := 0; s float8; delay float8; rate float8;
BEGIN
  sum := wc * ((value IS NOT NULL)::int + (source_time IS NOT NULL)::int) / 2.0; weight := wc;
  IF r.metric IS NOT NULL OR value IS NULL THEN
    s := CASE WHEN value IS NOT NULL AND value NOT IN ('NaN', 'Infinity', '-Infinity')
                   AND value >= coalesce(r.valid_min, '-Infinity') AND value <= coalesce(r.valid_max, 'Infinity')
              THEN 1 ELSE 0 END;
    sum := sum + wv * s; weight := weight + wv;
  END IF;
  IF r.max_rate_of_change IS NOT NULL AND previous_value IS NOT NULL AND source_time > previous_time THEN
    rate := abs(value - previous_value) / extract(epoch FROM source_time - previous_time);
    s := CASE WHEN rate <= r.max_rate_of_change THEN 1 ELSE r.max_rate_of_change / rate END;
    sum := sum + wk * s; weight := weight + wk;
  END IF;
  IF source_time IS NOT NULL THEN
    delay := extract(epoch FROM ingested_at - source_time);
    s := CASE WHEN delay < -60 THEN 0 WHEN delay <= threshold THEN 1 ELSE threshold / delay END;
    sum := sum + wt * s; weight := weight + wt;
  END IF;
  RETURN round((sum / weight)::numeric, 6)::float8;
END $$;

CREATE FUNCTION bench.reading_key(site_id text, asset_id text, metric text, source_time timestamptz, sensor_id text DEFAULT '')
RETURNS uuid LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE buf bytea := '\x'; f text; h bytea;
BEGIN
  FOREACH f IN ARRAY ARRAY[site_id, asset_id, sensor_id, bench.normalize_metric(metric)] LOOP
    buf := buf || int4send(octet_length(f)) || convert_to(f, 'UTF8');
  END LOOP;
  buf := buf || int8send((extract(epoch FROM source_time) * 1000000)::int8);
  h := substring(public.digest('\x6f1c2b8e4d0a4c5e9a370e51d2f4b8a1'::bytea || buf, 'sha1') FROM 1 FOR 16);
  h := set_byte(h, 6, (get_byte(h, 6) & 15) | 80);
  h := set_byte(h, 8, (get_byte(h, 8) & 63) | 128);
  RETURN encode(h, 'hex')::uuid;
END $$;

-- Inputs: vendor spellings of metrics and units, as devices send them.
CREATE TABLE bench.input AS
SELECT i,
       (ARRAY['degF', 'W', 'psi', 'celsius'])[1 + i % 4] AS from_unit,
       (ARRAY['Cel', 'kW', 'kPa', 'K'])[1 + i % 4] AS to_unit,
       (ARRAY['Temp', 'ActivePowerKW', 'SOC', 'humidity', 'AirTemperature'])[1 + i % 5] AS metric,
       (random() * 120 - 10)::float8 AS value,
       (random() * 120 - 10)::float8 AS previous_value,
       timestamptz '2025-06-01 00:00:00+00' + i * interval '1 second' AS ts,
       'site-' || (i % 10) AS site_id, 'asset-' || (i % 1000) AS asset_id
FROM generate_series(1, :rows) AS i;
VACUUM ANALYZE bench.input;

CREATE FUNCTION bench.best_ms(query text, runs int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE best float8 := 'Infinity'; t timestamptz;
BEGIN
  FOR k IN 1..runs LOOP
    t := clock_timestamp();
    EXECUTE query;
    best := least(best, 1000 * extract(epoch FROM clock_timestamp() - t));
  END LOOP;
  RETURN best;
END $$;

CREATE FUNCTION bench.scalar(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE v float8;
BEGIN
  EXECUTE query INTO v;
  RETURN v;
END $$;

CREATE TABLE bench.cases (name text, args text, same text);
INSERT INTO bench.cases VALUES
  ('convert', 'convert(value, from_unit, to_unit)', 'sum(%1$s)'),
  ('validate', 'validate(metric, value)', 'count(*) FILTER (WHERE %1$s = ''ok'')'),
  ('normalize_metric', 'normalize_metric(metric)', 'count(DISTINCT %1$s)'),
  ('quality_score', 'quality_score(metric, value, ts, ts + interval ''2 minutes'', previous_value => previous_value, previous_time => ts - interval ''1 minute'')', 'sum(%1$s)'),
  ('reading_key', 'reading_key(site_id, asset_id, metric, ts)', 'count(DISTINCT %1$s)');


\echo
\echo 'Each function over' :rows 'rows, best of' :runs 'runs (ms); ratio = PL/pgSQL time / Rust time'
SELECT name AS function,
       round(rust_ms::numeric, 0) AS rust_ms,
       round(plpgsql_ms::numeric, 0) AS plpgsql_ms,
       round((plpgsql_ms / rust_ms)::numeric, 1) AS ratio,
       round(bench.scalar(rust)::numeric, 3) = round(bench.scalar(plpgsql)::numeric, 3) AS results_agree
FROM (
  SELECT name, rust, plpgsql, bench.best_ms(rust, :runs) AS rust_ms, bench.best_ms(plpgsql, :runs) AS plpgsql_ms
  FROM (SELECT name,
               format('SELECT (%s)::float8 FROM bench.input', format(same, 'telemetry.' || args)) AS rust,
               format('SELECT (%s)::float8 FROM bench.input', format(same, 'bench.' || args)) AS plpgsql
          FROM bench.cases) q
) t;
DROP SCHEMA bench CASCADE;
