#!/usr/bin/env bash
# Benchmark (not a timed test) of ingest-shim end to end: loadgen -> Mosquitto -> shim ->
# PostgreSQL, next to a plain `mosquitto_sub -q 1 > /dev/null` receiving the same stream in the
# same run. Offered loads of 800, 10,000 and 72,000 readings/s (seed 000's pilot and production
# figures; 72,000 both as single readings and batched 20 per message). Then the highest
# sustainable rate, found by stepping the offered load up (batched 20 per message, then single
# readings) until the shim no longer sustains it: a step is sustained when the shim commits at
# least 0.8 of the rate mosquitto_sub receives and its p99 stays under 1 s. Last, two flat-out
# bursts (the load generator as fast as it can): not sustainable rates, shown for the peak RSS
# and for what mosquitto_sub drains.
# Per load: readings/s offered, published, committed by the shim and received by mosquitto_sub,
# the shim/subscriber ratio, p50 / p99 publish-to-commit latency (each row's commit timestamp
# minus the reading's due publish time, which is its source time), checkpoints during the run,
# the shim's peak RSS, and how often a PUBACK had to wait for room in the MQTT client's queue
# (acks_deferred_total).
# Targets from issue 4: ratio >= 0.8; p99 < 250 ms at 72,000 readings/s batched; RSS < 64 MiB.
# Usage: tests/bench/shim.sh [SECONDS per offered load, default 20; steps take half]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../shim/lib.sh"
usage_if_help "$@"
seconds=${1:-20}
( cd "$ROOT" && cargo build --release -q -p ingest-shim -p loadgen )
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
setup bench
# Commit timestamps give each row's commit time, for the latency. The rest is how a production
# cluster taking this stream would be set up (ingest-shim/README.md, "Benchmark"): WAL-triggered
# checkpoints every ~40 s at the highest rate with the defaults become rarer and spread out;
# synchronous_commit stays on, because the shim acknowledges after COMMIT.
psql_t -c "ALTER SYSTEM SET track_commit_timestamp = on" \
  -c "ALTER SYSTEM SET max_wal_size = '4GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '15min'" \
  -c "ALTER SYSTEM SET checkpoint_completion_target = 0.9" -c "ALTER SYSTEM SET log_checkpoints = on"
pg_ctl_as fast restart

now() { date +%s.%N; }
checkpoints() { psql_t -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"; }

# run NAME RATE MESSAGES_PER_PRODUCER PRODUCERS [LOADGEN ARGS...]; with SUB=no, without the
# mosquitto_sub baseline (on 2 cores it takes CPU from the shim, the broker and PostgreSQL).
# Prints the row and leaves RATIO, P99 and PUBLISHED set, for the steps.
run() {
  local name=$1 rate=$2 messages=$3 producers=$4 site
  shift 4
  site=$(tr -c 'a-z0-9\n' - <<<"$name")
  # Only this run's topics: a shim's persistent session outlives the run, and subscribed to
  # everything it would have Mosquitto queue every later run's messages for it.
  start_shim --writers 2 --client-id "bench-$site" --subscribe "telemetry/$site/#"
  local readings per=1 sub_pid start sub_end ckpt
  [[ " $* " == *" --per-message "* ]] && per=$(sed -E 's/.*--per-message ([0-9]+).*/\1/' <<<"$*")
  readings=$((messages * producers * per))
  ckpt=$(checkpoints)
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
  local rss acks_deferred
  rss=$(awk '/^VmHWM/ {print $2}' "/proc/$SHIM_PID/status")
  acks_deferred=$(metric acks_deferred_total)
  stop_shim
  # A clean connection under the shim's client id ends its session, so that messages left
  # un-acknowledged do not stay in Mosquitto, which saves them every 5 s.
  mosquitto_sub -p "$MQ_PORT" -i "bench-$site" -t "telemetry/$site/#" -E
  ckpt=$(( $(checkpoints) - ckpt ))
  read -r shim_seconds p50 P99 < <(psql_t -c "
    WITH r AS (SELECT pg_xact_commit_timestamp(r.xmin) AS committed, r.time
                 FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = '$site')
    SELECT extract(epoch FROM max(committed)) - $start,
           round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM committed - time)))::int,
           round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM committed - time)))::int
      FROM r")
  local published shim_rate sub_rate=-
  published=$(sed -n 's/.* readings_per_s=\([0-9]*\) .*/\1/p' "$WORK/loadgen.out")
  PUBLISHED=$published
  shim_rate=$(awk -v n="$readings" -v s="$shim_seconds" 'BEGIN {printf "%d", n / s}')
  RATIO=-
  if [ "${SUB:-yes}" = yes ]; then
    sub_rate=$(awk -v n="$readings" -v s="$(awk -v a="$sub_end" -v b="$start" 'BEGIN {print a - b}')" 'BEGIN {printf "%d", n / s}')
    RATIO=$(awk -v a="$shim_rate" -v b="$sub_rate" 'BEGIN {printf "%.2f", a / b}')
  fi
  printf '%-34s %8s %9s %9s %9s %6s %7s %7s %5s %8d %6s\n' "$name" "$rate" "$published" "$shim_rate" "$sub_rate" \
    "$RATIO" "$p50" "$P99" "$ckpt" $((rss / 1024)) "$acks_deferred"
}

# step_up LABEL PER_MESSAGE RATE...: runs each offered load for half the time until one is not
# sustained, or until the load generator cannot publish it (below 0.95 of it; the latency then
# includes the generator's lag); prints the highest sustained one.
step_up() {
  local label=$1 per=$2 best=none rate shape=(--shape array --per-message "$2")
  shift 2
  [ "$per" = 1 ] && shape=()
  for rate in "$@"; do
    run "step $label $rate" "$rate" $((rate * seconds / 2 / 24 / per)) 24 "${shape[@]}"
    awk -v r="$RATIO" 'BEGIN {exit !(r >= 0.8)}' || break
    if [ "$PUBLISHED" -lt $((rate * 95 / 100)) ]; then
      say "the load generator published $PUBLISHED of $rate readings/s: its limit on this machine"
      break
    fi
    awk -v p="$P99" 'BEGIN {exit !(p < 1000)}' || break
    best=$rate
  done
  [ "$best" != none ] || best="below $1"
  say "highest sustained offered load, $label: $best readings/s (shim >= 0.8 of mosquitto_sub, p99 < 1 s)"
}

step "ingest-shim benchmark: ${seconds}s per offered load, 2 writers, release build"
printf '%-34s %8s %9s %9s %9s %6s %7s %7s %5s %8s %6s\n' "load (readings/s)" offered published shim mosq_sub ratio "p50 ms" "p99 ms" ckpt "RSS MiB" "acks deferred"
run "pilot 800 single" 800 $((800 * seconds / 8)) 8
run "10k single" 10000 $((10000 * seconds / 10)) 10
run "72k single" 72000 $((72000 * seconds / 24)) 24
run "72k batched 20" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
SUB=no run "72k batched 20, shim alone" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
step_up "batched 20" 20 96000 120000 144000 168000 192000
step_up "single" 1 15000 20000 25000 30000 40000
run "flat-out burst, single" 0 $((72000 * seconds / 24)) 24
run "flat-out burst, batched 20" 0 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20

# What the shipped broker persistence costs, against persistence off (ingest-shim/README.md,
# "Broker crashes").
"$ROOT/tests/bench/broker_persistence.sh" "$((seconds / 2))"
