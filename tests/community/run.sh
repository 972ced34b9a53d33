#!/usr/bin/env bash
# The Community edition's path: tests/community/compression.sql against its expected output.
# Debian ships only the Apache edition of TimescaleDB (CI has no other), so this runs where a
# PostgreSQL 15 has the Community edition installed: it installs the extension into that
# PostgreSQL, starts a cluster of it, and fails unless timescaledb.license is 'timescale'.
# Usage: tests/community/run.sh PG_BINDIR [PORT]   (e.g. /usr/lib/postgresql/15/bin)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
usage_if_help "$@"
PGBIN=${1:?usage: tests/community/run.sh PG_BINDIR [PORT]}
port=${2:-55471}
here="$ROOT/tests/community"
install_extension
work=$(mktemp -d /tmp/telemetry-community.XXXXXX)
chown postgres "$work"
start_cluster "$work/pg" "$port"
trap 'stop_cluster "$work/pg"; rm -rf "$work"' EXIT
q() { psql -X -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
q -d postgres -qc "CREATE DATABASE community"
# The license setting exists once TimescaleDB is loaded in a database.
license=$(q -d community -qtA -c "SET client_min_messages = warning" -c "CREATE EXTENSION timescaledb" -c "SHOW timescaledb.license")
[ "$license" = timescale ] || die "community" "the TimescaleDB of $PGBIN is the $license edition, not the Community edition"
# Times are relative to now(), so the output is the same on any day.
q -d community -a -f "$here/compression.sql" >"$work/compression.out" 2>&1 || true
if ! diff -u "$here/compression.out" "$work/compression.out"; then
  cp "$work/compression.out" /tmp/telemetry-community.out
  die "community" "tests/community/compression.sql differs from its expected output (diff above: - expected, + actual, kept in /tmp/telemetry-community.out)"
fi
# pg_dump and restore, as TimescaleDB documents it: the compressed chunks come back, readable.
count="SELECT (SELECT count(*) FROM telemetry.readings) || '/' || (SELECT count(*) FROM timescaledb_information.chunks
          WHERE hypertable_schema = 'telemetry' AND hypertable_name = 'readings' AND is_compressed)"
before=$(q -d community -tAc "$count")
pg_dump -h /tmp -p "$port" -U postgres -Fc -f "$work/community.dump" community
q -d postgres -qc "CREATE DATABASE restored"
q -d restored -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION timescaledb" -c "SELECT timescaledb_pre_restore()" >/dev/null
pg_restore -h /tmp -p "$port" -U postgres -d restored "$work/community.dump" 2>"$work/restore.err" \
  || die "community" "pg_restore failed: $(head -n 5 "$work/restore.err")"
q -d restored -qc "SELECT timescaledb_post_restore()" >/dev/null
after=$(q -d restored -tAc "$count")
[ "$after" = "$before" ] || die "community" "readings/compressed chunks before the dump $before, after the restore $after"
say "Community edition ($license): compression, late readings into compressed chunks, rollups, retention, and a dump and restore ($after readings/compressed chunks) as expected"
