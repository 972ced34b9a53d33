-- telemetry demo data: a solar site, a battery site and a dairy barn, one day of readings at
-- 1-minute intervals, cleaned through the SQL API as a batch loader would.
INSERT INTO telemetry.sites (site_id, name, timezone, latitude, longitude) VALUES
  ('solar-01', 'Solar Farm 50 MW', 'Europe/Madrid', 37.4, -5.9),
  ('bess-01', 'BESS 100 MWh', 'Europe/Berlin', 52.5, 13.4),
  ('dairy-01', 'Dairy Barn', 'America/Chicago', 43.0, -89.4)
ON CONFLICT DO NOTHING;
INSERT INTO telemetry.assets (site_id, asset_id, asset_type) VALUES
  ('solar-01', 'INV-01', 'inverter'), ('solar-01', 'MET-01', 'weather_station'),
  ('bess-01', 'RACK-01', 'battery_rack'), ('dairy-01', 'BARN-01', 'barn_sensor')
ON CONFLICT DO NOTHING;

-- What devices send: vendor metric names, their own units, a source quality, a few bad values.
CREATE TEMP TABLE incoming AS
SELECT site_id, asset_id, vendor_metric, unit, ts,
       CASE WHEN i % 97 = 0 AND unit <> 'W' THEN value * 40 ELSE value END AS value,
       CASE WHEN i % 53 = 0 THEN 'UNCERTAIN' ELSE 'GOOD' END AS quality,
       ts + make_interval(secs => (i % 7) * 30) AS received_at
FROM (
  SELECT row_number() OVER () AS i, *
  FROM generate_series(date_trunc('day', now()) - interval '1 day', date_trunc('day', now()) - interval '1 minute', interval '1 minute') AS ts,
  LATERAL (VALUES
    ('solar-01', 'INV-01', 'ActivePowerW', 'W', greatest(0, 4.2e6 * sin(pi() * (extract(hour FROM ts) - 6) / 12))),
    ('solar-01', 'MET-01', 'GHI', 'W/m²', greatest(0, 950 * sin(pi() * (extract(hour FROM ts) - 6) / 12))),
    ('solar-01', 'MET-01', 'AirTemperature', '°F', 68 + 15 * sin(pi() * (extract(hour FROM ts) - 9) / 12)),
    ('bess-01', 'RACK-01', 'SOC', '%', 50 + 40 * sin(pi() * extract(hour FROM ts) / 12)),
    ('dairy-01', 'BARN-01', 'NH3', 'ppm', 12 + 6 * random()),
    ('dairy-01', 'BARN-01', 'RH', '%RH', 60 + 20 * random())
  ) AS v (site_id, asset_id, vendor_metric, unit, value)
) s;

INSERT INTO telemetry.series (site_id, asset_id, metric)
SELECT DISTINCT site_id, asset_id, telemetry.normalize_metric(vendor_metric) FROM incoming
ON CONFLICT DO NOTHING;

-- Valid readings are stored converted and scored; the rest go to dead letters with a reason.
WITH cleaned AS (
  SELECT i.*, s.series_id, m.metric,
         telemetry.to_canonical(i.value, i.unit, m.metric) AS canonical,
         telemetry.validate(m.metric, i.value, i.unit) AS status
  FROM incoming i
  CROSS JOIN LATERAL (SELECT telemetry.normalize_metric(i.vendor_metric) AS metric) m
  JOIN telemetry.series s USING (site_id, asset_id, metric)
), stored AS (
  INSERT INTO telemetry.readings (time, series_id, value, quality, source_quality, ingested_at)
  SELECT ts, series_id, canonical,
         telemetry.quality_score(metric, canonical, ts, received_at, source_quality => quality),
         telemetry.source_quality_code(quality), received_at
  FROM cleaned WHERE status = 'ok'
  ON CONFLICT (series_id, time) DO NOTHING
  RETURNING 1
)
, bad AS MATERIALIZED (
  SELECT c.*, nextval('telemetry.dead_letter_messages_message_id_seq') AS message_id,
         format('telemetry/%s/%s/%s', site_id, asset_id, vendor_metric) AS topic
  FROM cleaned c WHERE status <> 'ok'
), messages AS (
  INSERT INTO telemetry.dead_letter_messages (message_id, received_at, topic, topic_bytes, payload)
  SELECT message_id, received_at, topic, octet_length(topic),
         convert_to(format('{"value": %s, "unit": "%s"}', value, unit), 'UTF8')
  FROM bad
)
INSERT INTO telemetry.dead_letters (message_id, received_at, reason, detail)
SELECT message_id, received_at, 'out_of_range', format('%s = %s %s is %s', metric, value, unit, status)
FROM bad;

-- The same kind of data as raw MQTT messages through the ingest pipeline, the way the shim
-- delivers them: seed 001 single readings, seed 000 multi-metric objects, a few bad messages.
SELECT telemetry.prepare_staging() \gset
BEGIN;
INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload)
SELECT ts + interval '2 seconds', 'telemetry/wind-01/WTG-' || lpad(t::text, 2, '0') || '/WindSpeed',
       convert_to(format('{"event_id": "wtg%s-%s", "timestamp": %s, "value": %s, "unit": "m/s", "quality_flag": "GOOD"}',
                         t, extract(epoch FROM ts)::bigint, (extract(epoch FROM ts) * 1000)::bigint,
                         round((8 + 4 * sin(extract(epoch FROM ts) / 3600 + t))::numeric, 2)), 'UTF8')
  FROM generate_series(date_trunc('hour', now()) - interval '1 hour', date_trunc('hour', now()) - interval '1 minute', interval '1 minute') AS ts,
       generate_series(1, 10) AS t
UNION ALL
SELECT ts + interval '1 second', 'site/bess-01/telemetry',
       convert_to(json_build_object('assetId', 'RACK-02', 'timestamp', (extract(epoch FROM ts) * 1000)::bigint,
                                    'metrics', json_build_object('soc', 60, 'cell_voltage', 3.31, 'temperature_c', 27.5,
                                                                 'active_power_kw', -250))::text, 'UTF8')
  FROM generate_series(date_trunc('hour', now()) - interval '1 hour', date_trunc('hour', now()) - interval '1 minute', interval '1 minute') AS ts
UNION ALL
VALUES (now(), 'telemetry/wind-01/WTG-01/WindSpeed', convert_to('{"value": "gusty"}', 'UTF8')),
       (now(), 'unknown/topic', convert_to('{"value": 1}', 'UTF8')),
       (now(), 'telemetry/wind-01/WTG-01/WindSpeed', convert_to('{"value": 12, "unit": "furlongs"}', 'UTF8'));
SELECT * FROM telemetry.ingest_staged();
COMMIT;
