#!/usr/bin/env bash
# No message can stall the stream. One writer carries a canary series (the load generator, 20
# readings/s for 30 s) and poison published into it with mosquitto_pub (Sparkplug B payloads
# encoded by Eclipse Tahu's sparkplug-payload): NUL in JSON names, site, sensor and asset ids
# over 128 characters (one of them in a 60 kB topic), absurd times, garbage that is neither JSON
# nor protobuf, Sparkplug births and data of an edge node id over 128 characters and with an
# alias of 2^63, 100,000 metrics in one message, deeply nested JSON, and two marker messages
# that a deferred constraint trigger on telemetry.dead_letter_messages refuses at COMMIT
# (SQLSTATE 23514), which the extension cannot catch. The shim connects as a login role that
# is only a member of telemetry_writer.
# Asserts: every poison message is accounted for (stored readings, telemetry.dead_letters or the
# shim's local dead-letter file); the markers in the local file with SQLSTATE 23514 and their
# payload, and no other message there; the canary stored exactly once, without a gap, with a
# publish-to-commit p99 under 1 s (commit timestamps); while the local file cannot be written,
# a refused message and the one after it are not acknowledged and /healthz answers 503, and
# both go through once it can; the shim never restarted or reconnected; /metrics agrees:
# received = committed + local dead letters, local dead letters by SQLSTATE = the files' lines,
# committed = telemetry.ingest_batches, nothing in hand.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
[ -f "$TEST_NODE_DIR/node_modules/sparkplug-payload/package.json" ] \
  || die "poison" "the Sparkplug B encoder is missing: run scripts/setup.sh"
setup poison

psql_t -c "ALTER SYSTEM SET track_commit_timestamp = on"
pg_ctl_as fast restart
psql_t <<'SQL'
CREATE ROLE poison_shim LOGIN IN ROLE telemetry_writer;
-- Runs at COMMIT, after the pipeline has returned: the shim's split is the only way past it.
CREATE FUNCTION public.refuse_marker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF position(convert_to('POISON-COMMIT-MARKER', 'UTF8') IN NEW.payload) > 0 THEN
    RAISE EXCEPTION 'the poison marker is refused at commit' USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER refuse_marker AFTER INSERT ON telemetry.dead_letter_messages
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.refuse_marker();
CREATE TABLE public.poison (seq serial, tag text, site text, asset text, topic text);
SQL

SHIM_PG_USER=poison_shim start_shim --writers 1 --client-id poison
pid=$SHIM_PID
canary=600
loadgen_start --site canary --producers 1 --messages "$canary" --rate 20
sleep 2

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
long() { head -c "$2" /dev/zero | tr '\0' "$1"; }
reading() { printf '{"value":1,"unit":"kWh","timestamp":"%s"%s}' "${2:-$now}" "${1:-}"; }
# pub TAG SITE ASSET TOPIC MOSQUITTO_PUB_ARGS...: publishes one message and lists it. Each
# message has a topic of its own, by which it is found again.
published=0
pub() {
  local tag=$1 site=$2 asset=$3 topic=$4
  shift 4
  mosquitto_pub -p "$MQ_PORT" -q 1 -i poison-publisher -t "$topic" "$@" || die "publish" "$tag"
  printf '%s\t%s\t%s\t%s\n' "$tag" "$site" "$asset" "$topic" >> "$WORK/poison.tsv"
  published=$((published + 1))
  sleep 0.4
}
p=$WORK/payloads
mkdir -p "$p"
head -c 4096 /dev/urandom > "$p/garbage"
head -c 300 /dev/urandom > "$p/protobuf-garbage"
{ printf '{"siteId":"poison","assetId":"many-metrics","timestamp":"%s","metrics":{' "$now"
  seq -f '"%g":1' 0 99999 | paste -sd, | tr -d '\n'
  printf '}}'; } > "$p/many-metrics"
{ printf '{"value":'; long '[' 100000; printf 1; long ']' 100000; printf '}'; } > "$p/nested"
NODE_PATH=$TEST_NODE_DIR/node_modules node "$ROOT/tests/shim/sparkplug/poison.js" "$p" "$(date +%s%3N)"
edge=$(long e 200)

pub nul-sensor poison nul-sensor telemetry/poison/nul-sensor/energy -m "$(reading ',"sensor_id":"\u0000"')"
pub nul-metric poison-nul nul-metric site/poison-nul/telemetry \
  -m "{\"assetId\":\"nul-metric\",\"timestamp\":\"$now\",\"metrics\":{\"energy\\u0000\":1}}"
pub long-site "$(long s 200)" long-site "telemetry/$(long s 200)/long-site/energy" -m "$(reading)"
pub long-sensor poison long-sensor telemetry/poison/long-sensor/energy \
  -m "$(reading ",\"sensor_id\":\"$(long x 200)\"")"
pub topic-60kB poison "$(long y 60000)" "telemetry/poison/$(long y 60000)/energy" -m "$(reading)"
pub marker poison marker telemetry/poison/marker/energy -m 'not JSON: POISON-COMMIT-MARKER'
pub year-294000 poison year-294000 telemetry/poison/year-294000/energy -m "$(reading '' 294000-01-01T00:00:00Z)"
pub epoch-1ms poison epoch-1ms telemetry/poison/epoch-1ms/energy -m "$(reading '' 1970-01-01T00:00:00.001Z)"
pub ms-max poison ms-max telemetry/poison/ms-max/energy -m '{"value":1,"unit":"kWh","timestamp":9223372036854775}'
pub garbage poison garbage telemetry/poison/garbage/energy -f "$p/garbage"
pub protobuf-garbage poison garbage-node spBv1.0/poison/DDATA/garbage-node/dev -f "$p/protobuf-garbage"
pub nbirth-long poison "$edge" "spBv1.0/poison/NBIRTH/$edge" -f "$p/nbirth-long.bin"
pub dbirth-long poison "$edge" "spBv1.0/poison/DBIRTH/$edge/dev1" -f "$p/dbirth-long.bin"
pub ddata-long poison "$edge" "spBv1.0/poison/DDATA/$edge/dev1" -f "$p/ddata-long.bin"
pub nbirth-alias poison alias-node spBv1.0/poison/NBIRTH/alias-node -f "$p/nbirth-alias.bin"
pub dbirth-alias poison alias-node spBv1.0/poison/DBIRTH/alias-node/dev1 -f "$p/dbirth-alias.bin"
pub ddata-alias poison alias-node spBv1.0/poison/DDATA/alias-node/dev1 -f "$p/ddata-alias.bin"
pub many-metrics poison many-metrics site/poison/telemetry -f "$p/many-metrics"
pub nested poison nested telemetry/poison/nested/energy -f "$p/nested"
pub marker-again poison marker telemetry/poison/marker/power -m 'again: POISON-COMMIT-MARKER'
say "published $published poison messages into the canary stream"

loadgen_wait
wait_stored canary "$canary"
wait_metric messages_received_total $((canary + published)) 60
wait_metric messages_in_hand 0 60

# Every poison message: stored, in telemetry.dead_letters (its topic there may be cut, with its
# length kept) or in the local file.
psql_t -c "\\copy public.poison (tag, site, asset, topic) FROM '$WORK/poison.tsv'"
psql_t -c "CREATE TABLE public.local_dead AS
  SELECT line::jsonb AS j FROM regexp_split_to_table(pg_read_file('$WORK/dead-letters.jsonl'), E'\\n') line
   WHERE line <> ''"
psql_t -c "CREATE TABLE public.traces AS SELECT p.seq, p.tag,
    (SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
      WHERE s.site_id = p.site AND s.asset_id = p.asset) AS stored,
    (SELECT count(*) FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
      WHERE m.topic = p.topic OR (m.topic_bytes = octet_length(p.topic) AND starts_with(p.topic, m.topic)))
      AS dead_letters,
    (SELECT string_agg(l.j->>'sqlstate', ',') FROM public.local_dead l WHERE l.j->>'topic' = p.topic) AS local
  FROM public.poison p"
say "poison message: readings stored for its site and asset / rows in telemetry.dead_letters / local dead letters (SQLSTATE)"
psql_t -c "SELECT tag, stored, dead_letters, coalesce(local, '-') FROM public.traces ORDER BY seq" | sed 's/^/      /'
lost=$(psql_t -c "SELECT coalesce(string_agg(tag, ' '), '') FROM public.traces
                   WHERE stored = 0 AND dead_letters = 0 AND local IS NULL")
[ -z "$lost" ] || die "accounting" "no trace of: $lost"
[ "$(psql_t -c "SELECT count(DISTINCT topic) FROM public.poison")" = "$published" ] \
  || die "accounting" "the poison list is incomplete or has a topic twice"
read -r markers marker_rows strays < <(psql_t -c "
  SELECT (SELECT count(*) FROM public.local_dead WHERE j->>'sqlstate' = '23514'
            AND j->>'topic' LIKE 'telemetry/poison/marker/%'
            AND position(convert_to('POISON-COMMIT-MARKER', 'UTF8') IN decode(j->>'payload_hex', 'hex')) > 0
            AND (j->>'packet_id')::int > 0),
         (SELECT count(*) FROM telemetry.dead_letter_messages WHERE topic LIKE 'telemetry/poison/marker/%'),
         (SELECT count(*) FROM public.local_dead WHERE j->>'topic' NOT IN (SELECT topic FROM public.poison))")
[ "$markers" = 2 ] && [ "$marker_rows" = 0 ] && [ "$strays" = 0 ] \
  || die "local dead letters" "markers with 23514 and their payload: $markers (expected 2), marker rows in telemetry.dead_letters: $marker_rows (0), local dead letters of other messages: $strays (0)"
say "both markers are in the local file with SQLSTATE 23514 and their payload; no other message is"

# The local file unwritable (a directory where it was): the refused message is not
# acknowledged, the message after it on the writer waits, and /healthz fails. Once the file
# can be written again, both go through, and the line starts a new file (the old one was
# moved away, as to rotate it).
health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz"; }
wait_health() {
  local i
  for i in $(seq 100); do [ "$(health)" = "$1" ] && return 0; sleep 0.2; done
  die "health" "/healthz is $(health), expected $1"
}
mv "$WORK/dead-letters.jsonl" "$WORK/dead-letters.1.jsonl"
mkdir "$WORK/dead-letters.jsonl"
mosquitto_pub -p "$MQ_PORT" -q 1 -t telemetry/poison/marker/blocked -m 'blocked: POISON-COMMIT-MARKER'
mosquitto_pub -p "$MQ_PORT" -q 1 -t telemetry/after/p0/energy -m "$(reading)"
wait_health 503
sleep 1
[ "$(metric messages_in_hand)" = 2 ] && [ "$(stored_rows after)" = 0 ] \
  || die "unwritable file" "in hand $(metric messages_in_hand) (expected 2), stored after it $(stored_rows after) (0)"
say "dead-letter file unwritable: /healthz 503, the refused message and the next one not acknowledged"
rmdir "$WORK/dead-letters.jsonl"
wait_health 200
wait_metric messages_in_hand 0 30
wait_stored after 1 10
[ "$(stored_rows after)" = 1 ] && [ "$(grep -c 'marker/blocked' "$WORK/dead-letters.jsonl")" = 1 ] \
  && [ "$(grep -c . "$WORK/dead-letters.1.jsonl")" = "$(psql_t -c "SELECT count(*) FROM public.local_dead")" ] \
  || die "unwritable file" "after the file came back: $(stored_rows after) stored after the marker, its line not alone in a new file"
say "writable again: both went through, the line in a new file"
psql_t -c "INSERT INTO public.local_dead
  SELECT line::jsonb FROM regexp_split_to_table(pg_read_file('$WORK/dead-letters.jsonl'), E'\\n') line
   WHERE line <> ''"

# The shim: one process all along, and its counters agree with the database and the file.
[ "$SHIM_PID" = "$pid" ] && kill -0 "$pid" && [ "$(grep -c 'ingest-shim started' "$WORK/shim.log")" = 1 ] \
  || die "shim" "the shim process did not run throughout"
received=$(metric messages_received_total)
committed=$(metric messages_committed_total)
local_by_state=$(curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" \
  | sed -n 's/^ingest_shim_local_dead_letters_total{sqlstate="\([^"]*\)"} \([0-9]*\)$/\1 \2/p' | LC_ALL=C sort)
local_total=$(awk '{n += $2} END {print n + 0}' <<<"$local_by_state")
file_by_state=$(psql_t -c "SELECT j->>'sqlstate', count(*) FROM public.local_dead GROUP BY 1" | LC_ALL=C sort)
batches=$(psql_t -c "SELECT sum(messages) FROM telemetry.ingest_batches")
data_errors=$(curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" \
  | awk '/^ingest_shim_data_errors_total\{/ {n += $2} END {print n + 0}')
say "metrics: received $received, committed $committed, local dead letters $local_total ($(tr '\n' ' ' <<<"$local_by_state")), data errors $data_errors, failed attempts $(metric batch_failures_total); ingest_batches: $batches messages"
[ "$received" = $((canary + published + 2)) ] && [ $((committed + local_total)) = "$received" ] \
  && [ "$local_by_state" = "$file_by_state" ] && [ "$batches" = "$committed" ] \
  && [ "$data_errors" -ge "$local_total" ] && [ "$local_total" -ge 3 ] \
  && [ "$(metric local_dead_letters_unwritten_total)" = 0 ] && [ "$(metric mqtt_reconnects_total)" = 0 ] \
  || die "metrics" "the counters do not add up (local file by SQLSTATE: $(tr '\n' ' ' <<<"$file_by_state"))"
say "the counters add up"

# The canary: every message stored once, in order, and fast.
check_exactly_once canary "$canary" 1
p99=$(psql_t -c "SELECT round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY
    extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - r.time)))::int
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'canary'")
say "canary publish-to-commit p99: $p99 ms"
[ "$p99" -lt 1000 ] || die "canary" "p99 $p99 ms, not under 1 s: the poison held the stream up"
stop_shim
say "no poison message stalled the stream"
