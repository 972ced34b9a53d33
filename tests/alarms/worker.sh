#!/usr/bin/env bash
# The maintenance background worker: a cluster with telemetry in shared_preload_libraries and
# telemetry.maintenance_interval = 1 s. A stale rule and one reading; nobody calls
# telemetry.run_maintenance(), and within a few seconds the stale alarm is raised by the worker.
# Then the interval is set to 0 with a reload, and a second stale alarm is not raised.
# Usage: tests/alarms/worker.sh PORT
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
usage_if_help "$@"
port=${1:?usage: tests/alarms/worker.sh PORT}
work=$(mktemp -d /tmp/telemetry-worker.XXXXXX)
chown postgres:postgres "$work"
trap 'stop_cluster "$work/pg" >/dev/null 2>&1; rm -rf "$work"' EXIT
start_cluster "$work/pg" "$port"
cat >> "$work/pg/postgresql.conf" <<CONF
shared_preload_libraries = 'timescaledb,telemetry'
telemetry.maintenance_interval = 1
telemetry.maintenance_database = 'worker'
CONF
as_postgres "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w restart >/dev/null
q() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
q -d postgres -c "CREATE DATABASE worker"
q -d worker -c "CREATE EXTENSION telemetry CASCADE" \
  -c "SELECT telemetry.add_alarm_rule('silent', 'stale', 'medium', after => '1 second', asset_id => 'p1')" \
  -c "SELECT readings FROM telemetry.ingest('telemetry/w/p1/pressure', convert_to('{\"value\": 1}', 'UTF8'))" >/dev/null
raised=0
for _ in $(seq 50); do
  raised=$(q -d worker -c "SELECT count(*) FROM telemetry.alarm_events WHERE kind = 'raise'")
  [ "$raised" -ge 1 ] && break
  sleep 0.2
done
[ "$raised" = 1 ] || die "worker" "no stale alarm raised by the background worker within 10 s (server log: $(tail -n 3 "$work/pg/server.log"))"
say "the background worker raised the stale alarm without anyone calling telemetry.run_maintenance()"
q -d postgres -c "ALTER SYSTEM SET telemetry.maintenance_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5
q -d worker -c "SELECT readings FROM telemetry.ingest('telemetry/w/p1/pressure', convert_to('{\"value\": 2}', 'UTF8'))" >/dev/null
q -d worker -c "SELECT telemetry.add_alarm_rule('silent too', 'stale', 'low', after => '1 second', asset_id => 'p2')" \
  -c "SELECT readings FROM telemetry.ingest('telemetry/w/p2/pressure', convert_to('{\"value\": 1}', 'UTF8'))" >/dev/null
sleep 3
late=$(q -d worker -c "SELECT count(*) FROM telemetry.alarm_events e JOIN telemetry.alarm_rules r USING (rule_id) WHERE r.name = 'silent too'")
[ "$late" = 0 ] || die "worker" "the worker ran with telemetry.maintenance_interval = 0"
say "with telemetry.maintenance_interval = 0 (after a reload) it runs no more"
