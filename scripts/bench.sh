#!/usr/bin/env bash
# Benchmarks, each against a baseline measured in the same run, on a scratch cluster.
# Usage: scripts/bench.sh [ROWS]   (default 1000000)
# 1. Each SQL function against an equivalent PL/pgSQL function over ROWS rows: best-of-3 times,
#    their ratio, and whether both gave the same result (tests/bench/functions.sql).
# 2. The analysis functions (counters, time-weighted average, trend slope, gap filling) against
#    the plain SQL written without them, over ROWS readings (tests/bench/analysis.sql).
# 3. The ingest pipeline from raw JSON against binary COPY of the same ROWS readings, already
#    decoded, into a bare hypertable; and bytes on disk per reading against seed 000's table
#    (tests/bench/ingest.sql). And what a batch costs whatever its size, from single readings in
#    batches of 5,000, 740 and 100 messages (tests/bench/batch_cost.sql).
# 4. ingest-shim end to end, loadgen -> Mosquitto -> shim -> PostgreSQL, against a plain
#    mosquitto_sub on the same stream (tests/bench/shim.sh, SHIM_SECONDS per load, default 20).
# 5. Alarms end to end at 10,000 readings/s: publish-to-alarm-message latency, p50 and p99
#    (tests/bench/alarms.sh). The pipeline with alarm rules against without is part of 3, and
#    so is what the rollups cost ingest, in order and late.
# 6. 5-minute averages and p95 for one site over 24 hours from the rollup tier against the same
#    over the raw readings, at 10,000 series (tests/bench/rollups.sql).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
"$ROOT/scripts/setup.sh"
ROWS=${1:-1000000}
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || die "bench" "ROWS must be a positive whole number, got '$ROWS'"
WORK=$(mktemp -d /tmp/telemetry-bench.XXXXXX)
chown postgres:postgres "$WORK"
trap 'stop_cluster "$WORK/pgdata"; rm -rf "$WORK"' EXIT

step "Building and installing the extension (release)"
install_extension
step "Starting a scratch cluster"
start_cluster "$WORK/pgdata" "$TEST_PORT"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d bench -c "SET client_min_messages = warning; CREATE EXTENSION telemetry CASCADE"
step "Functions against PL/pgSQL equivalents ($ROWS rows)"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d bench -v rows="$ROWS" -f "$ROOT/tests/bench/functions.sql"
step "Analysis functions against plain SQL ($ROWS rows over 100 series)"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d bench -v rows="$ROWS" -f "$ROOT/tests/bench/analysis.sql"
step "Ingest pipeline against binary COPY ($ROWS readings over 10,000 series)"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d bench -v readings="$ROWS" -f "$ROOT/tests/bench/ingest.sql"
step "What a batch costs whatever its size: single readings in batches of 5,000, 740 and 100 (tests/bench/batch_cost.sql)"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d bench -f "$ROOT/tests/bench/batch_cost.sql"
step "Rollups against raw readings: one site, 24 hours, 5-minute averages and p95 (tests/bench/rollups.sql)"
psql -X -q -h /tmp -p "$TEST_PORT" -U postgres -d bench -f "$ROOT/tests/bench/rollups.sql"
step "ingest-shim end to end against mosquitto_sub (tests/bench/shim.sh)"
"$ROOT/tests/bench/shim.sh" "${SHIM_SECONDS:-20}"
step "Alarms end to end at 10,000 readings/s (tests/bench/alarms.sh)"
"$ROOT/tests/bench/alarms.sh"
