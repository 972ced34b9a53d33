#!/usr/bin/env bash
# Every ingest-shim end-to-end scenario, each with its own PostgreSQL, Mosquitto and shim.
# Needs the debug builds of ingest-shim and loadgen (cargo build -p ingest-shim -p loadgen).
# Exits non-zero if any scenario fails. Usage: tests/shim/run.sh [SCENARIO...]
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(normal kill pg_restart pg_hang mosquitto_restart broker_crash session_expiry db_outage shutdown bad_payloads poison spool tls shared weather edge_node alarms)
failed=()
for scenario in "${scenarios[@]}"; do
  say "-- $scenario"
  "$ROOT/tests/shim/$scenario.sh" || failed+=("$scenario")
done
[ ${#failed[@]} = 0 ] || { say "failed: ${failed[*]}"; exit 1; }
