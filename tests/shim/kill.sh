#!/usr/bin/env bash
# The shim killed with SIGKILL at four random points mid-stream and restarted each time (the
# same client id, so the broker redelivers what was not acknowledged). Asserts: every published
# reading stored exactly once, and the batch statistics (telemetry.ingest_batches) say so too:
# the readings they stored add up to the published ones, not more, none conflicting, no dead
# letters. Whether a kill lands between a COMMIT and its PUBACKs is chance, so the run is then
# published again exactly (same reading times): every reading of it must count as a duplicate.
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
batch_totals() {
  psql_t -c "SELECT sum(readings), sum(duplicates), sum(conflicting_duplicates), sum(dead_letters)
               FROM telemetry.ingest_batches"
}
published=$(published "$summary")
read -r stored duplicates conflicting dead < <(batch_totals)
say "readings counted as duplicates after redelivery: $duplicates (batches stored $stored, conflicting $conflicting, dead letters $dead)"
[ "$stored" = "$published" ] && [ "$conflicting" = 0 ] && [ "$dead" = 0 ] \
  || die "kill" "the batches stored $stored readings of $published, $conflicting conflicting, $dead dead letters"

start=$(sed -n 's/.* start=\([^ ]*\).*/\1/p' <<<"$summary")
loadgen_start --site kill --producers 4 --messages 6000 --rate 4000 --start "$start"
loadgen_wait
want=$((duplicates + published))
for _ in $(seq 300); do
  read -r stored2 duplicates2 conflicting2 dead2 < <(batch_totals)
  [ "$duplicates2" -ge "$want" ] && break
  sleep 0.2
done
say "the same run published again: $((duplicates2 - duplicates)) duplicates, $((stored2 - stored)) stored"
[ "$duplicates2" = "$want" ] && [ "$stored2" = "$stored" ] && [ "$conflicting2" = 0 ] && [ "$dead2" = 0 ] \
  || die "kill" "a republished run was not all counted as duplicates ($duplicates2 of $want, stored $stored2)"
check_exactly_once kill "$published" 4
stop_shim
