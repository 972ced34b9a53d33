-- Benchmark: what a batch costs whatever its size. The same single-reading messages, as the
-- load generator of tests/bench/shim.sh publishes them (24 devices, an event_id, an RFC 3339
-- time, a unit and a quality flag in each), go through the staging table as the shim sends
-- them (binary COPY, telemetry.ingest_staged(), COMMIT) in batches of 5,000 messages (the
-- shim's largest), 740 (what it closes at 72,000 messages/s after its 10 ms delay) and 100.
-- Same run, same messages, best of :runs rounds; the rounds alternate the sizes. The cost of
-- a batch whatever its size is the difference of the times over the difference of the batch
-- counts; the rest is the cost per reading. Both in CPU time of the backend (from
-- /proc/self/stat, so a superuser on Linux), which leaves out the wait for each commit's WAL
-- flush, and in elapsed time, which does not.
\set ON_ERROR_STOP 1
\if :{?messages}
\else
  \set messages 240000
\endif
\if :{?runs}
\else
  \set runs 3
\endif
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_batch CASCADE;
CREATE SCHEMA bench_batch;
CREATE TABLE bench_batch.raw AS
SELECT row_number() OVER (ORDER BY s, p) AS n,
       format('telemetry/bench-batch/p%s/energy', p) AS topic,
       convert_to(format('{"event_id":"p%s-%s","timestamp":"%s","value":%s,"unit":"kWh","quality_flag":"GOOD"}',
                 p, s, to_char((timestamptz '2026-01-01 00:00:00+00' + s * interval '10 ms') AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), s), 'UTF8') AS payload
FROM generate_series(0, :messages / 24 - 1) s, generate_series(0, 23) p;
CREATE FUNCTION bench_batch.file(size int, k bigint) RETURNS text LANGUAGE sql
  AS $$ SELECT format('/tmp/telemetry-bench-batch-%s-%s.bin', size, k) $$;
CREATE FUNCTION bench_batch.write(size int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE last bigint; k bigint := 0;
BEGIN
  SELECT max(n) INTO last FROM bench_batch.raw;
  WHILE k < last LOOP
    EXECUTE format('COPY (SELECT now(), topic, payload FROM bench_batch.raw WHERE n > %s AND n <= %s ORDER BY n) TO %L WITH (FORMAT binary)',
                   k, k + size, bench_batch.file(size, k));
    k := k + size;
  END LOOP;
  RETURN last;
END $$;
SELECT bench_batch.write(5000), bench_batch.write(740), bench_batch.write(100) \gset
CREATE TABLE bench_batch.times (size int, batches int, ms float8, cpu_ms float8);
-- This backend's user and system CPU time so far, in ms (fields 14 and 15 of /proc/self/stat,
-- counted after the command name, which may hold spaces, in clock ticks of 10 ms).
CREATE FUNCTION bench_batch.cpu_ms() RETURNS float8 LANGUAGE sql AS $$
  SELECT 10.0 * (f[12]::bigint + f[13]::bigint)
    FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f) s
$$;
-- One pass over all messages in batches of `size`; every one must be stored once.
CREATE PROCEDURE bench_batch.pass(size int) LANGUAGE plpgsql AS $$
DECLARE t timestamptz; c float8; last bigint; k bigint := 0; batches int := 0; stored bigint;
BEGIN
  SELECT max(n) INTO last FROM bench_batch.raw;
  PERFORM telemetry.prepare_staging();
  TRUNCATE telemetry.readings, telemetry.recent_events, telemetry.ingest_batches,
           telemetry.dead_letters, telemetry.dead_letter_messages;
  COMMIT;
  t := clock_timestamp();
  c := bench_batch.cpu_ms();
  WHILE k < last LOOP
    EXECUTE format('COPY pg_temp.telemetry_staging (received_at, topic, payload) FROM %L WITH (FORMAT binary)',
                   bench_batch.file(size, k));
    PERFORM * FROM telemetry.ingest_staged();
    COMMIT;
    k := k + size;
    batches := batches + 1;
  END LOOP;
  INSERT INTO bench_batch.times
  VALUES (size, batches, 1000 * extract(epoch FROM clock_timestamp() - t), bench_batch.cpu_ms() - c);
  SELECT count(*) INTO stored FROM telemetry.readings;
  IF stored <> last OR EXISTS (SELECT FROM telemetry.dead_letters) THEN
    RAISE EXCEPTION 'batches of %: stored % readings of %, or dead letters', size, stored, last;
  END IF;
  COMMIT;
END $$;
-- The first pass registers the series and warms the caches; it is not counted.
CALL bench_batch.pass(5000);
TRUNCATE bench_batch.times;
SELECT format('CALL bench_batch.pass(%s)', size) FROM generate_series(1, :runs), unnest(ARRAY[5000, 740, 100]) size \gexec
\echo
\echo 'Pipeline through the staging table, single-reading messages, best of' :runs 'rounds (CPU of the backend, and elapsed):'
CREATE VIEW bench_batch.best AS
SELECT size, min(batches) AS batches, min(cpu_ms) AS cpu_ms, min(ms) AS ms FROM bench_batch.times GROUP BY size;
CREATE VIEW bench_batch.fit AS
SELECT (s.cpu_ms - l.cpu_ms) / (s.batches - l.batches) AS cpu_per_batch, (s.ms - l.ms) / (s.batches - l.batches) AS per_batch,
       l.cpu_ms AS large_cpu, l.ms AS large_ms, l.batches AS large_batches
  FROM bench_batch.best s, bench_batch.best l WHERE s.size = 100 AND l.size = 5000;
SELECT b.size AS messages_per_batch, b.batches,
       round((1000 * b.cpu_ms / :messages)::numeric, 2) AS cpu_us_per_reading,
       round((100 * b.batches * f.cpu_per_batch / b.cpu_ms)::numeric, 1) AS cpu_per_batch_share_pct,
       round((1000 * b.ms / :messages)::numeric, 2) AS elapsed_us_per_reading
  FROM bench_batch.best b, bench_batch.fit f ORDER BY b.size DESC;
SELECT round(cpu_per_batch::numeric, 3) AS cpu_ms_per_batch,
       round((1000 * (large_cpu - large_batches * cpu_per_batch) / :messages)::numeric, 2) AS cpu_us_per_reading,
       round(per_batch::numeric, 3) AS elapsed_ms_per_batch,
       round((1000 * (large_ms - large_batches * per_batch) / :messages)::numeric, 2) AS elapsed_us_per_reading
  FROM bench_batch.fit;
\! rm -f /tmp/telemetry-bench-batch-*.bin
DROP SCHEMA bench_batch CASCADE;
