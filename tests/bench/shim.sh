#!/usr/bin/env bash
# Benchmark (not a timed test) of ingest-shim end to end: loadgen -> Mosquitto -> shim ->
# PostgreSQL, next to a plain `mosquitto_sub -q 1 > /dev/null` receiving the same stream in the
# same run. Offered loads of 800, 10,000 and 72,000 readings/s (seed 000's pilot and production
# figures; 72,000 both as single readings and batched 20 per message), then the highest rate:
# the load generator publishing as fast as it can.
# Per load: readings/s published, committed by the shim and received by mosquitto_sub, the
# shim/subscriber ratio, p50 / p99 publish-to-commit latency (each row's commit timestamp minus
# the reading's due publish time, which is its source time), and the shim's peak RSS.
# Targets from issue 4: ratio >= 0.8; p99 < 250 ms at 72,000 readings/s batched; RSS < 64 MiB.
# Usage: tests/bench/shim.sh [SECONDS per offered load, default 20]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../shim/lib.sh"
usage_if_help "$@"
seconds=${1:-20}
( cd "$ROOT" && cargo build --release -q -p ingest-shim -p loadgen )
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
setup bench
# Commit timestamps give each row's commit time, for the latency.
psql_t -c "ALTER SYSTEM SET track_commit_timestamp = on"
pg_ctl_as fast restart

now() { date +%s.%N; }

# run NAME RATE MESSAGES_PER_PRODUCER PRODUCERS [LOADGEN ARGS...]; with SUB=no, without the
# mosquitto_sub baseline (on 2 cores it takes CPU from the shim, the broker and PostgreSQL).
run() {
  local name=$1 rate=$2 messages=$3 producers=$4 site
  shift 4
  site=$(tr -c 'a-z0-9\n' - <<<"$name")
  start_shim --writers 2 --client-id "bench-$site"
  local readings per=1 sub_pid start sub_end
  [[ " $* " == *" --per-message "* ]] && per=$(sed -E 's/.*--per-message ([0-9]+).*/\1/' <<<"$*")
  readings=$((messages * producers * per))
  if [ "${SUB:-yes}" = yes ]; then
    mosquitto_sub -p "$MQ_PORT" -q 1 -i "bench-sub-$site" -t "telemetry/$site/#" -C $((messages * producers)) >/dev/null &
    sub_pid=$!
    sleep 0.5
  fi
  start=$(now)
  loadgen --site "$site" --rate "$rate" --messages "$messages" --producers "$producers" "$@" >"$WORK/loadgen.out"
  if [ "${SUB:-yes}" = yes ]; then
    wait "$sub_pid"
    sub_end=$(now)
  fi
  wait_stored "$site" "$readings" 300
  local rss
  rss=$(awk '/^VmHWM/ {print $2}' "/proc/$SHIM_PID/status")
  stop_shim
  read -r shim_seconds p50 p99 < <(psql_t -c "
    WITH r AS (SELECT pg_xact_commit_timestamp(r.xmin) AS committed, r.time
                 FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = '$site')
    SELECT extract(epoch FROM max(committed)) - $start,
           round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM committed - time)))::int,
           round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM committed - time)))::int
      FROM r")
  local published shim_rate sub_rate
  published=$(sed -n 's/.* readings_per_s=\([0-9]*\) .*/\1/p' "$WORK/loadgen.out")
  shim_rate=$(awk -v n="$readings" -v s="$shim_seconds" 'BEGIN {printf "%d", n / s}')
  local sub_rate=- ratio=-
  if [ "${SUB:-yes}" = yes ]; then
    sub_rate=$(awk -v n="$readings" -v s="$(awk -v a="$sub_end" -v b="$start" 'BEGIN {print a - b}')" 'BEGIN {printf "%d", n / s}')
    ratio=$(awk -v a="$shim_rate" -v b="$sub_rate" 'BEGIN {printf "%.2f", a / b}')
  fi
  printf '%-30s %8s %9s %9s %9s %6s %7s %7s %8d\n' "$name" "$rate" "$published" "$shim_rate" "$sub_rate" \
    "$ratio" "$p50" "$p99" $((rss / 1024))
}

step "ingest-shim benchmark: ${seconds}s per offered load, 2 writers, release build"
printf '%-30s %8s %9s %9s %9s %6s %7s %7s %8s\n' "load (readings/s)" offered published shim mosq_sub ratio "p50 ms" "p99 ms" "RSS MiB"
run "pilot 800 single" 800 $((800 * seconds / 8)) 8
run "10k single" 10000 $((10000 * seconds / 10)) 10
run "72k single" 72000 $((72000 * seconds / 24)) 24
run "72k batched 20" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
SUB=no run "72k batched 20, shim alone" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
run "max single" 0 $((72000 * seconds / 24)) 24
run "max batched 20" 0 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
