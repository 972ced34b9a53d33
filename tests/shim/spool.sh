#!/usr/bin/env bash
# The disk spool. Phase 1: with the database down, the shim acknowledges what it has fsynced
# to its spool; then it is killed with SIGKILL, and Mosquitto is restarted with its persistence
# deleted, so the spool holds the only copy. Asserts: after the database returns, the restarted
# shim replays the spool and every published reading is stored exactly once; the spool is then
# empty. Phase 2: a small spool with the database down fills up and the shim stops taking
# messages (they stay un-acknowledged, with the broker) instead of dropping any; asserts the
# spool stayed near its limit and every reading is stored once the database returns. Phase 3:
# a spool that cannot be written (segment made immutable) fails /healthz, acknowledges nothing,
# and after a restart with a writable spool every reading is stored.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup spool

start_shim --writers 2 --spool-dir "$WORK/spool"
loadgen_start --site spool --producers 4 --messages 3000 --rate 4000
sleep 1
pg_ctl_as fast stop
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_metric messages_received_total 12000
wait_metric messages_in_hand 0
say "database down: all 12000 messages acknowledged, spool $(metric spool_bytes) bytes"
kill_shim
stop_mosquitto
rm -rf "$WORK/mq"
start_mosquitto
start_cluster "$WORK/pg" "$PG_PORT"
say "shim killed, broker state deleted, database back: replaying the spool"
start_shim --writers 2 --spool-dir "$WORK/spool"
wait_stored spool "$(published "$summary")"
check_exactly_once spool "$(published "$summary")" 4
wait_metric spool_bytes 0
stop_shim
[ -z "$(ls "$WORK/spool")" ] || die "spool" "segments left after a clean stop: $(ls "$WORK/spool")"

limit=100000
start_shim --writers 2 --spool-dir "$WORK/spool" --spool-max-bytes "$limit"
pg_ctl_as fast stop
loadgen_start --site full --producers 4 --messages 2000 --rate 4000
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
sleep 1
spooled=$(metric spool_bytes) held=$(metric messages_in_hand)
# One group (at most batch.max_bytes) may go in after the last check of the limit.
[ "$spooled" -ge "$limit" ] && [ "$spooled" -lt $((limit + (4 << 20))) ] && [ "$held" -gt 0 ] \
  || die "backpressure" "spool $spooled bytes (limit $limit), $held messages held"
say "spool full at $spooled bytes (limit $limit): $held messages held un-acknowledged, the rest at the broker"
start_cluster "$WORK/pg" "$PG_PORT"
wait_stored full "$(published "$summary")" 120
check_exactly_once full "$(published "$summary")" 4
stop_shim

start_shim --writers 2 --spool-dir "$WORK/spool3"
chattr +i "$WORK"/spool3/*.spool
loadgen --site broken --producers 2 --messages 50 --rate 1000 > "$WORK/loadgen.out"
summary=$(cat "$WORK/loadgen.out")
for i in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")" = 503 ] && break
  sleep 0.1
done
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")
chattr -i "$WORK"/spool3/*.spool
[ "$status" = 503 ] || die "spool" "/healthz answered $status with an unwritable spool"
[ "$(stored_rows broken)" = 0 ] || die "spool" "readings stored although the spool failed"
kill_shim
say "unwritable spool: /healthz 503, nothing stored or acknowledged"
start_shim --writers 2 --spool-dir "$WORK/spool3"
wait_stored broken "$(published "$summary")"
check_exactly_once broken "$(published "$summary")" 2
stop_shim
