#!/usr/bin/env bash
# Benchmarks, each against a baseline measured in the same run. Usage: scripts/bench.sh [ROWS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$ROOT/scripts/setup.sh"
ROWS=${1:-1000000}
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
