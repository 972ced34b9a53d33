#!/usr/bin/env bash
# The main job: a local PostgreSQL 15 + TimescaleDB cluster with the telemetry extension, a day
# of sample readings loaded through its SQL functions and an hour of raw MQTT messages through
# its ingest pipeline. Runs set-up first when needed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
"$ROOT/scripts/setup.sh"

DATADIR="$ROOT/.pgdata"
PORT=${DEMO_PORT:-55432}
DB=telemetry_demo
psql_demo() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }

runuser -u postgres -- test -x "$ROOT" \
  || die "demo" "the postgres user cannot reach $ROOT (a parent directory is private, e.g. /root); clone the repository under a world-readable path such as /opt or /srv"

step "Building and installing the extension (release)"
install_extension
say "installed into $(dirname "$PGBIN")"

step "Starting PostgreSQL 15 + TimescaleDB in $DATADIR (port $PORT, as postgres)"
start_cluster "$DATADIR" "$PORT"
say "running"

step "Creating database $DB with CREATE EXTENSION telemetry CASCADE"
psql_demo -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql_demo -q -d "$DB" -c "CREATE EXTENSION telemetry CASCADE"
psql_demo -d "$DB" -tAc "SELECT 'TimescaleDB ' || extversion || ', license ' || telemetry.timescaledb_license() FROM pg_extension WHERE extname = 'timescaledb'" | sed 's/^/    /'

step "Loading sample readings: a day through the SQL functions, an hour of raw MQTT messages through the ingest pipeline (sql/demo.sql)"
psql_demo -q -d "$DB" -f "$ROOT/sql/demo.sql"
psql_demo -d "$DB" -c "
SELECT s.site_id, s.asset_id, s.metric, r.unit, count(*) AS readings,
       round(min(value)::numeric, 2) AS min, round(max(value)::numeric, 2) AS max,
       round(avg(quality)::numeric, 3) AS avg_quality
  FROM telemetry.readings JOIN telemetry.series s USING (series_id)
  JOIN telemetry.metric_rules r USING (metric)
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;" | sed 's/^/    /'
psql_demo -d "$DB" -c "SELECT batches, messages, readings, duplicates, dead_letters, series_created FROM telemetry.ingest_stats;" | sed 's/^/    /'
psql_demo -d "$DB" -c "SELECT reason, count(*) AS dead_letters, min(detail) AS example FROM telemetry.dead_letters GROUP BY 1 ORDER BY 1;" | sed 's/^/    /'

step "Done"
say "Connect:  psql -h /tmp -p $PORT -U postgres $DB"
say "Try:      SELECT telemetry.convert(212, 'degF', 'degC');"
say "Stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $DATADIR stop"
