#!/usr/bin/env bash
# A real weather station: the TMY3 typical year that pvlib ships (pvlib/data/723170TYA.CSV,
# Greensboro NC, 8,760 hourly rows of irradiance, temperature, dew point, humidity, wind and
# pressure), published by Eclipse Paho (paho-mqtt, QoS 1; tests/shim/python/weather.py) as one
# seed 000 multi-metric JSON object per hour-row on site/weather/telemetry, with vendor metric
# names that carry their units (ghi_w_m2, temp_air_c, rel_humidity_pct, wind_speed_m_s,
# pressure_mbar, ...), to a shim with two writers. The file's times are rebased to last year,
# so that they lie in the extension's plausible window (telemetry.max_reading_age, ten years).
# Asserts: the shim received and committed every message; nothing dead-lettered; every reading
# stored (8,760 x 9) in 9 series, one per vendor name, 8,760 distinct times each; every stored
# value is the CSV's in the canonical unit of its metric, read from telemetry.metric_rules and
# converted with the test's own factors (1013 mbar = 101.3 kPa, degC = Cel).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
[ -x "$TEST_VENV/bin/python" ] || die "weather" "the Python test publishers are missing: run scripts/setup.sh"
setup weather
site=weather
asset=station-723170
started=$(date +%s)

start_shim --writers 2 --client-id weather-shim
# Last year: all of the typical year is in the past, and well inside ten years.
year=$(($(date -u +%Y) - 1))
say "$("$TEST_VENV/bin/python" "$ROOT/tests/shim/python/weather.py" --port "$MQ_PORT" \
  --site "$site" --asset "$asset" --year "$year" --out "$WORK")" \
  || die "publish" "weather.py failed"
messages=8760
wait_metric messages_received_total "$messages" 120
wait_metric messages_in_hand 0 120
[ "$(metric messages_committed_total)" = "$messages" ] \
  || die "metrics" "committed $(metric messages_committed_total) of $messages messages"
say "the shim received and committed $messages messages"

psql_t <<SQL
CREATE TABLE public.names (vendor text PRIMARY KEY, vendor_unit text, csv_column text,
                           metric text, probe text);
CREATE TABLE public.expected (vendor text, time timestamptz, value float8);
\\copy public.names (vendor, vendor_unit, csv_column) FROM '$WORK/names.tsv'
\\copy public.expected FROM '$WORK/expected.tsv'
-- The test's own conversions from each vendor unit: canonical = value * factor + addend.
CREATE TABLE public.factors (vendor_unit text, canonical text, factor float8, addend float8);
INSERT INTO public.factors VALUES
  ('W/m2', 'W/m2', 1, 0), ('W/m2', 'kW/m2', 1e-3, 0),
  ('Cel', 'Cel', 1, 0), ('Cel', 'K', 1, 273.15), ('Cel', '[degF]', 1.8, 32),
  ('%', '%', 1, 0), ('%', '1', 1e-2, 0),
  ('m/s', 'm/s', 1, 0), ('m/s', 'km/h', 3.6, 0),
  ('deg', 'deg', 1, 0), ('deg', 'rad', pi() / 180, 0),
  ('mbar', 'kPa', 0.1, 0), ('mbar', 'hPa', 1, 0), ('mbar', 'mbar', 1, 0), ('mbar', 'Pa', 100, 0),
  ('mbar', 'bar', 1e-3, 0);
SQL

# Which metric the pipeline makes of each vendor name: one message per name through
# telemetry.ingest(), each to an asset of its own, in a transaction that is rolled back.
psql_t -F $'\t' > "$WORK/probe.tsv" <<'SQL'
BEGIN;
CREATE TEMP TABLE probe AS
  SELECT n.vendor, i.dead_letter_reasons FROM public.names n, LATERAL telemetry.ingest(
    'site/weather-probe/telemetry', convert_to(json_build_object('assetId', n.vendor,
      'timestamp', now(), 'metrics', json_build_object(n.vendor, 1))::text, 'UTF8')) i;
SELECT p.vendor, coalesce(s.metric, ''), coalesce(p.dead_letter_reasons::text, '') FROM probe p
  LEFT JOIN telemetry.series s ON s.site_id = 'weather-probe' AND s.asset_id = p.vendor;
ROLLBACK;
SQL
psql_t <<SQL
CREATE TABLE public.probe (vendor text, metric text, reasons text);
\\copy public.probe FROM '$WORK/probe.tsv'
UPDATE public.names n SET metric = nullif(p.metric, ''), probe = nullif(p.reasons, '')
  FROM public.probe p WHERE p.vendor = n.vendor;
SQL

# Per vendor name: its metric, the canonical unit of that metric, what was stored and whether
# it equals the CSV; an example at the sunniest hour of the year.
psql_t -v site="$site" -v asset="$asset" > "$WORK/report.txt" <<'SQL'
CREATE TABLE public.stored AS
  SELECT n.vendor, r.time, r.value FROM public.names n
    JOIN telemetry.series s ON s.site_id = :'site' AND s.asset_id = :'asset' AND s.metric = n.metric
    JOIN telemetry.readings r USING (series_id);
CREATE TABLE public.per_name AS
  SELECT n.vendor, n.vendor_unit, n.metric, m.unit AS canonical, f.factor IS NOT NULL AS known,
         (SELECT count(*) FROM public.stored s WHERE s.vendor = n.vendor) AS stored,
         (SELECT count(DISTINCT time) FROM public.stored s WHERE s.vendor = n.vendor) AS times,
         (SELECT count(*) FROM public.stored s JOIN public.expected e USING (vendor, time)
           WHERE s.vendor = n.vendor
             AND abs(s.value - (e.value * f.factor + f.addend))
                 <= 1e-9 * greatest(1, abs(e.value * f.factor + f.addend))) AS equal,
         (SELECT count(*) FROM telemetry.dead_letters d WHERE position(n.vendor IN d.detail) > 0)
           AS dead_letters,
         n.probe
    FROM public.names n
    LEFT JOIN telemetry.metric_rules m ON m.metric = n.metric
    LEFT JOIN public.factors f ON f.vendor_unit = n.vendor_unit AND f.canonical = m.unit;
WITH sunny AS (SELECT time FROM public.expected WHERE vendor = 'ghi_w_m2' ORDER BY value DESC, time LIMIT 1)
SELECT format('%s (%s) -> %s: stored %s, equal to the CSV %s, dead letters %s; %s %s at %s: %s',
         p.vendor, p.vendor_unit,
         coalesce(p.metric || ' (' || p.canonical || ')', 'no metric (probe: ' || coalesce(p.probe, '?') || ')'),
         p.stored, p.equal, p.dead_letters, e.value, p.vendor_unit,
         to_char(e.time AT TIME ZONE 'UTC', 'MM-DD HH24:MI"Z"'),
         coalesce(trim_scale(round(s.value::numeric, 6)) || ' ' || p.canonical, 'not stored'))
  FROM public.per_name p CROSS JOIN sunny
  JOIN public.expected e ON e.vendor = p.vendor AND e.time = sunny.time
  LEFT JOIN public.stored s ON s.vendor = p.vendor AND s.time = sunny.time
 ORDER BY p.vendor;
SQL
say "vendor name (unit) -> metric (canonical unit): readings stored, equal to the CSV, dead letters; example"
sed 's/^/      /' "$WORK/report.txt"

dead=$(psql_t -c "SELECT count(*) FROM telemetry.dead_letters")
reasons=$(psql_t -c "SELECT coalesce(string_agg(reason || ' ' || n, ', ' ORDER BY reason), '-')
  FROM (SELECT reason, count(*) AS n FROM telemetry.dead_letters GROUP BY reason) d")
say "dead letters: $dead ($reasons)"
[ "$dead" = 0 ] || die "dead letters" "$dead readings of the weather station were dead-lettered ($reasons); expected none"

read -r unmapped shared unknown_unit < <(psql_t -c "
  SELECT (SELECT coalesce(string_agg(vendor, ',' ORDER BY vendor), '-') FROM public.per_name WHERE metric IS NULL),
         (SELECT coalesce(string_agg(metric, ',' ORDER BY metric), '-') FROM
            (SELECT metric FROM public.per_name WHERE metric IS NOT NULL GROUP BY metric HAVING count(*) > 1) m),
         (SELECT coalesce(string_agg(vendor || ':' || coalesce(canonical, '?'), ',' ORDER BY vendor), '-')
            FROM public.per_name WHERE metric IS NOT NULL AND NOT known)")
[ "$unmapped" = - ] || die "metrics" "no metric for the vendor names $unmapped"
[ "$shared" = - ] || die "metrics" "several vendor names land in one metric ($shared): their readings collide in one series"
[ "$unknown_unit" = - ] \
  || die "units" "the test has no conversion from the vendor unit to the canonical one of $unknown_unit: add it to public.factors"

readings=$((messages * 9))
read -r rows series keys bad_series unequal < <(psql_t -v site="$site" -v asset="$asset" <<'SQL'
SELECT (SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
         WHERE s.site_id = :'site'),
       (SELECT count(*) FROM telemetry.series WHERE site_id = :'site'),
       (SELECT count(DISTINCT (vendor, time)) FROM public.stored),
       (SELECT count(*) FROM public.per_name WHERE stored <> 8760 OR times <> 8760),
       (SELECT coalesce(sum(stored - equal), 0) FROM public.per_name);
SQL
)
say "$site: published $readings readings, stored $rows in $series series (expected 9), distinct (name, time) $keys, names not stored 8760 times at 8760 distinct times $bad_series"
[ "$rows" = "$readings" ] && [ "$series" = 9 ] && [ "$keys" = "$readings" ] && [ "$bad_series" = 0 ] \
  || die "stored" "the stored readings differ from the published ones"
[ "$unequal" = 0 ] || die "values" "$unequal stored values differ from the CSV's in the canonical unit"
say "all $readings values equal the CSV's in their canonical units"
stop_shim
say "weather station: $messages hours of TMY3 data, every reading stored once in SI units, in $(($(date +%s) - started)) s"
