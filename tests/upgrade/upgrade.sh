#!/usr/bin/env bash
# ALTER EXTENSION telemetry UPDATE from the previous release. Installs 0.1.0 (its install script,
# as `cargo pgrx schema` generated it at tag v0.1.0, is kept here), stores rows under it,
# updates, and compares every object of the extension with a fresh install of the current
# version: the two must describe identically, and the old rows must still be there.
# Usage: tests/upgrade/upgrade.sh PORT   (a running cluster with the current version installed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
usage_if_help "$@"
port=${1:?usage: tests/upgrade/upgrade.sh PORT}
here="$ROOT/tests/upgrade"
install -m 644 "$here/telemetry--0.1.0.sql" "$(pg_config --sharedir)/extension/"

q() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
q -d postgres -c "DROP DATABASE IF EXISTS upgraded" -c "DROP DATABASE IF EXISTS fresh" \
  -c "CREATE DATABASE upgraded" -c "CREATE DATABASE fresh"
q -d upgraded -c "CREATE EXTENSION telemetry VERSION '0.1.0' CASCADE"
# Rows stored under 0.1.0.
q -d upgraded -c "INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('upgrade-site', 'pump-1', 'pressure');
                  INSERT INTO telemetry.readings (time, series_id, value) SELECT '2025-06-01', series_id, 250 FROM telemetry.series;
                  INSERT INTO telemetry.dead_letters (topic, reason) VALUES ('no/route', 'no_route')"
# The new library refuses to ingest into the old tables, and says what to do.
if refusal=$(q -d upgraded -c "SELECT * FROM telemetry.ingest('no/route', '\x00')" 2>&1); then
  die "upgrade" "ingest into 0.1.0 tables with the $(q -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'telemetry'") library did not fail"
fi
grep -q 'ALTER EXTENSION telemetry UPDATE' <<<"$refusal" \
  || die "upgrade" "ingest into 0.1.0 tables failed without saying to update: $refusal"
q -d upgraded -c "ALTER EXTENSION telemetry UPDATE"
q -d fresh -c "CREATE EXTENSION telemetry CASCADE"

if ! diff -u <(q -d fresh -f "$here/describe.sql") <(q -d upgraded -f "$here/describe.sql"); then
  die "upgrade" "a database updated from 0.1.0 differs from a fresh install (diff above: - fresh, + updated)"
fi
kept=$(q -d upgraded -c "SELECT (SELECT count(*) FROM telemetry.readings WHERE value = 250) || '/' ||
                                (SELECT count(*) FROM telemetry.dead_letters WHERE reason = 'no_route' AND packet_id IS NULL)")
[ "$kept" = "1/1" ] || die "upgrade" "rows stored under 0.1.0: expected 1 reading and 1 dead letter, found $kept"
# Ingest works on the updated database, broker metadata included.
q -d upgraded -c "INSERT INTO telemetry.inbox (topic, payload, packet_id, redelivered) VALUES ('no/route', '\x00', 7, true)"
[ "$(q -d upgraded -c "SELECT count(*) FROM telemetry.dead_letters WHERE packet_id = 7 AND redelivered")" = 1 ] \
  || die "upgrade" "the updated inbox did not keep the broker metadata"
say "0.1.0 -> $(q -d upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'telemetry'"): same objects as a fresh install, rows kept"
