# Helpers for the ingest-shim end-to-end tests: each test gets its own PostgreSQL cluster,
# Mosquitto and shim on free ports, all stopped again when it exits.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
BIN=${SHIM_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}
MQ_CONF=$ROOT/ingest-shim/mosquitto.conf
DB=shim

# Ports outside the kernel's ephemeral range (32768-60999 by default), so that no client
# connection made after the choice (a psql, a loadgen producer) can take one before its
# listener binds it; a shim once failed to start on a port a client had taken meanwhile.
read -r EPHEMERAL_LO EPHEMERAL_HI </proc/sys/net/ipv4/ip_local_port_range
if [ "$EPHEMERAL_HI" -lt 64000 ]; then PORTS_FROM=$((EPHEMERAL_HI + 1)); else PORTS_FROM=$((EPHEMERAL_LO - 1000)); fi
# A port chosen earlier in this test is not chosen again, even before anything listens on it
# (the shim's HTTP port was once the cluster's); $WORK/ports keeps them.
free_port() {
  local port
  for port in $(shuf -i "$PORTS_FROM-$((PORTS_FROM + 999))" -n 100); do
    grep -qx "$port" "${WORK:-/nonexistent}/ports" 2>/dev/null && continue
    # Not `ss | grep -q`: under pipefail, ss killed by SIGPIPE would make a busy port look free.
    if [ -z "$(ss -Hatn "sport = :$port")" ]; then
      [ -n "${WORK:-}" ] && echo "$port" >>"$WORK/ports"
      echo "$port"
      return
    fi
  done
  die "ports" "no free port in $PORTS_FROM-$((PORTS_FROM + 999))"
}

wait_port() {
  local port=$1 i
  for i in $(seq 100); do
    [ -n "$(ss -Hltn "sport = :$port")" ] && return 0
    sleep 0.1
  done
  die "ports" "nothing listens on $port"
}

psql_t() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -h /tmp -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -d "$DB" -tA -F ' ' "$@"; }

# setup NAME: a work directory, a cluster with the extension, and Mosquitto; cleaned up at exit.
setup() {
  WORK=$(mktemp -d "/tmp/shim-$1.XXXXXX")
  chmod 755 "$WORK"
  PG_PORT=$(free_port)
  MQ_PORT=$(free_port)
  HTTP_PORT=$(free_port)
  SHIM_PID="" MQ_PID="" LOADGEN_PID=""
  trap teardown EXIT
  start_cluster "$WORK/pg" "$PG_PORT"
  psql_t -d postgres -c "CREATE DATABASE $DB"
  psql_t -c "CREATE EXTENSION telemetry CASCADE"
  start_mosquitto
}

teardown() {
  local status=$?
  set +e
  [ -n "$SHIM_PID" ] && kill -KILL "$SHIM_PID" 2>/dev/null
  [ -n "$MQ_PID" ] && kill -TERM "$MQ_PID" 2>/dev/null
  [ -n "$LOADGEN_PID" ] && kill -TERM "$LOADGEN_PID" 2>/dev/null
  # Processes a test started on its own (a second shim).
  [ -n "${EXTRA_PID:-}" ] && kill -KILL "$EXTRA_PID" 2>/dev/null
  stop_cluster "$WORK/pg"
  if [ "$status" != 0 ]; then
    say "FAILED; last shim log lines:"
    tail -n 20 "$WORK/shim.log" 2>/dev/null | sed 's/^/      /'
    say "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}

# The shipped configuration plus this test's port and persistence directory, and any lines
# in $MQ_CONF_EXTRA.
start_mosquitto() {
  mkdir -p "$WORK/mq"
  chown mosquitto "$WORK/mq"
  { cat "$MQ_CONF"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence_location %s/\nlog_dest file %s\n' \
      "$MQ_PORT" "$WORK/mq" "$WORK/mq/mosquitto.log"
    printf '%s\n' "${MQ_CONF_EXTRA:-}"
  } > "$WORK/mosquitto.conf"
  mosquitto -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.out" 2>&1 &
  MQ_PID=$!
  wait_port "$MQ_PORT"
}

# SIGTERM: Mosquitto saves its persistence file before it exits.
stop_mosquitto() {
  kill -TERM "$MQ_PID"
  wait "$MQ_PID" || true
  MQ_PID=""
}

# start_shim [FLAGS...]: in the background, logging to $WORK/shim.log; returns once ready.
start_shim() {
  launch_shim "$@"
  wait_ready
}

# launch_shim [FLAGS...]: the same without waiting (the database may be down). It connects to
# PostgreSQL as $SHIM_PG_USER (default postgres) and writes local dead letters to
# $WORK/dead-letters.jsonl.
launch_shim() {
  "$BIN/ingest-shim" --mqtt-port "$MQ_PORT" \
    --pg "host=/tmp port=$PG_PORT user=${SHIM_PG_USER:-postgres} dbname=$DB" \
    --http-listen "127.0.0.1:$HTTP_PORT" --dead-letter-file "$WORK/dead-letters.jsonl" "$@" >>"$WORK/shim.log" 2>&1 &
  SHIM_PID=$!
  wait_port "$HTTP_PORT"
}

# Ready means subscribed: readings published before that would have no session to go to.
wait_ready() {
  local i
  for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "shim" "not ready after 10 s"
}

# stop_shim: SIGTERM, and the shim must exit 0.
stop_shim() {
  local status=0
  kill -TERM "$SHIM_PID"
  wait "$SHIM_PID" || status=$?
  SHIM_PID=""
  [ "$status" = 0 ] || die "shim" "exit status $status after SIGTERM"
}

kill_shim() {
  kill -KILL "$SHIM_PID"
  wait "$SHIM_PID" 2>/dev/null || true
  SHIM_PID=""
}

metric() { curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="ingest_shim_$1" '$1 == m {print $2}'; }

# loadgen ARGS...: publishes to this test's broker; prints its summary line.
loadgen() { "$BIN/loadgen" --port "$MQ_PORT" "$@"; }

stored_rows() {
  psql_t -c "SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = '$1'"
}

# wait_metric NAME VALUE [SECONDS]: until the shim's metric NAME equals VALUE.
wait_metric() {
  local name=$1 value=$2 seconds=${3:-30} i
  for i in $(seq $((seconds * 5))); do
    [ "$(metric "$name")" = "$value" ] && return 0
    sleep 0.2
  done
  die "metrics" "$name is $(metric "$name") after ${seconds}s, expected $value"
}

# wait_stored SITE COUNT [SECONDS]: until SITE has COUNT readings (the check that follows
# says what is wrong if it never gets there).
wait_stored() {
  local site=$1 count=$2 seconds=${3:-60} i
  for i in $(seq $((seconds * 5))); do
    [ "$(stored_rows "$site")" -ge "$count" ] && return 0
    sleep 0.2
  done
  say "waited ${seconds}s for $count readings of $site; have $(stored_rows "$site")"
}

# check_exactly_once SITE PUBLISHED SERIES: every published reading stored once. Each series
# holds the values 0..n-1 (a reading's value is its sequence number), at distinct times, and
# the site has exactly PUBLISHED rows in SERIES series.
check_exactly_once() {
  local site=$1 published=$2 series=$3 rows distinct nseries gappy
  read -r rows distinct nseries gappy < <(psql_t -c "
    WITH r AS (SELECT r.series_id, r.time, r.value FROM telemetry.readings r
                 JOIN telemetry.series s USING (series_id) WHERE s.site_id = '$site'),
         per AS (SELECT series_id, count(*) AS n, count(DISTINCT value) AS v, min(value) AS lo,
                        max(value) AS hi, count(DISTINCT time) AS t FROM r GROUP BY series_id)
    SELECT (SELECT count(*) FROM r), (SELECT count(DISTINCT (series_id, time)) FROM r),
           (SELECT count(*) FROM per),
           (SELECT count(*) FROM per WHERE n <> v OR n <> t OR lo <> 0 OR hi <> n - 1)")
  say "$site: published $published, stored rows $rows, distinct keys $distinct, series $nseries (expected $series), series with gaps or repeats $gappy"
  [ "$rows" = "$published" ] && [ "$distinct" = "$published" ] && [ "$nseries" = "$series" ] && [ "$gappy" = 0 ] \
    || die "exactly once" "$site: stored readings differ from the published ones"
}

# published COUNT from a loadgen summary line.
published() { sed -n 's/.* readings=\([0-9]*\) .*/\1/p' <<<"$1"; }

# loadgen_start ARGS... / loadgen_wait: the load generator in the background; its summary
# line ends up in $WORK/loadgen.out.
loadgen_start() {
  loadgen "$@" >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" &
  LOADGEN_PID=$!
}

loadgen_wait() {
  wait "$LOADGEN_PID" || die "loadgen" "failed: $(tail -n 3 "$WORK/loadgen.err")"
  LOADGEN_PID=""
  say "$(cat "$WORK/loadgen.out")"
}

# pg_ctl_as MODE ACTION: restart or stop this test's cluster (MODE fast or immediate).
pg_ctl_as() {
  as_postgres "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -m "$1" -w "$2" >/dev/null
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SHIM_PID/status"; }
