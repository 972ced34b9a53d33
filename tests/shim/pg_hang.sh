#!/usr/bin/env bash
# A hung database connection: the writers' server processes are frozen with SIGSTOP mid-stream
# (the TCP connections stay open, nothing answers) and thawed 6 s later. With a 2 s batch timeout
# the shim must drop the hung connections itself and retry the batches on new ones. Asserts:
# the shim timed out and reconnected, and every published reading is stored exactly once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup pg-hang

printf '[postgres]\nbatch_timeout_secs = 2\nretry_max_secs = 1\n' > "$WORK/shim.toml"
start_shim --writers 2 --config "$WORK/shim.toml"
connects=$(metric pg_connects_total)
loadgen_start --site hang --producers 4 --messages 6000 --rate 4000
sleep 1.5
pids=$(psql_t -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ingest-shim'")
[ "$(wc -w <<<"$pids")" = 2 ] || die "hang" "expected 2 writer backends, found: $pids"
# shellcheck disable=SC2086
kill -STOP $pids
say "froze the writer backends $(echo $pids) with $(stored_rows hang) readings stored"
sleep 6
# shellcheck disable=SC2086
kill -CONT $pids
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored hang "$(published "$summary")"
check_exactly_once hang "$(published "$summary")" 4
grep -q "no answer within 2s" "$WORK/shim.log" || die "hang" "no batch timed out"
[ "$(metric pg_connects_total)" -gt "$connects" ] || die "hang" "the shim did not open new connections"
say "batches timed out after 2 s and went through on $(( $(metric pg_connects_total) - connects )) new connections"
stop_shim
