#!/usr/bin/env bash
# Two sessions ingest overlapping readings at the same time, in batches of one transaction each.
# Both start on the shared range, one sending each batch in ascending and the other in descending
# order, so they insert the same keys at the same moment in opposite orders: the case that
# deadlocks unless the pipeline inserts in one global key order. An alarm rule watches the
# series, whose values cross its limit back and forth. Asserts: no error or deadlock, every
# reading stored once, stored + duplicates + conflicting + dead letters = sent, and each
# alarm's raises and clears alternate (no alarm raised twice without a clear between), and
# every rollup tier holds exactly the stored readings, before and after maintenance
# materializes them: the readings are late (before the watermarks, set first), so both
# sessions record invalidations for the same buckets at once, while maintenance runs
# concurrently; a lost invalidation would show here.
# Usage: tests/ingest/concurrency.sh PORT DATABASE
set -euo pipefail
port=$1 db=$2
psql_c() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 -d "$db" "$@"; }
batch=2500
# Session A sends readings 0..9999, session B 5000..14999: 5000..9999 are sent by both, first.
session() {
  local order=$1 start
  shift
  {
    echo "SELECT telemetry.prepare_staging();"
    for start in "$@"; do
      # Every transaction first waits at the barrier, so the sessions start their batches together.
      cat <<SQL
BEGIN;
SELECT pg_advisory_xact_lock_shared(4242);
INSERT INTO pg_temp.telemetry_staging (topic, payload)
SELECT 'telemetry/conc/asset-' || (i % 50) || '/humidity',
       convert_to(format('{"value": %s, "ts": %s}', i % 100, 1748779200 + i), 'UTF8')
  FROM generate_series($start, $((start + batch - 1))) AS i ORDER BY i $order;
SELECT * FROM telemetry.ingest_staged();
COMMIT;
SQL
    done
  } | psql_c >/dev/null
}
psql_c -c "SELECT telemetry.add_alarm_rule('conc humidity', 'high', 'high', limit_value => 90, site_id => 'conc',
                                           suppression_window => '0 s')" >/dev/null
# Every tier materialized past the readings (none yet), so that all of them are late; raw
# retention long enough that readings of 2025 count as within it.
psql_c -c "UPDATE telemetry.retention SET keep = interval '100 years' WHERE tier = 'raw'" \
       -c "UPDATE telemetry.rollup_watermarks SET materialized_until = '2025-06-02'" >/dev/null
# Maintenance runs over and over meanwhile, materializing what the sessions invalidate.
maintain() { for _ in $(seq 1 30); do psql_c -c "SELECT count(*) FROM telemetry.materialize_rollups()" >/dev/null; sleep 0.05; done; }
# The barrier: held here until both sessions are connected and waiting on it.
exec 3> >(psql_c >/dev/null)
echo "BEGIN; SELECT pg_advisory_xact_lock(4242); SELECT pg_sleep(1); COMMIT;" >&3
sleep 0.2
session ASC $(seq 5000 $batch 9999) $(seq 0 $batch 4999) & a=$!
session DESC $(seq 5000 $batch 9999) $(seq 10000 $batch 14999) & b=$!
maintain & m=$!
exec 3>&-
status=0
wait $a || status=1
wait $b || status=1
wait $m || status=1
[ $status = 0 ] || { echo "a session failed (error or deadlock)"; exit 1; }
result=$(psql_c -tA -F ' ' -c "
  SELECT (SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'conc'),
         (SELECT count(DISTINCT (series_id, time)) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'conc'),
         sum(readings), sum(duplicates), sum(conflicting_duplicates), sum(dead_letters), sum(messages)
    FROM telemetry.ingest_batches")
read -r rows distinct stored dups conflicts dead sent <<<"$result"
echo "    sent $sent, stored $stored, duplicates $dups, conflicting $conflicts, dead letters $dead; rows $rows, distinct $distinct"
[ "$rows" = 15000 ] && [ "$distinct" = 15000 ] && [ "$stored" = 15000 ] && [ "$dups" = 5000 ] \
  && [ "$conflicts" = 0 ] && [ "$dead" = 0 ] && [ "$sent" = 20000 ] \
  && [ $((stored + dups + conflicts + dead)) = "$sent" ] || { echo "the readings do not add up"; exit 1; }
read -r transitions doubled < <(psql_c -tA -F ' ' -c "
  SELECT count(*), count(*) FILTER (WHERE kind = before)
    FROM (SELECT kind, lag(kind) OVER (PARTITION BY rule_id, series_id ORDER BY time, event_id) AS before
            FROM telemetry.alarm_events WHERE kind IN ('raise', 'clear')) e")
echo "    alarm raises and clears: $transitions, of which following one of the same kind: $doubled"
[ "$transitions" -gt 0 ] && [ "$doubled" = 0 ] || { echo "an alarm was raised or cleared twice in a row"; exit 1; }
check_tiers() {
for tier in $(psql_c -tA -c "SELECT tier FROM telemetry.rollup_tiers()"); do
  wrong=$(psql_c -tA -c "
    WITH conc AS (SELECT series_id FROM telemetry.series WHERE site_id = 'conc'),
    raw AS (SELECT r.series_id, pg_catalog.date_bin(t.bucket_width, r.time, '1970-01-01') AS bucket, count(*) AS n
              FROM telemetry.readings r JOIN conc USING (series_id), telemetry.rollup_tiers() t WHERE t.tier = '$tier'
             GROUP BY 1, 2)
    SELECT count(*) FROM raw FULL JOIN (SELECT x.* FROM telemetry.rollup_$tier x JOIN conc USING (series_id)) x USING (series_id, bucket)
     WHERE raw.n IS DISTINCT FROM telemetry.num_vals(x.summary)")
  echo "    rollup_$tier buckets whose count differs from the stored readings ($1): $wrong"
  [ "$wrong" = 0 ] || { echo "rollup_$tier lost readings stored concurrently ($1)"; exit 1; }
done
}
check_tiers "invalidated buckets from raw"
psql_c -c "SELECT count(*) FROM telemetry.materialize_rollups()" >/dev/null
check_tiers "materialized again"
[ "$(psql_c -tA -c "SELECT count(*) FROM telemetry.rollup_invalidations")" = 0 ] || { echo "invalidations left"; exit 1; }
# An ingest transaction left open holds the watermark lock: maintenance gives up after its
# lock_wait, with a warning, rather than stall every batch queued behind it.
psql_c -c "BEGIN; SELECT readings FROM telemetry.ingest('telemetry/conc/asset-open/humidity', convert_to('{\"value\": 1, \"ts\": 1748900000}', 'UTF8')); SELECT pg_sleep(2); COMMIT;" >/dev/null & open=$!
sleep 1
started=$(date +%s%N)
out=$(psql_c -tA -c "SELECT count(*) FROM telemetry.materialize_rollups(lock_wait => '300 ms')" 2>&1)
waited=$(( ($(date +%s%N) - started) / 1000000 ))
wait $open
echo "    maintenance with an ingest transaction open: gave up after $waited ms: $(tr '\n' ' ' <<<"$out")"
grep -q "rollups not materialized this run" <<<"$out" && [ "$waited" -lt 1500 ] \
  || { echo "maintenance did not give up on the lock held by an open ingest transaction"; exit 1; }
psql_c -c "UPDATE telemetry.retention SET keep = interval '90 days' WHERE tier = 'raw'" >/dev/null
