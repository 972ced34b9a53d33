#!/usr/bin/env bash
# ALTER EXTENSION telemetry UPDATE from every earlier release. Installs each (its install script,
# as `cargo pgrx schema` generated it at its tag, is kept here), stores rows under it, updates,
# and compares every object of the extension with a fresh install of the current version: the
# two must describe identically, and the old rows must still be there.
# Usage: tests/upgrade/upgrade.sh PORT   (a running cluster with the current version installed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
usage_if_help "$@"
port=${1:?usage: tests/upgrade/upgrade.sh PORT}
here="$ROOT/tests/upgrade"
releases=(0.1.0 0.2.0 0.3.0 0.4.0 0.5.0)
for from in "${releases[@]}"; do
  install -m 644 "$here/telemetry--$from.sql" "$(pg_config --sharedir)/extension/"
done

q() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
q -d postgres -c "DROP DATABASE IF EXISTS fresh" -c "CREATE DATABASE fresh"
q -d fresh -c "CREATE EXTENSION telemetry CASCADE"
current=$(q -d fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'telemetry'")

for from in "${releases[@]}"; do
  q -d postgres -c "DROP DATABASE IF EXISTS upgraded" -c "CREATE DATABASE upgraded"
  q -d upgraded -c "CREATE EXTENSION telemetry VERSION '$from' CASCADE"
  # Rows stored under the old release: a reading, a dead letter, a Sparkplug alias of 2^63
  # (which 0.1.0 and 0.2.0 stored as a negative bigint). From 0.3.0 on, a dead letter names its
  # message in telemetry.dead_letter_messages; from 0.4.0 on, a birth's aliases are kept in
  # telemetry.sparkplug_metrics.
  case $from in
    0.1.0|0.2.0)
      letter="INSERT INTO telemetry.dead_letters (topic, payload, reason) VALUES ('no/route', '\x01', 'no_route')" ;;
    *)
      letter="WITH m AS (INSERT INTO telemetry.dead_letter_messages (received_at, topic, payload) VALUES (now(), 'no/route', '\x01') RETURNING message_id)
              INSERT INTO telemetry.dead_letters (reason, message_id) SELECT 'no_route', message_id FROM m" ;;
  esac
  case $from in
    0.1.0|0.2.0) spark="INSERT INTO telemetry.sparkplug_aliases VALUES ('g', 'e', '', -9223372036854775808, 'pressure')" ;;
    0.3.0) spark="INSERT INTO telemetry.sparkplug_aliases VALUES ('g', 'e', '', 9223372036854775808, 'pressure')" ;;
    *) spark="INSERT INTO telemetry.sparkplug_metrics (group_id, edge_node_id, device_id, metric, alias, born_at)
              VALUES ('g', 'e', '', 'pressure', 9223372036854775808, now())" ;;
  esac
  q -d upgraded -c "INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('upgrade-site', 'pump-1', 'pressure');
                    INSERT INTO telemetry.readings (time, series_id, value) SELECT '2025-06-01', series_id, 250 FROM telemetry.series;
                    INSERT INTO telemetry.recent_events (series_id, event_id, seen_at)
                      SELECT series_id, e, now() - age FROM telemetry.series,
                             (VALUES ('recent-event', interval '1 minute'), ('expired-event', interval '2 days')) AS v (e, age);
                    $letter;
                    $spark"
  # The new library refuses to ingest into the old tables, and says what to do.
  if refusal=$(q -d upgraded -c "SELECT * FROM telemetry.ingest('no/route', '\x00')" 2>&1); then
    die "upgrade" "ingest into $from tables with the $current library did not fail"
  fi
  grep -q 'ALTER EXTENSION telemetry UPDATE' <<<"$refusal" \
    || die "upgrade" "ingest into $from tables failed without saying to update: $refusal"
  q -d upgraded -c "ALTER EXTENSION telemetry UPDATE"
  # The readings stored before 0.5.0 are in the rollups at once (from raw), and after
  # maintenance has materialized them.
  in_rollups="SELECT sum(telemetry.num_vals(summary)) FROM telemetry.rollup_1h WHERE telemetry.mean(summary) = 250"
  [ "$(q -d upgraded -c "$in_rollups")" = 1 ] || die "upgrade" "the reading stored under $from is not in the rollups"
  q -d upgraded -c "SELECT count(*) FROM telemetry.materialize_rollups()" >/dev/null

  if ! diff -u <(q -d fresh -f "$here/describe.sql") <(q -d upgraded -f "$here/describe.sql"); then
    die "upgrade" "a database updated from $from differs from a fresh install (diff above: - fresh, + updated)"
  fi
  kept=$(q -d upgraded -c "SELECT (SELECT count(*) FROM telemetry.readings WHERE value = 250) || '/' ||
                                  (SELECT count(*) FROM telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
                                    WHERE reason = 'no_route' AND topic = 'no/route' AND payload = '\x01') || '/' ||
                                  (SELECT alias FROM telemetry.sparkplug_metrics) || '/' ||
                                  ($in_rollups)")
  [ "$kept" = "1/1/9223372036854775808/1" ] \
    || die "upgrade" "rows stored under $from: expected 1 reading (in the rollups too, once materialized), 1 dead letter and alias 2^63, found $kept"
  # The event id seen a minute before the update is still recognised after it, in a reading
  # stamped otherwise; the one of two days ago had expired and is new.
  resent=$(q -d upgraded -c "SELECT string_agg(readings || '+' || duplicates, ' ' ORDER BY e) FROM unnest(ARRAY['expired-event', 'recent-event']) AS e,
                               telemetry.ingest('telemetry/upgrade-site/pump-1/pressure',
                                                convert_to(format('{\"event_id\": \"%s\", \"value\": 251, \"ts\": \"%s\"}', e, now() - interval '1 hour' * (1 + (e = 'expired-event')::int)), 'UTF8'))")
  [ "$resent" = "1+0 0+1" ] \
    || die "upgrade" "event ids recorded under $from: expected the expired one new (1+0) and the recent one a duplicate (0+1), found $resent"
  # Ingest works on the updated database, broker metadata included, and as the writer.
  q -d upgraded -c "SET ROLE telemetry_writer" \
    -c "INSERT INTO telemetry.inbox (topic, payload, packet_id, redelivered) VALUES ('no/route', '\x00', 7, true)"
  [ "$(q -d upgraded -c "SELECT count(*) FROM telemetry.dead_letter_messages WHERE packet_id = 7 AND redelivered")" = 1 ] \
    || die "upgrade" "the inbox updated from $from did not keep the broker metadata"
  say "$from -> $(q -d upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'telemetry'"): same objects as a fresh install, rows kept"
done
