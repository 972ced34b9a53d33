#!/usr/bin/env bash
# Benchmark (not a timed test) of Mosquitto's persistence settings: what each costs the broker
# per message, against persistence off in the same run, with a persistent QoS 1 subscriber
# (mosquitto_sub) taking the stream. A save writes the broker's whole in-memory state, so its
# cost grows with the saves per second and with what is queued. Prints, per setting: saves in
# the run, broker CPU seconds per million messages, and the ratio to persistence off.
# Usage: tests/bench/broker_persistence.sh [SECONDS per setting, default 10] [RATE, default 10000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../shim/lib.sh"
usage_if_help "$@"
seconds=${1:-10}
rate=${2:-10000}
( cd "$ROOT" && cargo build --release -q -p loadgen )
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
WORK=$(mktemp -d /tmp/bench-persistence.XXXXXX)
chmod 755 "$WORK"
MQ_PORT=$(free_port)
MQ_PID="" LOADGEN_PID=""
trap '[ -n "$MQ_PID" ] && kill -TERM "$MQ_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# measure LABEL CONFIG-LINES: a fresh broker with the shipped file plus the lines, one run. With
# OFFLINE=yes the subscriber only creates its session and goes away, so that every message
# queues in the session (a shim outage): each save then writes the growing queue.
measure() {
  local label=$1 messages=$((rate * seconds)) cpu saves sub=""
  rm -rf "$WORK/mq"
  MQ_CONF_EXTRA=$2 start_mosquitto
  if [ "${OFFLINE:-no}" = yes ]; then
    mosquitto_sub -p "$MQ_PORT" -q 1 -c -i bench-persistence -t 'telemetry/#' -W 1 >/dev/null 2>&1 || true
  else
    mosquitto_sub -p "$MQ_PORT" -q 1 -c -i bench-persistence -t 'telemetry/#' -C "$messages" >/dev/null &
    sub=$!
    sleep 0.5
  fi
  "$BIN/loadgen" --port "$MQ_PORT" --site persist --producers 4 --rate "$rate" --messages $((messages / 4)) >/dev/null
  [ -z "$sub" ] || wait "$sub"
  cpu=$(cpu_seconds "$MQ_PID")
  saves=$(grep -c 'Saving in-memory database' "$WORK/mq/mosquitto.log" || true)
  stop_mosquitto
  local per_million
  per_million=$(awk -v c="$cpu" -v m="$messages" 'BEGIN {printf "%.2f", c * 1e6 / m}')
  [ -n "${BASE:-}" ] || BASE=$per_million
  printf '%-44s %6s %10s %7s\n' "$label" "$saves" "$per_million" "$(awk -v a="$per_million" -v b="$BASE" 'BEGIN {printf "%.2f", a / b}')"
}

settings() {
  printf '%-44s %6s %10s %7s\n' setting saves "CPU s/1M" ratio
  BASE=""
  measure "persistence off (baseline)" "persistence false"
  measure "autosave_interval 30 (seconds)" "autosave_interval 30"
  measure "autosave_interval 5 (seconds)" "autosave_interval 5"
  measure "autosave_interval 1 (seconds)" "autosave_interval 1"
  measure "autosave_on_changes, every 10000 changes" $'autosave_on_changes true\nautosave_interval 10000'
  measure "autosave_on_changes, every 1000 changes" $'autosave_on_changes true\nautosave_interval 1000'
  measure "shipped ingest-shim/mosquitto.conf" ""
}
step "Mosquitto persistence, subscriber keeping up: ${seconds}s at $rate messages/s per setting, QoS 1 in and out"
settings
step "Mosquitto persistence, subscriber offline (its session queues everything): ${seconds}s at $rate messages/s"
OFFLINE=yes settings
