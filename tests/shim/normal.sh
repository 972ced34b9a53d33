#!/usr/bin/env bash
# Normal flow, MQTT 5 then MQTT 3.1.1: the load generator publishes single readings, JSON
# arrays and multi-metric objects from several producers while the shim runs with two writers.
# Asserts: every published reading stored exactly once (distinct keys = published, values
# 0..n-1 in every series), /readyz turns 200 once subscribed, the shim's counters match what was
# committed (nothing, and no bytes, left in hand, no ack deferred), source_to_commit_seconds observes every batch that stored readings (under 10 s
# here, as the load generator's source time is when it publishes) and puts a reading an hour
# old in the bucket that holds an hour, and SIGTERM ends the shim with status 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup normal

for protocol in v5 v3; do
  start_shim --mqtt-protocol "$protocol" --client-id "shim-$protocol" --writers 2
  single=$(loadgen --site "single-$protocol" --producers 4 --messages 2500 --rate 5000)
  array=$(loadgen --site "array-$protocol" --producers 2 --messages 200 --shape array --per-message 10 --rate 4000)
  multi=$(loadgen --site "multi-$protocol" --producers 3 --messages 300 --shape multi --per-message 4 --rate 3600)
  wait_stored "single-$protocol" "$(published "$single")"
  wait_stored "array-$protocol" "$(published "$array")"
  wait_stored "multi-$protocol" "$(published "$multi")"
  check_exactly_once "single-$protocol" "$(published "$single")" 4
  check_exactly_once "array-$protocol" "$(published "$array")" 2
  check_exactly_once "multi-$protocol" "$(published "$multi")" 12
  messages=$((10000 + 400 + 900))
  readings=$((10000 + 4000 + 3600))
  sleep 0.5
  [ "$(metric messages_received_total)" = "$messages" ] && [ "$(metric messages_committed_total)" = "$messages" ] \
    && [ "$(metric readings_committed_total)" = "$readings" ] && [ "$(metric messages_in_hand)" = 0 ] \
    && [ "$(metric bytes_in_hand)" = 0 ] && [ "$(metric acks_deferred_total)" = 0 ] \
    || die "metrics" "$protocol: received $(metric messages_received_total), committed $(metric messages_committed_total) messages and $(metric readings_committed_total) readings; expected $messages and $readings"
  say "$protocol: metrics count $messages messages and $readings readings, none in hand"
  batches=$(metric source_to_commit_seconds_count)
  [ "$batches" -gt 0 ] && [ "$batches" = "$(metric batch_messages_count)" ] \
    && [ "$(metric 'source_to_commit_seconds_bucket{le="10.24"}')" = "$batches" ] \
    || die "metrics" "$protocol: source_to_commit_seconds has $batches observations, $(metric 'source_to_commit_seconds_bucket{le="10.24"}') under 10.24 s, for $(metric batch_messages_count) batches"
  hour_ago=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
  mosquitto_pub -p "$MQ_PORT" -q 1 -t "telemetry/late-$protocol/p0/energy" \
    -m "{\"event_id\":\"late\",\"timestamp\":\"$hour_ago\",\"value\":1,\"unit\":\"kWh\",\"quality_flag\":\"GOOD\"}"
  wait_metric source_to_commit_seconds_count $((batches + 1)) 10
  [ "$(metric 'source_to_commit_seconds_bucket{le="2621.44"}')" = "$batches" ] \
    && [ "$(metric 'source_to_commit_seconds_bucket{le="5242.88"}')" = $((batches + 1)) ] \
    || die "metrics" "$protocol: a reading an hour old is not in the (2621.44, 5242.88] s bucket"
  say "$protocol: source_to_commit_seconds observed $batches batches under 10 s and the hour-old reading in its bucket"
  stop_shim
done
say "normal flow: every reading stored exactly once over MQTT 5 and 3.1.1"
