#!/usr/bin/env bash
# PostgreSQL restarted mid-stream, first by a crash (immediate mode, recovery on start) and then
# cleanly (fast mode). Asserts: every published reading stored exactly once, and the restarts
# did interrupt batches (the shim counted failed attempts and retried them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup pg-restart

start_shim --writers 2
loadgen_start --site pgr --producers 4 --messages 6000 --rate 4000
sleep 1.5
pg_ctl_as immediate restart
say "crash-restarted PostgreSQL with $(stored_rows pgr) readings stored"
sleep 1.5
pg_ctl_as fast restart
say "restarted PostgreSQL with $(stored_rows pgr) readings stored"
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored pgr "$(published "$summary")"
check_exactly_once pgr "$(published "$summary")" 4
failures=$(metric batch_failures_total)
[ "$failures" -gt 0 ] || die "pg restart" "no batch failed: the restarts did not hit the shim"
say "batch attempts failed and retried: $failures"
stop_shim
