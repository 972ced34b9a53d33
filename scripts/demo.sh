#!/usr/bin/env bash
# The main job: a local PostgreSQL 15 + TimescaleDB cluster with the telemetry extension, a day
# of sample readings loaded through its SQL functions and an hour of raw MQTT messages through
# its ingest pipeline; then the live path: Mosquitto (tuned config), ingest-shim and a load
# generator publishing over MQTT, left running so you can publish your own messages.
# Runs set-up first when needed. State lives in .pgdata/ and .demo/ (git-ignored).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
"$ROOT/scripts/setup.sh"

DATADIR="$ROOT/.pgdata"
PORT=${DEMO_PORT:-55432}
MQTT_PORT=${DEMO_MQTT_PORT:-55883}
HTTP_PORT=${DEMO_HTTP_PORT:-55987}
STATE="$ROOT/.demo"
DB=telemetry_demo
psql_demo() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }

runuser -u postgres -- test -x "$ROOT" \
  || die "demo" "the postgres user cannot reach $ROOT (a parent directory is private, e.g. /root); clone the repository under a world-readable path such as /opt or /srv"

step "Building and installing the extension (release)"
install_extension
say "installed into $(dirname "$PGBIN")"

# A shim left by an earlier demo would hold the database open.
for pidfile in "$STATE/ingest-shim.pid" "$STATE/mosquitto.pid"; do
  [ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null && sleep 1
  rm -f "$pidfile"
done

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

step "Building ingest-shim and the load generator (release)"
( cd "$ROOT" && cargo build --release -q -p ingest-shim -p loadgen ) || die "build" "cargo build of ingest-shim failed"
BIN="$ROOT/target/release"

step "Starting Mosquitto with ingest-shim/mosquitto.conf (port $MQTT_PORT) and ingest-shim (metrics on $HTTP_PORT)"
mkdir -p "$STATE/mosquitto"
chown mosquitto "$STATE/mosquitto" 2>/dev/null || true
{ cat "$ROOT/ingest-shim/mosquitto.conf"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence_location %s/\nlog_dest file %s\n' \
    "$MQTT_PORT" "$STATE/mosquitto" "$STATE/mosquitto/mosquitto.log"
} > "$STATE/mosquitto.conf"
mosquitto -c "$STATE/mosquitto.conf" >>"$STATE/mosquitto.out" 2>&1 &
echo $! > "$STATE/mosquitto.pid"
"$BIN/ingest-shim" --mqtt-port "$MQTT_PORT" --pg "host=/tmp port=$PORT user=postgres dbname=$DB" \
  --client-id telemetry-demo --http-listen "127.0.0.1:$HTTP_PORT" --dead-letter-file "$STATE/dead-letters.jsonl" \
  >>"$STATE/ingest-shim.log" 2>&1 &
echo $! > "$STATE/ingest-shim.pid"
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || die "shim" "ingest-shim is not ready; see $STATE/ingest-shim.log"
say "subscribed; log in $STATE/ingest-shim.log"

step "Publishing over MQTT with QoS 1: 4 pumps, one reading per message, and 4 inverters, 8 metrics per message"
"$BIN/loadgen" --port "$MQTT_PORT" --site demo-pumps --client-id demo-pumps --producers 4 --messages 2500 --rate 5000 | sed 's/^/    /'
"$BIN/loadgen" --port "$MQTT_PORT" --site demo-inverters --client-id demo-inverters --producers 4 --messages 500 \
  --shape multi --per-message 8 --rate 8000 | sed 's/^/    /'
expected=26000
stored=0
for _ in $(seq 150); do
  stored=$(psql_demo -d "$DB" -tAc "SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id LIKE 'demo-%'")
  [ "$stored" -ge "$expected" ] && break
  sleep 0.2
done
say "stored $stored of $expected readings published"
psql_demo -d "$DB" -c "
SELECT s.site_id, count(DISTINCT s.series_id) AS series, count(*) AS readings,
       max(r.ingested_at) - min(r.ingested_at) AS ingest_span
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id LIKE 'demo-%' GROUP BY 1 ORDER BY 1;" | sed 's/^/    /'
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" \
  | grep -E '^ingest_shim_(messages_received|messages_committed|readings_committed|duplicates|dead_letters)(_total)?[ {]' \
  | sed 's/^/    /'

step "Done"
say "Connect:  psql -h /tmp -p $PORT -U postgres $DB"
say "Try:      SELECT telemetry.convert(212, 'degF', 'degC');"
say "Publish:  mosquitto_pub -p $MQTT_PORT -q 1 -t telemetry/site-9/pump-1/pressure -m '{\"value\": 2.5, \"unit\": \"bar\"}'"
say "Metrics:  curl -s http://127.0.0.1:$HTTP_PORT/metrics"
say "Stop:     kill \$(cat $STATE/ingest-shim.pid) \$(cat $STATE/mosquitto.pid); runuser -u postgres -- $PGBIN/pg_ctl -D $DATADIR stop"
