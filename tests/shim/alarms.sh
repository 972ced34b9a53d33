#!/usr/bin/env bash
# Alarms delivered over MQTT exactly once. Two rules: discharge_pressure above 1000 kPa is
# critical (high_high), motor_current above 50 A is low (high). A persistent mosquitto_sub
# session (QoS 2, so that the broker's leg is exactly once too) receives alarms/#. The shim logs
# in as a role that is a member of telemetry_writer and telemetry_publisher only.
# Asserts: (1) a shim whose login lacks telemetry_publisher logs an error naming the role and
# keeps ingesting; (2) a critical reading published over MQTT gives an event and a message on
# alarms/<site>/critical with its event_id, and the event the first shim could not publish
# goes out at start; (3) with the shim killed (SIGKILL) three times while readings that raise
# and clear alarms stream in, and alarms raised in SQL while it is down, every event arrives;
# (4) with Mosquitto stopped, 200 low and then 5 critical alarms raised in SQL, and Mosquitto
# started again, every one arrives, the critical ones first. After each step the outbox is
# empty, every event id of telemetry.alarm_events was received and no other one, and none was
# received twice (QoS 2 with the packet id the outbox gives each event: a kill between the
# broker's PUBREC and the PUBCOMP repeats nothing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup alarms

psql_t >/dev/null <<'SQL'
CREATE ROLE alarm_shim LOGIN IN ROLE telemetry_writer, telemetry_publisher;
CREATE ROLE writer_only LOGIN IN ROLE telemetry_writer;
SELECT telemetry.add_alarm_rule('discharge high-high', 'high_high', 'critical', limit_value => 1000,
  metric => 'discharge_pressure', suppression_window => '0 s');
SELECT telemetry.add_alarm_rule('motor current high', 'high', 'low', limit_value => 50,
  metric => 'motor_current', suppression_window => '0 s');
SQL
printf '[mqtt]\nreconnect_max_secs = 1\n' > "$WORK/shim.toml"
received=$WORK/received.txt
touch "$received"

# The receiver, a persistent session so that it misses nothing while the broker is down.
mosquitto_sub -p "$MQ_PORT" -q 2 -c -i alarm-receiver -v -t 'alarms/#' >>"$received" 2>>"$WORK/sub.err" &
EXTRA_PID=$!
for i in $(seq 50); do
  mosquitto_pub -p "$MQ_PORT" -q 1 -t alarms/probe -m probe
  grep -q '^alarms/probe probe' "$received" && break
  [ "$i" -lt 50 ] || die "subscriber" "mosquitto_sub receives nothing"
  sleep 0.2
done

T=$(date +%s)
# reading SITE ASSET METRIC VALUE: published with QoS 1, each with a source time of its own.
reading() {
  T=$((T + 1))
  mosquitto_pub -p "$MQ_PORT" -q 1 -i alarm-publisher -t "telemetry/$1/$2/$3" -m "{\"value\": $4, \"ts\": $T}"
}
# raise_in_sql N SITE METRIC VALUE: N series of SITE each raise an alarm, through telemetry.ingest().
raise_in_sql() {
  psql_t -c "SELECT count(*) FROM generate_series(1, $1) i, telemetry.ingest(
    format('telemetry/$2/asset-%s/$3', i), convert_to(format('{\"value\": $4, \"ts\": %s}', $T + i), 'UTF8'))" >/dev/null
}
events() { psql_t -c "SELECT event_id FROM telemetry.alarm_events ORDER BY 1"; }
outbox() { psql_t -c "SELECT count(*) FROM telemetry.alarm_outbox"; }
# received_ids [FROM_LINE]: the event ids of the messages received, in order.
received_ids() { tail -n +"${1:-1}" "$received" | grep '^alarms/[^ ]* {' | cut -d' ' -f2- | jq -r .event_id; }

# check_delivered STEP: waits for an empty outbox and every event received, then asserts that
# no event is missing and no message names an event the table does not have. Sets REPEATS.
check_delivered() {
  local step=$1 want have missing extra i
  for i in $(seq 150); do
    want=$(events | wc -l)
    have=$(received_ids | sort -u | wc -l)
    [ "$(outbox)" = 0 ] && [ "$have" -ge "$want" ] && break
    sleep 0.2
  done
  sleep 1 # for messages still on their way (repeats)
  missing=$(comm -23 <(events | sort) <(received_ids | sort -u) | wc -l)
  extra=$(comm -13 <(events | sort) <(received_ids | sort -u) | wc -l)
  REPEATS=$(( $(received_ids | wc -l) - $(received_ids | sort -u | wc -l) ))
  say "$step: $(events | wc -l) events, $(received_ids | wc -l) messages, outbox $(outbox), missing $missing, unknown $extra, repeats so far $REPEATS"
  [ "$(outbox)" = 0 ] || die "$step" "the outbox still holds $(outbox) events"
  [ "$missing" = 0 ] || die "$step" "$missing events were never received: $(comm -23 <(events | sort) <(received_ids | sort -u) | head -5 | xargs)"
  [ "$extra" = 0 ] || die "$step" "$extra messages name events that are not in telemetry.alarm_events"
}

# (1) Without telemetry_publisher: an error that names the role, and ingest goes on.
SHIM_PG_USER=writer_only start_shim --config "$WORK/shim.toml" --client-id writer-only
reading alarm-early pump-1 discharge_pressure 1200
for i in $(seq 50); do
  grep -q 'GRANT telemetry_publisher TO writer_only' "$WORK/shim.log" && [ "$(stored_rows alarm-early)" = 1 ] && break
  [ "$i" -lt 50 ] || die "role" "no error naming telemetry_publisher, or the reading was not stored"
  sleep 0.2
done
say "without telemetry_publisher: $(grep -m 1 -o 'the PostgreSQL login writer_only may not[^;]*' "$WORK/shim.log"); the reading was stored"
stop_shim

# (2) A critical reading over MQTT: its event, its message; the earlier event goes out at start.
SHIM_PG_USER=alarm_shim start_shim --config "$WORK/shim.toml"
sent=$(date +%s%N)
reading alarm-a pump-1 discharge_pressure 1200
for i in $(seq 100); do
  id=$(psql_t -c "SELECT e.event_id FROM telemetry.alarm_events e JOIN telemetry.series s USING (series_id)
                  WHERE s.site_id = 'alarm-a'")
  [ -n "$id" ] && grep -q "^alarms/alarm-a/critical {.*\"event_id\":$id[,}]" "$received" && break
  [ "$i" -lt 100 ] || die "critical" "no message on alarms/alarm-a/critical for event ${id:-(none)}"
  sleep 0.05
done
say "event $id on alarms/alarm-a/critical, $(( ($(date +%s%N) - sent) / 1000000 )) ms after the reading was published"
grep "^alarms/alarm-a/critical " "$received" | cut -d' ' -f2- | jq -e '.kind == "raise" and .severity == "critical"
  and .site_id == "alarm-a" and .asset_id == "pump-1" and .metric == "discharge_pressure" and .value == 1200' >/dev/null \
  || die "critical" "the message does not describe the alarm: $(grep "^alarms/alarm-a/critical " "$received")"
grep -q '^alarms/alarm-early/critical ' "$received" || die "start" "the event of the first shim was not published at start"
check_delivered "critical reading"
[ "$REPEATS" = 0 ] || die "critical reading" "$REPEATS repeats without a crash"

# (3) SIGKILL while alarms stream in and are pending.
for asset in 1 2 3 4; do
  for n in $(seq 100); do
    printf '{"value": %s, "ts": %s}\n' $(( n % 2 ? 1200 : 500 )) $((T + n))
    sleep 0.03
  done | mosquitto_pub -p "$MQ_PORT" -q 1 -i "alarm-stream-$asset" -l -t "telemetry/alarm-k/pump-$asset/discharge_pressure" &
  streams+=("$!")
done
for k in 1 2 3; do
  sleep "0.$((3 + RANDOM % 7))"
  kill_shim
  say "SIGKILL $k with $(outbox) events in the outbox, $(received_ids | wc -l) messages received"
  [ "$k" = 1 ] && raise_in_sql 20 alarm-down discharge_pressure 1200
  sleep "0.$((RANDOM % 5))"
  SHIM_PG_USER=alarm_shim start_shim --config "$WORK/shim.toml"
done
wait "${streams[@]}"
check_delivered "SIGKILL"
[ "$REPEATS" = 0 ] || die "SIGKILL" "$REPEATS events were received twice"

# (4) The broker down while alarms are raised: 200 low ones, then 5 critical ones.
from=$(( $(wc -l < "$received") + 1 ))
stop_mosquitto
raise_in_sql 200 alarm-b motor_current 80
raise_in_sql 5 alarm-c discharge_pressure 1200
say "Mosquitto stopped; $(outbox) events in the outbox"
[ "$(outbox)" = 205 ] || die "broker restart" "expected 205 pending events, found $(outbox)"
sleep 2
start_mosquitto
check_delivered "broker restart"
phase=$(received_ids "$from" | wc -l)
first=$(tail -n +"$from" "$received" | grep '^alarms/[^ ]* {' | sed -n 1,5p | cut -d' ' -f1 | sort -u | xargs)
say "after the restart: $phase messages for 205 events, the first five on $first"
[ "$phase" = 205 ] && [ "$REPEATS" = 0 ] || die "broker restart" "$phase messages for 205 events, $REPEATS received twice"
[ "$first" = "alarms/alarm-c/critical" ] || die "critical first" "the first five messages were on $first"
[ "$(metric alarms_in_flight)" = 0 ] || die "metrics" "alarms_in_flight is $(metric alarms_in_flight)"
say "metrics: published $(metric alarms_published_total), confirmed $(metric alarms_confirmed_total), in flight $(metric alarms_in_flight)"
stop_shim
grep -q 'alarm publisher stopped' "$WORK/shim.log" || die "stop" "the alarm publisher did not log its stop"
