#!/usr/bin/env bash
# The shim killed with SIGKILL at four random points mid-stream and restarted each time (the
# same client id, so the broker redelivers what was not acknowledged). Asserts: every published
# reading stored exactly once; the redelivered ones were counted as duplicates, not stored twice.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup kill

start_shim --writers 2
loadgen_start --site kill --producers 4 --messages 6000 --rate 4000
for i in 1 2 3 4; do
  pause=$((300 + RANDOM % 1200))
  sleep "$(printf '0.%03d' $((pause % 1000)))"
  [ "$pause" -lt 1000 ] || sleep 1
  kill_shim
  say "SIGKILL $i after ${pause} ms, with $(stored_rows kill) readings stored"
  sleep "0.$((RANDOM % 5))"
  start_shim --writers 2
done
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored kill "$(published "$summary")"
check_exactly_once kill "$(published "$summary")" 4
say "readings counted as duplicates after redelivery: $(psql_t -c "SELECT sum(duplicates) FROM telemetry.ingest_batches")"
stop_shim
