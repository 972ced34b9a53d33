#!/usr/bin/env bash
# SIGTERM while the database is down: the shim retries the batches in hand for the shutdown
# timeout (2 s here), then exits with status 1 without acknowledging them. The timeout is set
# under its old, deprecated name log.shutdown_timeout_secs, which must still work.
# Asserts: the deprecation is logged; it exits non-zero within 4 s, and once the database is
# back, a new shim stores every reading exactly once (the broker redelivered what the first one
# held).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup shutdown

printf '[log]\nshutdown_timeout_secs = 2\n' > "$WORK/shim.toml"
start_shim --config "$WORK/shim.toml"
grep -q 'log.shutdown_timeout_secs is deprecated' "$WORK/shim.log" \
  || die "shutdown" "no deprecation warning for log.shutdown_timeout_secs"
pg_ctl_as fast stop
loadgen --site shutdown --producers 2 --messages 500 --rate 2000 > "$WORK/loadgen.out"
summary=$(cat "$WORK/loadgen.out")
wait_metric messages_received_total 1000
started=$(date +%s%N)
kill -TERM "$SHIM_PID"
status=0
wait "$SHIM_PID" || status=$?
SHIM_PID=""
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
[ "$status" != 0 ] && [ "$elapsed_ms" -lt 4000 ] \
  || die "shutdown" "exit status $status after $elapsed_ms ms with the database down"
say "SIGTERM with the database down: exit status $status after $elapsed_ms ms"
start_cluster "$WORK/pg" "$PG_PORT"
start_shim
wait_stored shutdown "$(published "$summary")"
check_exactly_once shutdown "$(published "$summary")" 2
stop_shim
