#!/usr/bin/env bash
# A Sparkplug B edge node on Eclipse Tahu's sparkplug-client (tests/shim/sparkplug/edge_node.js):
# NBIRTH, then a DBIRTH for each of two devices declaring Inverter/ActivePower (engUnit kW) and
# Weather/AirTemperature (engUnit degC) with aliases and their current values, then DDATA that
# carry aliases only, to a shim with two writers; each birth is followed at once by a few DDATA,
# as a live node's next scan would, which a device's births and data on different writers would
# not find the aliases for. Then the alias state is lost (the rows of
# telemetry.sparkplug_metrics that carry an alias deleted) and more DDATA arrive: they become unknown_alias dead
# letters, the shim asks the node for a rebirth (NCMD Node Control/Rebirth = true), the node
# publishes its births again with the same aliases, later DDATA are stored, and
# telemetry.replay_dead_letters(reason => 'unknown_alias') recovers the refused readings.
# Asserts: the first births and DDATA stored without a dead letter, one series per device and
# metric; the DDATA published after the loss are unknown_alias dead letters (their payloads
# name no metric) and nothing else; the node got at least one rebirth request and the aliases
# are back; the DDATA after the rebirth stored; replay recovers every refused reading (stored
# or a duplicate of one a rebirth carried) with no dead letter; in the end every reading the
# node published (births included) is in telemetry.readings exactly once, with its value.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
[ -f "$TEST_NODE_DIR/node_modules/sparkplug-client/package.json" ] \
  || die "edge node" "Eclipse Tahu's sparkplug-client is missing: run scripts/setup.sh"
setup edge_node
started=$(date +%s)
site=edge-plant node=edge-1 devices=inv-1,inv-2
ndevices=2 nmetrics=2
p1=100 p2=50 p3=100 after_birth=5

start_shim --writers 2 --client-id edge-shim
mkfifo "$WORK/node.in"
NODE_PATH=$TEST_NODE_DIR/node_modules node "$ROOT/tests/shim/sparkplug/edge_node.js" \
  "$MQ_PORT" "$site" "$node" "$devices" "$WORK/readings.tsv" "$after_birth" <"$WORK/node.in" >"$WORK/node.log" 2>&1 &
EXTRA_PID=$!
exec 3>"$WORK/node.in"

node_cmd() {
  kill -0 "$EXTRA_PID" 2>/dev/null || die "edge node" "it exited: $(tail -n 3 "$WORK/node.log")"
  echo "$1" >&3
}
# wait_log PATTERN COUNT SECONDS: until the node's log has COUNT lines matching PATTERN.
wait_log() {
  local i
  for i in $(seq $(($3 * 5))); do
    [ "$(grep -c -- "$1" "$WORK/node.log")" -ge "$2" ] && return 0
    sleep 0.2
  done
  return 1
}
q() { psql_t -v site="$site" -v node="$node" "$@"; }
# Dead letters of the node's births and data (commands the shim sends are not readings).
dead_sql="telemetry.dead_letters d JOIN telemetry.dead_letter_messages m USING (message_id)
  WHERE m.topic ~ ('^spBv1\\.0/' || :'site' || '/(NBIRTH|DBIRTH|NDATA|DDATA)/')"
dead_reasons() {
  q <<<"SELECT coalesce(string_agg(format('%s %s (%s)', reason, n, detail), '; ' ORDER BY reason), 'none')
          FROM (SELECT reason, count(*) AS n, min(detail) AS detail FROM $dead_sql GROUP BY reason) r"
}
# wait_accounted SECONDS: until the site's stored readings and dead letters add up to the
# distinct readings the node has published and the shim holds nothing (the checks that follow
# say what is wrong otherwise).
wait_accounted() {
  local i n published
  published=$(cut -f 3,4,6 "$WORK/readings.tsv" | sort -u | wc -l)
  for i in $(seq $(($1 * 5))); do
    n=$(q <<<"SELECT (SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
                       WHERE s.site_id = :'site') + (SELECT count(*) FROM $dead_sql)")
    [ "$n" -ge "$published" ] && [ "$(metric messages_in_hand)" = 0 ] && return 0
    sleep 0.2
  done
}
q <<'SQL'
CREATE TABLE public.published (kind text, cause text, device text, metric text, alias numeric,
                               time_ms bigint, value float8);
SQL
# check_stored LABEL FILTER: the site's readings are exactly the distinct readings of the
# node's log that FILTER (SQL over public.published) selects: each once, with its value, in one
# series per device and metric, of the edge node as asset and as sensor the device followed by
# the folders of the metric's name (Inverter/ActivePower of device inv-1: sensor inv-1/Inverter).
check_stored() {
  local published stored once mixed split
  q -c "TRUNCATE public.published" -c "\\copy public.published FROM '$WORK/readings.tsv'"
  read -r published stored once mixed split < <(q -v filter="$2" <<'SQL'
CREATE OR REPLACE VIEW public.matched AS
  WITH pub AS (SELECT DISTINCT device, metric, 'epoch'::timestamptz + time_ms * interval '1 ms' AS time, value
                 FROM public.published WHERE :filter)
  SELECT pub.*, st.series_id FROM pub LEFT JOIN (
      SELECT s.series_id, s.asset_id, s.sensor_id, r.time, r.value FROM telemetry.readings r
        JOIN telemetry.series s USING (series_id) WHERE s.site_id = :'site') st
    ON st.asset_id = :'node' AND st.time = pub.time
   AND st.sensor_id = pg_catalog.concat_ws('/', nullif(pub.device, ''),
                                           nullif(pg_catalog.regexp_replace(pub.metric, '/[^/]*$', ''), pub.metric))
   AND abs(st.value - pub.value) <= 1e-9 * greatest(1, abs(pub.value));
SELECT (SELECT count(*) FROM (SELECT DISTINCT device, metric, time, value FROM public.matched) p),
       (SELECT count(*) FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
         WHERE s.site_id = :'site'),
       (SELECT count(*) FROM (SELECT 1 FROM public.matched WHERE series_id IS NOT NULL
                               GROUP BY device, metric, time HAVING count(*) = 1) x),
       (SELECT count(*) FROM (SELECT 1 FROM public.matched WHERE series_id IS NOT NULL
                               GROUP BY series_id HAVING count(DISTINCT (device, metric)) > 1) x),
       (SELECT count(*) FROM (SELECT 1 FROM public.matched WHERE series_id IS NOT NULL
                               GROUP BY device, metric HAVING count(DISTINCT series_id) > 1) x);
SQL
  )
  say "$1: published $published distinct readings, stored $stored, each once with its value $once, series mixing metrics $mixed, metrics split over series $split"
  [ "$published" = "$stored" ] && [ "$once" = "$published" ] && [ "$mixed" = 0 ] && [ "$split" = 0 ] && return 0
  say "the readings that were stored landed in these series:"
  series_map
  die "$1" "the stored readings differ from the published ones; dead letters of births and data: $(dead_reasons)"
}
series_map() {
  q <<'SQL' | sed 's/^/      /'
SELECT format('%s %s -> series %s (%s / %s / %s, metric %s in %s): %s readings', m.device, m.metric,
              s.series_id, s.site_id, s.asset_id, s.sensor_id, s.metric, mr.unit, count(*))
  FROM public.matched m JOIN telemetry.series s USING (series_id)
  JOIN telemetry.metric_rules mr ON mr.metric = s.metric
 GROUP BY m.device, m.metric, s.series_id, mr.unit ORDER BY m.device, m.metric;
SQL
}

# 1. Births, then DDATA by alias, all stored.
wait_log '^birth 1 ' 1 10 || die "edge node" "no birth within 10 s: $(tail -n 3 "$WORK/node.log")"
node_cmd "data $p1"
wait_log '^data 1:' 1 10 || die "edge node" "data 1 not published: $(tail -n 3 "$WORK/node.log")"
wait_accounted 60
check_stored "births and $((after_birth + p1)) samples" "true"
say "the first births and DDATA landed in these series:"
series_map
[ "$(q <<<"SELECT count(*) FROM $dead_sql")" = 0 ] || die "births and data" "dead letters: $(dead_reasons)"

# 2. The alias state lost: the DDATA that follow cannot be read, and the shim asks for a rebirth.
aliases=$((ndevices * nmetrics))
deleted=$(q <<<"WITH d AS (DELETE FROM telemetry.sparkplug_metrics WHERE group_id = :'site' AND alias IS NOT NULL RETURNING 1)
                SELECT count(*) FROM d")
[ "$deleted" = $aliases ] || die "aliases" "deleted $deleted aliased rows of telemetry.sparkplug_metrics, expected $aliases (one per device and metric)"
say "alias state lost: deleted $deleted aliased rows of telemetry.sparkplug_metrics"
node_cmd "data $p2"
refused=$((ndevices * nmetrics * p2))
wait_log '^data 2:' 1 10 || die "edge node" "data 2 not published: $(tail -n 3 "$WORK/node.log")"
wait_accounted 60
read -r unknown messages named others < <(q <<SQL
SELECT (SELECT count(*) FROM $dead_sql AND d.reason = 'unknown_alias'),
       (SELECT count(DISTINCT message_id) FROM $dead_sql AND d.reason = 'unknown_alias' AND m.topic LIKE '%/DDATA/%'),
       (SELECT count(DISTINCT message_id) FROM $dead_sql AND d.reason = 'unknown_alias'
           AND (position(convert_to('Inverter/', 'UTF8') IN m.payload) > 0
                OR position(convert_to('Weather/', 'UTF8') IN m.payload) > 0)),
       (SELECT count(*) FROM $dead_sql AND d.reason <> 'unknown_alias');
SQL
)
say "after the loss: $((ndevices * p2)) DDATA published; unknown_alias dead letters $unknown in $messages DDATA messages, of which name a metric $named; other dead letters $others"
[ "$unknown" = "$refused" ] && [ "$messages" = $((ndevices * p2)) ] && [ "$named" = 0 ] && [ "$others" = 0 ] \
  || die "unknown alias" "expected $refused unknown_alias dead letters in $((ndevices * p2)) DDATA messages that name no metric, and no other; dead letters: $(dead_reasons)"
rebirth_metrics() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | grep -i rebirth | grep -v '^#' | tr '\n' ' ' || echo "none"
}
wait_log '^rebirth ' 1 30 \
  || die "rebirth" "no NCMD Node Control/Rebirth reached the node within 30 s of $unknown unknown_alias dead letters; the shim's rebirth metrics: $(rebirth_metrics)"
say "the node: $(grep -m 1 '^rebirth ' "$WORK/node.log")"
for i in $(seq 150); do
  [ "$(q <<<"SELECT count(*) FROM telemetry.sparkplug_metrics WHERE group_id = :'site' AND alias IS NOT NULL")" = $aliases ] && break
  sleep 0.2
done
[ "$(q <<<"SELECT count(*) FROM telemetry.sparkplug_metrics WHERE group_id = :'site' AND alias IS NOT NULL")" = $aliases ] \
  || die "rebirth" "the aliases are not back in telemetry.sparkplug_metrics 30 s after the rebirth"
say "the rebirth declared the $aliases aliases again; shim: $(rebirth_metrics)"

# 3. DDATA after the rebirth are stored; only the readings of the DDATA published while the
# aliases were lost are missing (a rebirth carries the last of them again, by name).
node_cmd "data $p3"
wait_log '^data 3:' 1 10 || die "edge node" "data 3 not published: $(tail -n 3 "$WORK/node.log")"
wait_accounted 60
check_stored "after the rebirth, before replay" "cause <> 'data 2'"

# 4. Replay recovers the refused readings.
replay=$(q -c "SELECT messages, readings, duplicates, dead_letters
                 FROM telemetry.replay_dead_letters(reason => 'unknown_alias')" 2>"$WORK/replay.err") \
  || die "replay" "telemetry.replay_dead_letters(reason => 'unknown_alias') failed: $(head -c 300 "$WORK/replay.err")"
read -r r_messages r_readings r_duplicates r_dead <<<"$replay"
say "replay of unknown_alias: messages $r_messages, readings $r_readings, duplicates $r_duplicates, dead letters $r_dead"
[ $((r_readings + r_duplicates)) = "$refused" ] && [ "$r_dead" = 0 ] \
  || die "replay" "expected the $refused refused readings back (stored, or duplicates of those a rebirth carried) and no dead letter"
check_stored "after replay" "true"
series_map
rebirths=$(grep -c '^rebirth ' "$WORK/node.log")
[ "$rebirths" -ge 1 ] || die "rebirth" "the node saw no rebirth request"
node_cmd quit
wait "$EXTRA_PID" || die "edge node" "exit status $? after quit: $(tail -n 3 "$WORK/node.log")"
EXTRA_PID=""
say "the node: $(tail -n 1 "$WORK/node.log"); dead letters left of births and data: $(dead_reasons)"
stop_shim
say "edge node: every reading stored exactly once across a lost alias state, $rebirths rebirth(s) and a replay, in $(($(date +%s) - started)) s"
