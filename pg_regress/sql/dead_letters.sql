-- Dead letters: a refused message is stored once in telemetry.dead_letter_messages, however
-- many of its readings were refused, with its topic and payload cut to bounds and their sizes
-- kept; NULL topics and payloads are dead letters too. Every dead-letter reason is in the
-- ingest suite.
-- Hostile input (the cases that name a finding reproduce that finding of the 0.2.0 security
-- review first): everything a publisher sends becomes a stored reading or a dead letter with a
-- reason, never an ERROR that loses the batch, a loop, or a flood of copies.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE TEMP VIEW dead AS
  SELECT d.dead_letter_id, d.reason, d.detail, m.message_id, m.topic, m.topic_bytes, m.payload_bytes
    FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);

-- 5. Dead letters multiplied the payload: each rejected reading kept its own copy, and one
-- message of 6,661 unknown metrics stored 6,661 copies of 64 kB. Now the message is stored
-- once, however many of its readings are refused; topics are cut, their length kept. (Unknown
-- metrics are refused here, not registered: see metric_registration for that.)
SET telemetry.unknown_metrics = dead_letter;
SELECT messages, readings, dead_letters, dead_letter_reasons
  FROM telemetry.ingest('site/many-site/telemetry',
    pg_temp.j('{"assetId": "a1", "ts": 1748779200, "metrics": {' || (SELECT string_agg(format('"unknown_%s": %s', g, g), ',') FROM generate_series(1, 6661) g) || '}}'), :rx);
RESET telemetry.unknown_metrics;
SELECT count(*) AS letters, count(DISTINCT message_id) AS messages_stored FROM dead WHERE topic = 'site/many-site/telemetry';
SELECT pg_size_pretty(sum(octet_length(payload))) AS payload_stored FROM telemetry.dead_letter_messages WHERE topic = 'site/many-site/telemetry';
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest(repeat('t/', 100000), pg_temp.j('{}'), :rx);
SELECT topic_bytes, octet_length(topic) AS topic_kept FROM dead WHERE topic LIKE 't/t/t/%';

-- 10. Smaller ones. ingest(topic, NULL) was STRICT and recorded nothing.
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest('telemetry/null-site/p1/pressure', NULL, :rx);
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest(NULL, pg_temp.j('{"value": 1}'), :rx);
