-- JSON payloads: what a publisher names in a message (site, asset, sensor, metric, unit, event
-- id) is checked as it is decoded. The decoding of readings itself (single readings,
-- multi-metric objects, arrays, timestamps, vendor field names) is in the ingest suite.
-- Hostile input (the cases that name a finding reproduce that finding of the 0.2.0 security
-- review first): everything a publisher sends becomes a stored reading or a dead letter with a
-- reason, never an ERROR that loses the batch, a loop, or a flood of copies.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE TEMP VIEW dead AS
  SELECT d.dead_letter_id, d.reason, d.detail, m.message_id, m.topic, m.topic_bytes, m.payload_bytes
    FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);

-- 1. A NUL in a name spun for ever in INSERT INTO telemetry.series ... ON CONFLICT (under
-- C.UTF-8 the index saw "a\0..." equal to "a"). Now it is refused in decoding, and no NUL
-- reaches any text column: not a name, not an event id, not the detail of the dead letter.
INSERT INTO telemetry.series (site_id, asset_id, sensor_id, metric) VALUES ('S1', 'A1', '', 'temperature');
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/S1/A1/temperature', pg_temp.j('{"value": 1, "sensor_id": "\u0000"}'), :rx);
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/S1/A1/temperature', pg_temp.j('{"value": 1, "ts": 1748779200, "event_id": "e\u0000"}'), :rx);
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('telemetry/S1/A1/temperature', pg_temp.j('{"value": 1, "ts": 1748779200, "unit": "\u001bC"}'), :rx);
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('site/S1/telemetry', pg_temp.j('{"assetId": "A1", "ts": 1748779200, "metrics": {"temp\u0000": 1, "humidity": 50}}'), :rx);
SELECT reason, detail FROM dead WHERE topic LIKE '%/S1/%' ORDER BY dead_letter_id;
SELECT count(*) AS series_of_s1 FROM telemetry.series WHERE site_id = 'S1';
