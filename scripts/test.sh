#!/usr/bin/env bash
# Every test: Rust unit tests, #[pg_test] tests inside PostgreSQL, the pg_regress suites, and
# the SQL examples in the docs. Runs set-up first when needed. Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
"$ROOT/scripts/setup.sh"

WORK=$(mktemp -d /tmp/telemetry-test.XXXXXX)
chown postgres:postgres "$WORK"
trap 'stop_cluster "$WORK/docs-pgdata"; rm -rf "$WORK"' EXIT
failures=()

step "Format and lints (cargo fmt --check, cargo clippy -D warnings)"
( cd "$ROOT" && cargo fmt --all --check ) || failures+=("cargo fmt")
( cd "$ROOT" && cargo clippy -p telemetry -p telemetry-core --all-targets -q -- -D warnings ) || failures+=("cargo clippy")

step "Rust unit tests (telemetry-core: no PostgreSQL needed)"
( cd "$ROOT" && cargo test -p telemetry-core ) || failures+=("telemetry-core tests")
# The #[pg_test] tests need a cluster; the next step runs them.
( cd "$ROOT" && cargo test -p telemetry --lib -- --skip tests::pg_ ) || failures+=("unit tests")

step "pgrx tests inside PostgreSQL (cargo pgrx test, as postgres)"
( cd "$ROOT/extension" && cargo pgrx test pg15 --runas postgres --pgdata "$WORK/pgrx-pgdata" ) \
  || failures+=("pgrx tests")

step "pg_regress suites (pg_regress/)"
install_extension
cp -r "$ROOT/pg_regress" "$WORK/regress"
chown -R postgres:postgres "$WORK/regress"
printf "shared_preload_libraries = 'timescaledb'\nmax_locks_per_transaction = 256\n" > "$WORK/regress.conf"
tests=$(cd "$ROOT/pg_regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
# shellcheck disable=SC2086
if ! ( cd "$WORK/regress" && as_postgres "$PGXS_REGRESS" \
      --bindir="$PGBIN" --inputdir=. --outputdir=. \
      --temp-instance="$WORK/regress/tmp_check" --temp-config="$WORK/regress.conf" \
      --dbname=telemetry_regress $tests ); then
  failures+=("pg_regress")
  [ -f "$WORK/regress/regression.diffs" ] && cat "$WORK/regress/regression.diffs"
fi

step "SQL examples in README.md"
# Every sql block must run. A one-line SELECT ending in "-- VALUE" must also print VALUE
# (true/false for booleans; "123..." matches by prefix; text after the first word is prose).
start_cluster "$WORK/docs-pgdata" "$TEST_PORT"
psql_q() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$TEST_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql_q -d postgres -c "CREATE DATABASE docs"
psql_q -d docs -c "CREATE EXTENSION telemetry CASCADE"
examples=$(awk '/^```sql$/{on=1; next} /^```$/{on=0} on' "$ROOT/README.md")
checked=0
if [ -z "$examples" ]; then
  failures+=("README has no SQL examples")
elif ! printf '%s\n' "$examples" | psql_q -d docs >/dev/null; then
  failures+=("README SQL examples")
else
  while IFS= read -r line; do
    statement=${line%%;*}
    expected=$(sed -E 's/.*; *-- *([^ ]+).*/\1/' <<<"$line")
    case "$expected" in true) expected=t ;; false) expected=f ;; esac
    actual=$(psql_q -d docs -tA -c "$statement")
    if [[ "$expected" == *... ]] && [[ "$actual" == "${expected%...}"* ]] || [ "$actual" = "$expected" ]; then
      checked=$((checked + 1))
    else
      failures+=("README example: $statement gave '$actual', the README says '$expected'")
    fi
  done < <(printf '%s\n' "$examples" | grep -E '^SELECT .*; *-- *[^ ]')
  say "all examples ran; $checked results matched the README"
fi

step "Two sessions ingesting overlapping batches at once (tests/ingest/concurrency.sh)"
psql_q -d postgres -c "CREATE DATABASE concurrency"
psql_q -d concurrency -c "CREATE EXTENSION telemetry CASCADE"
"$ROOT/tests/ingest/concurrency.sh" "$TEST_PORT" concurrency || failures+=("concurrent ingest")

step "The maintenance background worker (tests/alarms/worker.sh)"
"$ROOT/tests/alarms/worker.sh" $((TEST_PORT + 7)) || failures+=("maintenance worker")

step "pg_dump and pg_restore keep the user's rows"
# A DBA's own unit, alias, site and readings survive a dump and a restore into a new database;
# the shipped rows come back once, from CREATE EXTENSION, not twice.
psql_q -d docs -c "INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('kilowatz', 'kW');
  INSERT INTO telemetry.sites (site_id, name) VALUES ('dump-site', 'Dumped');
  INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('dump-site', 'a1', 'humidity');
  INSERT INTO telemetry.readings (time, series_id, value)
    SELECT t, currval('telemetry.series_series_id_seq'), 50 FROM generate_series(timestamptz '2025-06-01', '2025-06-03', '1 hour') t"
snapshot="SELECT (SELECT count(*) FROM telemetry.units) || '/' || (SELECT count(*) FROM telemetry.unit_aliases)
  || '/' || (SELECT count(*) FROM telemetry.sites) || '/' || (SELECT count(*) FROM telemetry.readings)
  || '/' || telemetry.convert(1, 'kilowatz', 'W')"
before=$(psql_q -d docs -tAc "$snapshot")
# TimescaleDB's catalog has circular foreign keys; pg_dump warns about them, harmlessly, so
# its messages are shown only when something fails.
pg_dump -h /tmp -p "$TEST_PORT" -U postgres -Fc -f "$WORK/docs.dump" docs 2>"$WORK/pg_dump.log" \
  || { cat "$WORK/pg_dump.log"; failures+=("pg_dump"); }
psql_q -d postgres -c "CREATE DATABASE restored"
psql_q -d restored -c "CREATE EXTENSION timescaledb" -c "SELECT timescaledb_pre_restore()" >/dev/null
if ! pg_restore -h /tmp -p "$TEST_PORT" -U postgres -d restored --exit-on-error "$WORK/docs.dump"; then
  failures+=("pg_restore")
else
  psql_q -d restored -c "SELECT timescaledb_post_restore()" >/dev/null
  after=$(psql_q -d restored -tAc "$snapshot")
  if [ "$before" = "$after" ]; then
    say "units/aliases/sites/readings/convert before and after: $after"
  else
    failures+=("pg_dump round trip: before $before, after $after")
  fi
fi

step "ALTER EXTENSION telemetry UPDATE from the previous release (tests/upgrade/upgrade.sh)"
"$ROOT/tests/upgrade/upgrade.sh" "$TEST_PORT" || failures+=("upgrade from 0.1.0")

step "ingest-shim: clippy, unit tests, end-to-end against Mosquitto and PostgreSQL (tests/shim/)"
( cd "$ROOT" && cargo clippy -p ingest-shim -p loadgen --all-targets -q -- -D warnings \
    && cargo test -p ingest-shim -q && cargo build -p ingest-shim -p loadgen -q ) || failures+=("ingest-shim build")
"$ROOT/tests/shim/run.sh" || failures+=("ingest-shim end-to-end")

step "Summary"
if [ ${#failures[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failures[@]}"
  exit 1
fi
say "all test suites passed"
