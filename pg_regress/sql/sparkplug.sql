-- Sparkplug B (protobuf, encoded by hand here): a birth declares aliases, data uses them.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;
CREATE TEMP VIEW dead AS
  SELECT d.dead_letter_id, d.reason, d.detail, m.message_id, m.topic, m.topic_bytes, m.payload_bytes
    FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id);
-- Its queries see every reading, dead letter and batch, so it starts from empty pipeline
-- tables, whatever the suites before it left (the registries stay as they are).
TRUNCATE telemetry.readings, telemetry.series, telemetry.assets, telemetry.sites, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.recent_events, telemetry.sparkplug_metrics;

SELECT * FROM telemetry.ingest('spBv1.0/plant-1/NBIRTH/edge-7', '\x0880dcf3daf232120d0a056264536571100020085000121c0a144e6f646520436f6e74726f6c2f526562697274681001200b50001800', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DBIRTH/edge-7/pump-3', '\x0880dcf3daf23212210a124469736368617267652050726573737572651001200a69000000000064894012150a0a4d6f746f722054656d70100220096500007642121d0a1050726f706572746965732f4d6f64656c1003200c7a054553502d391800', '2025-06-01 12:00:05+00');
SELECT group_id, edge_node_id, device_id, alias, metric FROM telemetry.sparkplug_metrics ORDER BY 1, 2, 3, 4;
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08e8e3f3daf232120d1001200a6900000000007889401210100218dce7f3daf232200965000078421800', '2025-06-01 12:00:05+00');
-- The aliases outlive the batch: a later message in a new transaction still resolves them.
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08a0fbf3daf232120d1001200a690000000000a089401800', '2025-06-01 12:00:05+00');
SELECT s.site_id, s.asset_id, s.sensor_id, s.metric, r.time, r.value
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'plant-1' ORDER BY s.metric, r.time;
-- Unknown alias, a string value, a death (consumed), a command (not telemetry), corrupt bytes.
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08d0ebf3daf232120d1009200a69000000000000f03f1800', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\x08b8f3f3daf23212130a06537461747573200c7a0772756e6e696e671800', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDEATH/edge-7/pump-3', '\x', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/NCMD/edge-7', '\x', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA/edge-7/pump-3', '\xffffff', '2025-06-01 12:00:05+00');
SELECT * FROM telemetry.ingest('spBv1.0/plant-1/DDATA', '\x', '2025-06-01 12:00:05+00');
SELECT reason, topic, detail FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
 WHERE topic LIKE 'spBv1.0/%' ORDER BY dead_letter_id;

-- Hostile input (the cases that name a finding reproduce that finding of the 0.2.0 security
-- review first): everything a publisher sends becomes a stored reading or a dead letter with a
-- reason, never an ERROR that loses the batch, a loop, or a flood of copies.
-- 7. Sparkplug aliases of 2^63 and above came back as alias 0, so a DATA with the undeclared
-- alias 0 was stored as that metric. Every u64 now round-trips.
SELECT readings FROM telemetry.ingest('spBv1.0/alias-site/NBIRTH/e1', '\x0880dcf3daf23212200a0870726573737572651080808080808080808001200a6900000000000008401800', :rx);
SELECT alias, metric FROM telemetry.sparkplug_metrics WHERE group_id = 'alias-site';
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NDATA/e1', '\x08e8e3f3daf232120d1000200a6900000000000010401800', :rx);
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NDATA/e1', '\x08d0ebf3daf23212161080808080808080808001200a6900000000000014401800', :rx);
SELECT readings FROM telemetry.ingest('spBv1.0/alias-site/NBIRTH/e1', '\x0880dcf3daf23212200a08707265737375726510ffffffffffffffffff01200a6900000000000018401800', :rx);
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NDATA/e1', '\x08b8f3f3daf232121610ffffffffffffffffff01200a690000000000001c401800', :rx);
SELECT alias, metric FROM telemetry.sparkplug_metrics WHERE group_id = 'alias-site';
-- A birth naming a metric with a NUL keeps no alias for it; its reading is a bad_name.
SELECT readings, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/DBIRTH/e1/d1', '\x0880dcf3daf23212180a097072657300737572651005200a6900000000000022401800', :rx);
SELECT count(*) AS aliases_of_d1 FROM telemetry.sparkplug_metrics WHERE group_id = 'alias-site' AND device_id = 'd1';
SELECT s.metric, r.time, r.value FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'alias-site' ORDER BY r.time;

-- 5. (continued) A Sparkplug birth of 100,000 metrics ran 44 s and failed ("array size exceeds the maximum
-- allowed"); a 1 MB JSON message of 52,000 unknown metrics took 6.2 GB. A message of more than
-- telemetry.max_readings_per_message (10,000) readings is now one dead letter, and a birth
-- that large leaves its node's aliases as they were.
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest('site/huge-site/telemetry',
    pg_temp.j('{"assetId": "a1", "ts": 1748779200, "metrics": {' || (SELECT string_agg(format('"m%s": 1', g), ',') FROM generate_series(1, 52000) g) || '}}'), :rx);
SELECT messages, dead_letters, dead_letter_reasons FROM telemetry.ingest('spBv1.0/alias-site/NBIRTH/e1',
    decode(repeat('12030a0161', 100000), 'hex'), :rx);
SELECT alias, metric FROM telemetry.sparkplug_metrics WHERE group_id = 'alias-site';
SELECT left(detail, 80) AS detail FROM dead WHERE reason = 'too_many_readings' ORDER BY dead_letter_id;
