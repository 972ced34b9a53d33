#!/usr/bin/env bash
# Benchmark (not a timed test) of ingest-shim end to end: loadgen -> Mosquitto -> shim ->
# PostgreSQL, next to a plain `mosquitto_sub -q 1 > /dev/null` receiving the same stream in the
# same run. Offered loads of 800, 10,000 and 72,000 readings/s (seed 000's pilot and production
# figures; 72,000 both as single readings and batched 20 per message). Then the highest
# sustainable rate, found by stepping the offered load up (batched 20 per message, then single
# readings up to 72,000/s) until the shim no longer sustains it: a step is sustained when the
# shim commits at least 0.8 of the rate mosquitto_sub receives and its p99 stays under 1 s.
# Last, seed 000's bursts: 20-reading messages offered for BURST_SECONDS (default 60) at 3x and
# 10x the highest batched rate sustained (or BURST_BASE readings/s), with the backlog the broker
# held, the peak RSS of the shim and of Mosquitto, and how long the shim took to drain it; every
# reading must be stored.
# Per load: readings/s offered, published, committed by the shim and received by mosquitto_sub,
# the shim/subscriber ratio, p50 / p99 publish-to-commit latency (each row's commit timestamp
# minus the reading's due publish time, which is its source time), checkpoints during the run,
# the shim's peak RSS, how often a PUBACK had to wait for room in the MQTT client's queue
# (acks_deferred_total, MQTT 5) and the messages acknowledged per write of PUBACKs.
# Under each row, the CPU seconds per million readings of each process (loadgen, Mosquitto, the
# shim, PostgreSQL's processes, mosquitto_sub), against the in-database pipeline alone measured
# first by tests/bench/ingest.sql in the same cluster: from its payloads as they are, and from
# the same with an event_id in each reading, as the load generator sends them. The 72,000/s
# loads run again with the check of payload event_ids off (telemetry.event_id_window = 0), to
# show what it costs in the same run.
# Targets from issue 4: ratio >= 0.8; p99 < 250 ms at 72,000 readings/s batched; RSS < 64 MiB.
# From issue 13: the shim at most 2x mosquitto_sub's CPU per message; the shim and PostgreSQL
# together at most 1.3x the pipeline alone per reading.
# Usage: [ONLY=TEXT] [EVENT_ID_WINDOW=SECONDS] [WRITERS=2] [SHIM_FLAGS=...] [BURST_SECONDS=60] [BURST_BASE=RATE] tests/bench/shim.sh [SECONDS per offered load, default 20; steps take half]
# (ONLY runs just the loads whose name contains TEXT; EVENT_ID_WINDOW sets the window of all the
# others; WRITERS is the shim's --writers; SHIM_FLAGS are added to its command line.)
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
# EVENT_ID_WINDOW=0 turns off the check of payload event_ids (loadgen sends one per reading),
# to show what it costs.
[ -z "${EVENT_ID_WINDOW:-}" ] || psql_t -c "ALTER DATABASE $DB SET telemetry.event_id_window = ${EVENT_ID_WINDOW}"

now() { date +%s.%N; }
checkpoints() { psql_t -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"; }

# CPU: clock ticks of a live process; of the cluster (the postmaster and its children, the
# shim's backends among them); and seconds of the processes a subshell ran (`times`).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# pg_snapshot FILE: each process of the cluster: pid, ticks, and whether it is a client backend
# (the shim's writers and alarm publisher) or one of PostgreSQL's own (autovacuum, WAL, ...).
pg_snapshot() {
  local postmaster pid kind
  postmaster=$(head -n 1 "$WORK/pg/postmaster.pid")
  for pid in "$postmaster" $(pgrep -P "$postmaster"); do
    kind=server
    grep -q '\[local\]\|127\.0\.0\.1' "/proc/$pid/cmdline" 2>/dev/null && kind=backend
    echo "$pid $(ticks "$pid") $kind"
  done | sort >"$1"
}
# pg_delta BEFORE AFTER: ticks of client backends and of the rest between two snapshots
# (processes started meanwhile count whole; ones that ended meanwhile are missed).
pg_delta() {
  join -a 2 -e 0 -o 2.1,1.2,2.2,2.3 "$1" "$2" | awk '{d[$4] += $3 - $2} END {printf "%d %d\n", d["backend"], d["server"]}'
}
children_seconds() { sed -n 2p "$1" | awk '{gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4}'; }
HZ=$(getconf CLK_TCK)
# per_million SECONDS READINGS: CPU seconds per million readings.
per_million() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.1f", s * 1e6 / n}'; }

# The in-database pipeline alone, the baseline for the shim and PostgreSQL together: CPU seconds
# per million readings of tests/bench/ingest.sql's pipeline (one backend, so its time is its
# CPU), in a database of its own.
psql_t -d postgres -c "CREATE DATABASE pipeline"
psql_t -d pipeline -c "CREATE EXTENSION telemetry CASCADE"
PGOPTIONS='-c client_min_messages=error' psql -X -q -h /tmp -p "$PG_PORT" -U postgres -d pipeline -tA -F '|' \
  -v readings=200000 -f "$ROOT/tests/bench/ingest.sql" >"$WORK/pipeline.out" 2>/dev/null
pipeline_cpu() { awk -F'|' -v n="$1" '$1 == n {printf "%.1f", 1e6 / $2}' "$WORK/pipeline.out"; }
DB_SINGLE=$(pipeline_cpu "pipeline, 1 reading per message")
DB_MULTI=$(pipeline_cpu "pipeline, 20 readings per message")
DB_SINGLE_EVENTS=$(pipeline_cpu "pipeline with event ids, 1 reading per message")
DB_MULTI_EVENTS=$(pipeline_cpu "pipeline with event ids, 20 readings per message")
[ -n "$DB_SINGLE" ] && [ -n "$DB_MULTI" ] && [ -n "$DB_SINGLE_EVENTS" ] && [ -n "$DB_MULTI_EVENTS" ] \
  || die "bench" "tests/bench/ingest.sql gave no pipeline figures: $(tail -n 3 "$WORK/pipeline.out")"
say "in-database pipeline alone (tests/bench/ingest.sql, 200,000 readings): $DB_SINGLE CPU s per million readings at 1 per message, $DB_MULTI at 20"
say "the same with an event_id in each reading: $DB_SINGLE_EVENTS at 1 per message, $DB_MULTI_EVENTS at 20"

# session_start SITE / session_end SITE: a shim subscribed to this load's topics only (a shim's
# persistent session outlives the load, and subscribed to everything it would have Mosquitto
# queue every later load's messages for it); then stopped, and its session ended by a clean
# connection under its client id, so that messages left un-acknowledged do not stay in
# Mosquitto, which saves them every 5 s.
session_start() {
  # shellcheck disable=SC2086
  start_shim --writers "${WRITERS:-2}" --client-id "bench-$1" --subscribe "telemetry/$1/#" ${SHIM_FLAGS:-}
}
session_end() {
  stop_shim
  mosquitto_sub -p "$MQ_PORT" -i "bench-$1" -t "telemetry/$1/#" -E
}

# run NAME RATE MESSAGES_PER_PRODUCER PRODUCERS [LOADGEN ARGS...]; with SUB=no, without the
# mosquitto_sub baseline (on 2 cores it takes CPU from the shim, the broker and PostgreSQL); with
# WINDOW=SECONDS, the shim's sessions run with that telemetry.event_id_window.
# Prints the row and leaves RATIO, P99, PUBLISHED and RSS_MIB set, for the steps.
run() {
  local name=$1 rate=$2 messages=$3 producers=$4 site
  shift 4
  if [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]]; then
    RATIO=- P99=- PUBLISHED=0 RSS_MIB=0
    return 0
  fi
  site=$(tr -c 'a-z0-9\n' - <<<"$name")
  [ -z "${WINDOW:-}" ] || psql_t -c "ALTER DATABASE $DB SET telemetry.event_id_window = $WINDOW"
  # Each load starts right after a checkpoint, so that one falling inside a load (and the full
  # page images written after it) does not decide that row against the others.
  psql_t -c "CHECKPOINT"
  session_start "$site"
  local readings per=1 sub_pid start sub_end ckpt
  [[ " $* " == *" --per-message "* ]] && per=$(sed -E 's/.*--per-message ([0-9]+).*/\1/' <<<"$*")
  readings=$((messages * producers * per))
  ckpt=$(checkpoints)
  rm -f "$WORK/sub.times"
  if [ "${SUB:-yes}" = yes ]; then
    ( mosquitto_sub -p "$MQ_PORT" -q 1 -i "bench-sub-$site" -t "telemetry/$site/#" -C $((messages * producers)) >/dev/null
      times >"$WORK/sub.times" ) &
    sub_pid=$!
    sleep 0.5
  fi
  local shim0 broker0
  shim0=$(ticks "$SHIM_PID") broker0=$(ticks "$MQ_PID")
  pg_snapshot "$WORK/pg.before"
  start=$(now)
  ( loadgen --site "$site" --rate "$rate" --messages "$messages" --producers "$producers" "$@" >"$WORK/loadgen.out"
    times >"$WORK/loadgen.times" )
  if [ "${SUB:-yes}" = yes ]; then
    wait "$sub_pid"
    sub_end=$(now)
  fi
  wait_stored "$site" "$readings" 300
  local rss acks_deferred acks_per_write shim_cpu broker_cpu backends_cpu server_cpu
  shim_cpu=$(( $(ticks "$SHIM_PID") - shim0 )) broker_cpu=$(( $(ticks "$MQ_PID") - broker0 ))
  pg_snapshot "$WORK/pg.after"
  read -r backends_cpu server_cpu < <(pg_delta "$WORK/pg.before" "$WORK/pg.after")
  rss=$(awk '/^VmHWM/ {print $2}' "/proc/$SHIM_PID/status")
  acks_deferred=$(metric acks_deferred_total)
  acks_per_write=$(awk -v m="$(metric messages_received_total)" -v w="$(metric ack_writes_total)" 'BEGIN {printf "%.1f", (w > 0 ? m / w : 0)}')
  # What each batch carried, for the cost of a batch whatever its size (batch_cost.sql).
  local batches per_batch
  batches=$(metric batch_messages_count)
  per_batch=$(awk -v r="$(metric readings_committed_total)" -v b="$batches" 'BEGIN {printf "%d", (b > 0 ? r / b : 0)}')
  session_end "$site"
  [ -z "${WINDOW:-}" ] || psql_t -c "ALTER DATABASE $DB SET telemetry.event_id_window = ${EVENT_ID_WINDOW:-DEFAULT}"
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
  PUBLISHED=$published RSS_MIB=$((rss / 1024))
  shim_rate=$(awk -v n="$readings" -v s="$shim_seconds" 'BEGIN {printf "%d", n / s}')
  RATIO=-
  if [ "${SUB:-yes}" = yes ]; then
    sub_rate=$(awk -v n="$readings" -v s="$(awk -v a="$sub_end" -v b="$start" 'BEGIN {print a - b}')" 'BEGIN {printf "%d", n / s}')
    RATIO=$(awk -v a="$shim_rate" -v b="$sub_rate" 'BEGIN {printf "%.2f", a / b}')
  fi
  printf '%-34s %8s %9s %9s %9s %6s %7s %7s %5s %8d %8s %6s\n' "$name" "$rate" "$published" "$shim_rate" "$sub_rate" \
    "$RATIO" "$p50" "$P99" "$ckpt" $((rss / 1024)) "$acks_deferred" "$acks_per_write"
  # CPU seconds per million readings, per process, and the two ratios of issue 13 (per message
  # against mosquitto_sub; shim and PostgreSQL per reading against the pipeline alone).
  local shim_m broker_m pg_m server_m loadgen_m sub_m=- db_m=$DB_SINGLE db_events_m=$DB_SINGLE_EVENTS vs_sub=- vs_db vs_db_events
  shim_m=$(per_million "$(awk -v t="$shim_cpu" -v hz="$HZ" 'BEGIN {print t / hz}')" "$readings")
  broker_m=$(per_million "$(awk -v t="$broker_cpu" -v hz="$HZ" 'BEGIN {print t / hz}')" "$readings")
  pg_m=$(per_million "$(awk -v t="$backends_cpu" -v hz="$HZ" 'BEGIN {print t / hz}')" "$readings")
  server_m=$(per_million "$(awk -v t="$server_cpu" -v hz="$HZ" 'BEGIN {print t / hz}')" "$readings")
  loadgen_m=$(per_million "$(children_seconds "$WORK/loadgen.times")" "$readings")
  [ "$per" = 1 ] || db_m=$DB_MULTI db_events_m=$DB_MULTI_EVENTS
  vs_db=$(awk -v a="$shim_m" -v b="$pg_m" -v c="$db_m" 'BEGIN {printf "%.2f", (a + b) / c}')
  vs_db_events=$(awk -v a="$shim_m" -v b="$pg_m" -v c="$db_events_m" 'BEGIN {printf "%.2f", (a + b) / c}')
  if [ -f "$WORK/sub.times" ]; then
    sub_m=$(per_million "$(children_seconds "$WORK/sub.times")" "$readings")
    vs_sub=$(awk -v a="$shim_m" -v b="$sub_m" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  fi
  printf '%-34s   CPU s per million readings: loadgen %s, broker %s, shim %s, PostgreSQL backends %s (its own processes %s), mosquitto_sub %s; shim/mosquitto_sub %s (target <= 2), (shim + backends)/pipeline alone %s (target <= 1.3), /pipeline alone with event ids %s; %s batches of %s readings on average\n' \
    "" "$loadgen_m" "$broker_m" "$shim_m" "$pg_m" "$server_m" "$sub_m" "$vs_sub" "$vs_db" "$vs_db_events" "$batches" "$per_batch"
}

# step_up LABEL PER_MESSAGE RATE...: runs each offered load for half the time until one is not
# sustained, or until the load generator cannot publish it (below 0.95 of it; the latency then
# includes the generator's lag); prints the highest sustained one, and for single readings the
# steps that meet issue 13's targets.
step_up() {
  local label=$1 per=$2 best=none rate shape=(--shape array --per-message "$2") met=() missed=()
  shift 2
  [ "$per" = 1 ] && shape=()
  for rate in "$@"; do
    run "step $label $rate" "$rate" $((rate * seconds / 2 / 24 / per)) 24 "${shape[@]}"
    if awk -v r="$RATIO" -v p="$P99" -v m="$RSS_MIB" 'BEGIN {exit !(r >= 0.95 && p < 250 && m < 64)}'; then
      met+=("$rate")
    else
      missed+=("$rate")
    fi
    awk -v r="$RATIO" 'BEGIN {exit !(r >= 0.8)}' || break
    if [ "$PUBLISHED" -lt $((rate * 95 / 100)) ]; then
      say "the load generator published $PUBLISHED of $rate readings/s: its limit on this machine"
      break
    fi
    awk -v p="$P99" 'BEGIN {exit !(p < 1000)}' || break
    best=$rate
  done
  SUSTAINED=$best
  [ "$best" != none ] || best="below $1"
  say "highest sustained offered load, $label: $best readings/s (shim >= 0.8 of mosquitto_sub, p99 < 1 s)"
  [ "$per" != 1 ] || [ -n "${ONLY:-}" ] \
    || say "issue 13, single readings (shim >= 0.95 of mosquitto_sub, p99 < 250 ms, RSS < 64 MiB): met at ${met[*]:-none}; missed at ${missed[*]:-none}"
}

# burst FACTOR: 20-reading messages offered at FACTOR times the base rate for BURST_SECONDS.
# The shim is slower than the offered rate, so the broker's backlog for it (messages published
# minus those the shim received) is largest when the burst ends. Mosquitto's RSS is sampled each
# second. Every reading must be stored; the readings are then dropped, to keep the disk free.
burst() {
  local factor=$1 base=${BURST_BASE:-${BATCHED_BEST:-none}} burst_seconds=${BURST_SECONDS:-60} name
  name="burst ${factor}x"
  if [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]]; then
    return 0
  fi
  if [ "$base" = none ]; then
    base=72000
    say "no sustained batched rate measured in this run (ONLY=$ONLY); bursts are based on 72,000 readings/s (set BURST_BASE)"
  fi
  local rate=$((base * factor)) site messages readings end drained sampler
  site=burst-${factor}x
  messages=$((rate * burst_seconds / 24 / 20))
  readings=$((messages * 24 * 20))
  session_start "$site"
  ( while sleep 1; do awk '/^VmRSS/ {print $2}' "/proc/$MQ_PID/status"; done >"$WORK/broker.rss" ) &
  sampler=$!
  loadgen --site "$site" --rate "$rate" --messages "$messages" --producers 24 --shape array --per-message 20 >"$WORK/loadgen.out"
  end=$(now)
  local published received_at_end backlog
  published=$(sed -n 's/.* messages=\([0-9]*\) .*/\1/p' "$WORK/loadgen.out")
  received_at_end=$(metric messages_received_total)
  backlog=$((published - received_at_end))
  local i timeout=$((readings / 20000 + 300))
  for i in $(seq $((timeout * 5))); do
    [ "$(metric readings_committed_total)" -ge "$readings" ] 2>/dev/null && break
    sleep 0.2
  done
  drained=$(now)
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  local stored rss mq_rss
  # Counted in the database, not taken from the shim's own metric: what "nothing lost" means.
  stored=$(stored_rows "$site")
  rss=$(awk '/^VmHWM/ {print $2}' "/proc/$SHIM_PID/status")
  mq_rss=$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {print m}' "$WORK/broker.rss")
  session_end "$site"
  psql_t -c "TRUNCATE telemetry.readings, telemetry.recent_events" -c "CHECKPOINT"
  printf '%-34s offered %d readings/s for %d s (%sx %d), published %s readings/s; broker backlog at the end %d messages (%d readings); drained %.0f s after the burst; peak RSS shim %d MiB, Mosquitto %d MiB; stored %d of %d\n' \
    "$name" "$rate" "$burst_seconds" "$factor" "$base" "$(sed -n 's/.* readings_per_s=\([0-9]*\) .*/\1/p' "$WORK/loadgen.out")" \
    "$backlog" $((backlog * 20)) "$(awk -v a="$drained" -v b="$end" 'BEGIN {print a - b}')" $((rss / 1024)) $((mq_rss / 1024)) "$stored" "$readings"
  [ "$stored" = "$readings" ] || die "bench" "$name: $stored of $readings readings stored"
}

step "ingest-shim benchmark: ${seconds}s per offered load, ${WRITERS:-2} writers, release build"
printf '%-34s %8s %9s %9s %9s %6s %7s %7s %5s %8s %8s %6s\n' "load (readings/s)" offered published shim mosq_sub ratio "p50 ms" "p99 ms" ckpt "RSS MiB" "deferred" "acks/write"
run "pilot 800 single" 800 $((800 * seconds / 8)) 8
run "10k single" 10000 $((10000 * seconds / 10)) 10
# MQTT 3.1.1: the shim writes its PUBACKs itself, many per flush (MQTT 5's go one by one).
SHIM_FLAGS="${SHIM_FLAGS:-} --mqtt-protocol v3" run "10k single, MQTT 3.1.1" 10000 $((10000 * seconds / 10)) 10
run "72k single" 72000 $((72000 * seconds / 24)) 24
SHIM_FLAGS="${SHIM_FLAGS:-} --mqtt-protocol v3" run "72k single, MQTT 3.1.1" 72000 $((72000 * seconds / 24)) 24
WINDOW=0 run "72k single, event_id check off" 72000 $((72000 * seconds / 24)) 24
run "72k batched 20" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
WINDOW=0 run "72k batched 20, event_id check off" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
SUB=no run "72k batched 20, shim alone" 72000 $((72000 * seconds / 24 / 20)) 24 --shape array --per-message 20
step_up "batched 20" 20 96000 120000 144000 168000 192000
BATCHED_BEST=$SUSTAINED
step_up "single" 1 15000 25000 40000 56000 72000
burst 3
burst 10

# What the shipped broker persistence costs, against persistence off (ingest-shim/README.md,
# "Broker crashes"); not when ONLY picks some loads.
[ -n "${ONLY:-}" ] || "$ROOT/tests/bench/broker_persistence.sh" "$((seconds / 2))"
