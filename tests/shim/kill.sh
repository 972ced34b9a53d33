#!/usr/bin/env bash
# The shim killed with SIGKILL at four random points mid-stream and restarted each time (the
# same client id, so the broker redelivers what was not acknowledged). Asserts: every published
# reading stored exactly once; the redelivered ones that had already been committed were counted
# as duplicates (telemetry.ingest_batches: some duplicates, none conflicting, no dead letters,
# and the readings the batches say they stored add up to the published ones, not more).
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
read -r stored duplicates conflicting dead < <(psql_t -c "
  SELECT sum(readings), sum(duplicates), sum(conflicting_duplicates), sum(dead_letters)
    FROM telemetry.ingest_batches")
say "readings counted as duplicates after redelivery: $duplicates (batches stored $stored, conflicting $conflicting, dead letters $dead)"
# A kill that lands after a COMMIT and before the broker has taken its PUBACKs leaves committed
# messages to be redelivered; with four kills that happened in each of five runs before this
# check was added (10 to 262 duplicates).
[ "$duplicates" -gt 0 ] || die "kill" "no redelivered reading was counted as a duplicate"
[ "$stored" = "$(published "$summary")" ] && [ "$conflicting" = 0 ] && [ "$dead" = 0 ] \
  || die "kill" "redeliveries were not all counted as duplicates"
stop_shim
