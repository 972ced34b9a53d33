-- Benchmark: the ingest pipeline from raw JSON payloads against binary COPY of the same
-- readings, already decoded, into a bare hypertable with the same unique index; the
-- pipeline with alarm rules (one per metric, so every one of the series is watched) against
-- the pipeline without; and what the rollups cost ingest: nothing is written for in-order
-- readings (the stage takes a shared advisory lock and reads the watermark once per
-- transaction, timed here on its own against the pipeline), and the same batches all late
-- (every reading before the 1-minute watermark: one invalidation statement per batch) against
-- in order; and the same messages with a payload event_id in every reading (as the load
-- generator of tests/bench/shim.sh sends them), which the pipeline looks up and records within
-- telemetry.event_id_window, against the same without. Same run, same 1,000,000 readings over
-- 10,000 series (override with -v readings=N -v series=N).
\set ON_ERROR_STOP 1
\if :{?readings}
\else
  \set readings 1000000
\endif
\if :{?series}
\else
  \set series 10000
\endif
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_ingest CASCADE;
CREATE SCHEMA bench_ingest;

-- 10 metrics per asset, 1 s apart; the series id is its position, as the pipeline will assign.
CREATE TABLE bench_ingest.decoded AS
SELECT s AS series_id,
       'site-' || (s / 1000) AS site_id, 'asset-' || (s / 10) AS asset_id,
       (ARRAY['active_power', 'reactive_power', 'voltage', 'current', 'frequency', 'temperature',
              'irradiance', 'state_of_charge', 'humidity', 'wind_speed'])[1 + s % 10] AS metric,
       timestamptz '2025-06-01 00:00:00+00' + k * interval '1 second' AS time,
       k, round((50 + 10 * sin(s + k))::numeric, 3)::float8 AS value
FROM generate_series(0, :series - 1) AS s, generate_series(0, :readings / :series - 1) AS k;
ANALYZE bench_ingest.decoded;
COPY (SELECT time, now() AS ingested_at, value, series_id, 1::real AS quality, 0 AS flags, 0::smallint AS source_quality
        FROM bench_ingest.decoded ORDER BY time, series_id) TO '/tmp/telemetry-bench-decoded.bin' WITH (FORMAT binary);

-- Raw messages as devices publish them. Many readings per message: one multi-metric object
-- per asset and second (seed 000 section 11.1), two seconds per message: 20 readings.
CREATE TABLE bench_ingest.raw_multi AS
SELECT row_number() OVER (ORDER BY pair, asset_id) AS n,
       'site/' || min(site_id) || '/telemetry' AS topic,
       convert_to(json_agg(obj ORDER BY k)::text, 'UTF8') AS payload
FROM (SELECT site_id, asset_id, k, k / 2 AS pair,
             json_build_object('assetId', asset_id, 'ts', extract(epoch FROM time)::bigint * 1000,
                               'metrics', json_object_agg(metric, value)) AS obj
        FROM bench_ingest.decoded GROUP BY site_id, asset_id, k, time) per_second
GROUP BY asset_id, pair;
-- One reading per message (seed 001): topic telemetry/{site}/{asset}/{metric}.
CREATE TABLE bench_ingest.raw_single AS
SELECT row_number() OVER (ORDER BY time, series_id) AS n,
       format('telemetry/%s/%s/%s', site_id, asset_id, metric) AS topic,
       convert_to(format('{"value": %s, "ts": %s}', value, extract(epoch FROM time)::bigint), 'UTF8') AS payload
FROM bench_ingest.decoded;
-- The same messages with an event_id in each reading (for a multi-metric object, in the object:
-- its readings are told apart by their series).
CREATE TABLE bench_ingest.raw_multi_events AS
SELECT n, topic, convert_to(regexp_replace(convert_from(payload, 'UTF8'), '\{"assetId" : "([^"]*)", "ts" : ([0-9]+)',
                                           '{"event_id" : "\1/\2", "assetId" : "\1", "ts" : \2', 'g'), 'UTF8') AS payload
  FROM bench_ingest.raw_multi;
CREATE TABLE bench_ingest.raw_single_events AS
SELECT n, topic, convert_to('{"event_id": "e-' || n || '", ' || substr(convert_from(payload, 'UTF8'), 2), 'UTF8') AS payload
  FROM bench_ingest.raw_single;

-- Batches close at the shim's defaults, 5,000 messages or 4 MiB. Each is written to a file in
-- COPY's binary format, as the shim sends it, so the timed loop below is what the shim makes
-- the server do: binary COPY into the staging table, the pipeline, commit.
SELECT least(5000, floor(4194304 / avg(octet_length(payload))))::int AS multi_batch,
       least(5000, floor(4194304 / (SELECT avg(octet_length(payload)) FROM bench_ingest.raw_single)))::int AS single_batch
  FROM bench_ingest.raw_multi \gset
CREATE FUNCTION bench_ingest.batch_file(source regclass, k bigint) RETURNS text LANGUAGE sql
  AS $$ SELECT format('/tmp/telemetry-bench-%s-%s.bin', source, k) $$;
CREATE FUNCTION bench_ingest.write_batches(source regclass, batch int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE last bigint; k bigint := 0;
BEGIN
  EXECUTE format('SELECT max(n) FROM %s', source) INTO last;
  WHILE k < last LOOP
    EXECUTE format('COPY (SELECT now(), topic, payload FROM %s WHERE n > %s AND n <= %s ORDER BY n) TO %L WITH (FORMAT binary)',
                   source, k, k + batch, bench_ingest.batch_file(source, k));
    k := k + batch;
  END LOOP;
  RETURN last;
END $$;
SELECT bench_ingest.write_batches('bench_ingest.raw_multi', :multi_batch) \gset
SELECT bench_ingest.write_batches('bench_ingest.raw_single', :single_batch) \gset
SELECT bench_ingest.write_batches('bench_ingest.raw_multi_events', :multi_batch) \gset
SELECT bench_ingest.write_batches('bench_ingest.raw_single_events', :single_batch) \gset

-- The baseline: a bare hypertable shaped like telemetry.readings with the same unique index.
CREATE TABLE bench_ingest.baseline (LIKE telemetry.readings INCLUDING DEFAULTS, UNIQUE (series_id, time));
SELECT create_hypertable('bench_ingest.baseline', by_range('time', interval '1 day'), create_default_indexes => false);

-- Seed 000's sensor_readings: text identifiers on every row.
CREATE TABLE bench_ingest.sensor_readings (
    reading_id UUID NOT NULL, site_id VARCHAR(50) NOT NULL, asset_id VARCHAR(100) NOT NULL,
    sensor_id VARCHAR(100) NOT NULL, timestamp TIMESTAMPTZ NOT NULL,
    ingestion_timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(), metric_name VARCHAR(100) NOT NULL,
    value DOUBLE PRECISION NOT NULL, unit VARCHAR(20) NOT NULL, quality VARCHAR(20) NOT NULL,
    quality_detail TEXT, PRIMARY KEY (timestamp, site_id, asset_id, sensor_id, metric_name));
SELECT create_hypertable('bench_ingest.sensor_readings', by_range('timestamp', interval '1 day'));
-- ... and its indexes, as seed 000 section 6.1 creates them.
CREATE INDEX ON bench_ingest.sensor_readings (asset_id, timestamp DESC);
CREATE INDEX ON bench_ingest.sensor_readings (metric_name, timestamp DESC);
CREATE INDEX ON bench_ingest.sensor_readings (quality, timestamp DESC) WHERE quality != 'GOOD';

-- Each measurement is the best of :runs rounds, each round from empty tables and running the
-- three one after the other, which keeps the other load of a small machine out of the ratios.
\if :{?runs}
\else
  \set runs 3
\endif

-- The pipeline as the shim drives it: binary COPY of a batch of raw messages into the staging
-- table, the pipeline, commit.
CREATE PROCEDURE bench_ingest.pipeline(source regclass, batch int, runs int, INOUT ms float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE t timestamptz; last bigint; k bigint;
BEGIN
  EXECUTE format('SELECT max(n) FROM %s', source) INTO last;
  PERFORM telemetry.prepare_staging();
  FOR r IN 1 .. runs LOOP
    PERFORM bench_ingest.reset();
    COMMIT;
    t := clock_timestamp();
    k := 0;
    WHILE k < last LOOP
      EXECUTE format('COPY pg_temp.telemetry_staging (received_at, topic, payload) FROM %L WITH (FORMAT binary)',
                     bench_ingest.batch_file(source, k));
      PERFORM * FROM telemetry.ingest_staged();
      COMMIT;
      k := k + batch;
    END LOOP;
    ms := least(ms, 1000 * extract(epoch FROM clock_timestamp() - t));
  END LOOP;
END $$;

CREATE PROCEDURE bench_ingest.copy(runs int, INOUT ms float8 DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE t timestamptz;
BEGIN
  FOR r IN 1 .. runs LOOP
    TRUNCATE bench_ingest.baseline;
    COMMIT;
    t := clock_timestamp();
    COPY bench_ingest.baseline FROM '/tmp/telemetry-bench-decoded.bin' WITH (FORMAT binary);
    COMMIT;
    ms := least(ms, 1000 * extract(epoch FROM clock_timestamp() - t));
  END LOOP;
END $$;

-- Stored readings must be exactly the sent ones before a time counts.
CREATE FUNCTION bench_ingest.check(expected bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE stored bigint; dead bigint;
BEGIN
  SELECT count(*) INTO stored FROM telemetry.readings;
  SELECT count(*) INTO dead FROM telemetry.dead_letters;
  IF stored <> expected OR dead <> 0 THEN
    RAISE EXCEPTION 'pipeline stored % readings and % dead letters, expected % and 0', stored, dead, expected;
  END IF;
  RETURN 'ok';
END $$;

-- Series stay registered between runs, as in a running plant, where a series is new once in
-- its life: all of them are registered here, untimed, by one batch through the inbox.
CREATE FUNCTION bench_ingest.reset() RETURNS void LANGUAGE sql AS $$
  TRUNCATE telemetry.readings, telemetry.dead_letters, telemetry.dead_letter_messages, telemetry.ingest_batches,
    telemetry.alarm_states, telemetry.alarm_events, telemetry.alarm_outbox, telemetry.rollup_invalidations,
    telemetry.recent_events;
$$;
-- In order: the readings (of 2025-06-01) come after the 1-minute watermark; late: before it.
-- Raw retention is lengthened so that late readings of 2025 count as within it.
UPDATE telemetry.retention SET keep = interval '100 years' WHERE tier = 'raw';
CREATE FUNCTION bench_ingest.watermark(until timestamptz) RETURNS void LANGUAGE sql AS $$
  UPDATE telemetry.rollup_watermarks SET materialized_until = until WHERE tier = '1m';
$$;
SELECT bench_ingest.watermark('2025-05-01') \gset
-- The rollup stage on its own for in-order data, once per batch in a transaction of its own:
-- the shared lock and the watermark, as extension/src/ingest/rollups.rs runs them.
CREATE PROCEDURE bench_ingest.stage(batches bigint, INOUT ms float8 DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE t timestamptz := clock_timestamp();
BEGIN
  FOR k IN 1 .. batches LOOP
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtext('telemetry.rollup_watermark'));
    PERFORM (SELECT w.materialized_until FROM telemetry.rollup_watermarks w WHERE w.tier = '1m'),
            (SELECT pg_catalog.now() - r.keep FROM telemetry.retention r WHERE r.tier = 'raw');
    COMMIT;
  END LOOP;
  ms := 1000 * extract(epoch FROM clock_timestamp() - t);
END $$;
-- One high limit per metric, above every value, so each reading is evaluated against a rule
-- and changes its state, as in a healthy plant; enabled only for the runs with alarms.
SELECT count(telemetry.add_alarm_rule(metric || ' high', 'high', 'high', limit_value => 1e6, metric => metric))
  FROM (SELECT DISTINCT metric FROM bench_ingest.decoded) m;
UPDATE telemetry.alarm_rules SET enabled = false;
INSERT INTO telemetry.inbox (topic, payload) SELECT topic, payload FROM bench_ingest.raw_single WHERE n <= :series;
SELECT count(*) AS registered FROM telemetry.series \gset
\if `test :registered -eq :series && echo 1 || echo 0`
\else
  \echo 'expected' :series 'series to be registered, found' :registered
  SELECT 1 / 0 AS series_registration_failed;
\endif

CREATE TABLE bench_ingest.times (round int, what text, ms float8);
-- One round of the pipeline, one reading and 20 per message, recorded under a suffix; the
-- messages are those of the tables raw_single and raw_multi with `source` appended to the name.
CREATE PROCEDURE bench_ingest.both(r int, suffix text, readings bigint, multi_batch int, single_batch int, source text DEFAULT '')
LANGUAGE plpgsql AS $$
DECLARE ms float8;
BEGIN
  CALL bench_ingest.pipeline(('bench_ingest.raw_single' || source)::regclass, single_batch, 1, ms);
  PERFORM bench_ingest.check(readings);
  INSERT INTO bench_ingest.times VALUES (r, 'single' || suffix, ms);
  ms := NULL;
  CALL bench_ingest.pipeline(('bench_ingest.raw_multi' || source)::regclass, multi_batch, 1, ms);
  PERFORM bench_ingest.check(readings);
  INSERT INTO bench_ingest.times VALUES (r, 'multi' || suffix, ms);
END $$;
CREATE PROCEDURE bench_ingest.rounds(runs int, readings bigint, multi_batch int, single_batch int)
LANGUAGE plpgsql AS $$
DECLARE ms float8;
BEGIN
  FOR r IN 1 .. runs LOOP
    ms := NULL;
    CALL bench_ingest.copy(1, ms);
    INSERT INTO bench_ingest.times VALUES (r, 'copy', ms);
    CALL bench_ingest.both(r, '', readings, multi_batch, single_batch);
    CALL bench_ingest.both(r, '_events', readings, multi_batch, single_batch, '_events');
    UPDATE telemetry.alarm_rules SET enabled = true;
    COMMIT;
    CALL bench_ingest.both(r, '_alarms', readings, multi_batch, single_batch);
    UPDATE telemetry.alarm_rules SET enabled = false;
    COMMIT;
    -- The same batches, every reading late: one invalidation statement per batch.
    PERFORM bench_ingest.watermark('2100-01-01');
    COMMIT;
    CALL bench_ingest.both(r, '_late', readings, multi_batch, single_batch);
    INSERT INTO bench_ingest.times SELECT r, 'invalidations', count(*) FROM telemetry.rollup_invalidations;
    PERFORM bench_ingest.watermark('2025-05-01');
    COMMIT;
    ms := NULL;
    CALL bench_ingest.stage(ceil(readings::float8 / single_batch)::bigint, ms);
    INSERT INTO bench_ingest.times VALUES (r, 'stage_single', ms);
    ms := NULL;
    CALL bench_ingest.stage(ceil(readings::float8 / 20 / multi_batch)::bigint, ms);
    INSERT INTO bench_ingest.times VALUES (r, 'stage_multi', ms);
  END LOOP;
END $$;
-- The last round leaves the readings of the 20-per-message run (all late) for the storage figures.
CALL bench_ingest.rounds(:runs, :readings, :multi_batch, :single_batch);
SELECT min(ms) FILTER (WHERE what = 'copy') AS copy_ms, min(ms) FILTER (WHERE what = 'multi') AS multi_ms,
       min(ms) FILTER (WHERE what = 'single') AS single_ms, min(ms) FILTER (WHERE what = 'multi_alarms') AS multi_alarms_ms,
       min(ms) FILTER (WHERE what = 'multi_events') AS multi_events_ms, min(ms) FILTER (WHERE what = 'single_events') AS single_events_ms,
       min(ms) FILTER (WHERE what = 'single_alarms') AS single_alarms_ms,
       min(ms) FILTER (WHERE what = 'multi_late') AS multi_late_ms,
       min(ms) FILTER (WHERE what = 'single_late') AS single_late_ms,
       min(ms) FILTER (WHERE what = 'stage_multi') AS stage_multi_ms, min(ms) FILTER (WHERE what = 'stage_single') AS stage_single_ms,
       max(ms) FILTER (WHERE what = 'invalidations') AS invalidations,
       (SELECT count(*) FROM telemetry.alarm_states) AS alarm_states FROM bench_ingest.times \gset
-- Storage, with telemetry.readings full: bytes per reading, in the heap and with the indexes.
INSERT INTO bench_ingest.sensor_readings (reading_id, site_id, asset_id, sensor_id, timestamp, metric_name, value, unit, quality)
SELECT gen_random_uuid(), site_id, asset_id, '', time, metric, value, 'kW', 'GOOD' FROM bench_ingest.decoded;
SELECT (SELECT count(*) FROM telemetry.readings) AS ours_rows, (SELECT count(*) FROM bench_ingest.sensor_readings) AS seed_rows,
       hypertable_size('telemetry.readings')::float8 / :readings AS ours_bytes,
       hypertable_size('bench_ingest.sensor_readings')::float8 / :readings AS seed_bytes,
       (SELECT sum(pg_table_size(format('%I.%I', chunk_schema, chunk_name)))
          FROM timescaledb_information.chunks WHERE hypertable_name = 'readings')::float8 / :readings AS ours_heap,
       (SELECT sum(pg_table_size(format('%I.%I', chunk_schema, chunk_name)))
          FROM timescaledb_information.chunks WHERE hypertable_name = 'sensor_readings')::float8 / :readings AS seed_heap \gset
-- At rest: both tables rewritten in index order, as telemetry.reorder_chunks() does for closed chunks.
SET client_min_messages = warning;
SELECT count(*) AS reordered FROM telemetry.reorder_chunks(interval '0') \gset
SELECT format('CLUSTER %I.%I USING %I', c.chunk_schema, c.chunk_name, ic.relname)
  FROM timescaledb_information.chunks c
  JOIN pg_index i ON i.indrelid = format('%I.%I', c.chunk_schema, c.chunk_name)::regclass AND i.indisprimary
  JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE c.hypertable_name = 'sensor_readings' \gexec
SELECT hypertable_size('telemetry.readings')::float8 / :readings AS ours_rest,
       hypertable_size('bench_ingest.sensor_readings')::float8 / :readings AS seed_rest \gset

\echo
\echo :readings 'readings over' :series 'series, batches of' :multi_batch 'and' :single_batch 'messages, best of' :runs 'rounds; readings/s and the ratio to binary COPY of decoded rows'
SELECT name, round(:readings / (ms / 1000)) AS readings_per_s, round((:copy_ms / ms)::numeric, 2) AS ratio_to_copy, target
  FROM (VALUES ('binary COPY, decoded rows (baseline)', :copy_ms::float8, ''),
               ('pipeline, 20 readings per message', :multi_ms::float8, '>= 0.6'),
               ('pipeline, 1 reading per message', :single_ms::float8, '>= 0.4')) AS r (name, ms, target);
\echo
\echo 'Payload event ids: the same messages with an event_id in each reading (as the load generator sends them), looked up and recorded within telemetry.event_id_window, against the same without'
SELECT name, round(:readings / (ms / 1000)) AS readings_per_s, round((base / ms)::numeric, 2) AS ratio_to_without,
       round((100 * (ms - base) / base)::numeric, 1) AS overhead_percent
  FROM (VALUES ('pipeline with event ids, 20 readings per message', :multi_events_ms::float8, :multi_ms::float8),
               ('pipeline with event ids, 1 reading per message', :single_events_ms::float8, :single_ms::float8)) AS r (name, ms, base);
\echo
\echo 'Alarm rules: one per metric, every series watched (' :alarm_states 'alarm states); the pipeline with them against the pipeline without, in the same rounds'
SELECT name, round(:readings / (ms / 1000)) AS readings_per_s, round((base / ms)::numeric, 2) AS ratio_to_no_rules,
       round((100 * (ms - base) / base)::numeric, 1) AS overhead_percent, '<= 15' AS target
  FROM (VALUES ('pipeline with alarm rules, 20 readings per message', :multi_alarms_ms::float8, :multi_ms::float8),
               ('pipeline with alarm rules, 1 reading per message', :single_alarms_ms::float8, :single_ms::float8)) AS r (name, ms, base);
\echo
\echo 'Rollups: what the rollup stage costs ingest. In order it writes nothing: its lock and watermark read, timed on their own once per batch, against the pipeline; all late (every reading before the watermark,' :invalidations '1-minute buckets invalidated) against in order, in the same rounds'
SELECT name, round(:readings / (ms / 1000)) AS readings_per_s, round((base / ms)::numeric, 2) AS ratio_to_base,
       round((100 * (ms - base) / base)::numeric, 1) AS overhead_percent, target
  FROM (VALUES ('pipeline in order, 20 readings per message (stage: ' || round(:stage_multi_ms::numeric, 1) || ' ms)',
                :multi_ms::float8, :multi_ms::float8 - :stage_multi_ms::float8, '<= 15 (stretch 10)'),
               ('pipeline in order, 1 reading per message (stage: ' || round(:stage_single_ms::numeric, 1) || ' ms)',
                :single_ms::float8, :single_ms::float8 - :stage_single_ms::float8, '<= 15 (stretch 10)'),
               ('pipeline all late, 20 readings per message, against in order', :multi_late_ms::float8, :multi_ms::float8, ''),
               ('pipeline all late, 1 reading per message, against in order', :single_late_ms::float8, :single_ms::float8, '')) AS r (name, ms, base, target);
\echo
\echo 'Rows stored, and bytes on disk per reading'
SELECT :ours_rows AS telemetry_readings_rows, :seed_rows AS seed_000_sensor_readings_rows;
SELECT what, round(ours::numeric, 1) AS telemetry_readings, round(seed::numeric, 1) AS seed_000_sensor_readings,
       round((ours / seed)::numeric, 2) AS ratio, target
  FROM (VALUES ('table and indexes, at rest (both reordered)', :ours_rest::float8, :seed_rest::float8, '<= 0.5'),
               ('table and indexes, while being written', :ours_bytes::float8, :seed_bytes::float8, ''),
               ('table alone, while being written', :ours_heap::float8, :seed_heap::float8, '')) AS b (what, ours, seed, target);
SELECT bench_ingest.reset() \gset
UPDATE telemetry.retention SET keep = interval '90 days' WHERE tier = 'raw';
UPDATE telemetry.rollup_watermarks SET materialized_until = NULL;
DROP SCHEMA bench_ingest CASCADE;
\! rm -f /tmp/telemetry-bench-*.bin
