#!/usr/bin/env bash
# Two shims splitting one stream with an MQTT 5 shared subscription ($share/ingest/...), each
# with its own client id and persistent session. Shim B is killed with SIGKILL mid-stream and
# started again 2 s later. Mosquitto does not give B's share to A meanwhile: it keeps it in B's
# session (see ingest-shim/README.md). Asserts: both shims took part, and every published
# reading is stored exactly once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup shared

share=(--mqtt-protocol v5 --subscribe '$share/ingest/telemetry/#' --writers 1)
B_PORT=$(free_port)
start_b() {
  "$BIN/ingest-shim" --mqtt-port "$MQ_PORT" --client-id shim-b "${share[@]}" \
    --pg "host=/tmp port=$PG_PORT user=postgres dbname=$DB" \
    --http-listen "127.0.0.1:$B_PORT" --dead-letter-file "$WORK/dead-letters-b.jsonl" >>"$WORK/shim-b.log" 2>&1 &
  B_PID=$!
  EXTRA_PID=$B_PID
  wait_port "$B_PORT"
}
start_shim --client-id shim-a "${share[@]}"
start_b
sleep 0.5
loadgen_start --site shared --producers 8 --messages 1500 --rate 4000
sleep 1.2
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || true
say "shim B killed with $(stored_rows shared) readings stored"
sleep 2
start_b
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored shared "$(published "$summary")"
check_exactly_once shared "$(published "$summary")" 8
a=$(metric messages_committed_total)
b=$(curl -sf "http://127.0.0.1:$B_PORT/metrics" | awk '$1 == "ingest_shim_messages_committed_total" {print $2}')
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || die "shared" "shim A committed $a messages, shim B (since its restart) $b"
say "messages committed by shim A: $a, by shim B after its restart: $b"
kill -TERM "$B_PID"
wait "$B_PID" || die "shared" "shim B did not exit 0"
EXTRA_PID=""
stop_shim
