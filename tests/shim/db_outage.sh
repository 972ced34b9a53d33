#!/usr/bin/env bash
# The database unavailable for 30 seconds while readings keep arriving, with a small byte
# budget (mqtt.max_bytes_in_hand 256 KiB) and a 10 s keepalive. Asserts: during the outage
# /readyz is 503, the shim stays up; for the first half keepalive the bytes in hand stay within
# the budget (plus one message), after it reading resumes and the messages held stay within the
# broker's in-flight window (memory bounded; the rest wait at the broker); the MQTT connection
# survives; afterwards ingest resumes by itself and every published reading is stored exactly
# once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup db-outage

printf '[mqtt]\nkeep_alive_secs = 10\nmax_bytes_in_hand = 262144\n' >"$WORK/shim.toml"
start_shim --writers 2 --config "$WORK/shim.toml"
loadgen_start --site outage --producers 4 --messages 9000 --rate 1000
sleep 3
pg_ctl_as fast stop
before=$(metric messages_committed_total)
say "PostgreSQL stopped after $before messages committed; 30 s outage"
max_in_hand=0 max_rss=0 max_bytes_held=0
for i in $(seq 30); do
  sleep 1
  kill -0 "$SHIM_PID" || die "outage" "the shim exited while the database was down"
  in_hand=$(metric messages_in_hand)
  bytes=$(metric bytes_in_hand)
  [ "$i" -gt 4 ] || [ "$bytes" -le $((262144 + 1024)) ] || die "budget" "$bytes bytes in hand ${i}s into the outage, above the 256 KiB budget"
  [ "$bytes" -gt "$max_bytes_held" ] && max_bytes_held=$bytes
  rss=$(rss_kib)
  [ "$in_hand" -gt "$max_in_hand" ] && max_in_hand=$in_hand
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
done
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz")
[ "$status" = 503 ] || die "outage" "/readyz answered $status with the database down"
[ "$(metric messages_committed_total)" = "$before" ] || die "outage" "messages committed while the database was down"
# 10,000 is mqtt.max_inflight, which the shim announces as its receive maximum.
[ "$max_in_hand" -gt 0 ] && [ "$max_in_hand" -le 10000 ] || die "outage" "messages in hand peaked at $max_in_hand"
[ "$max_bytes_held" -gt 262144 ] || die "budget" "reading did not resume after half a keepalive: at most $max_bytes_held bytes in hand"
[ "$(metric mqtt_reconnects_total)" = 0 ] || die "keepalive" "the MQTT connection dropped while reading was held"
say "during the outage: /readyz 503, at most $max_in_hand messages ($max_bytes_held bytes) in hand, no reconnect, peak RSS $((max_rss / 1024)) MiB"
start_cluster "$WORK/pg" "$PG_PORT"
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored outage "$(published "$summary")" 120
check_exactly_once outage "$(published "$summary")" 4
stop_shim
