#!/usr/bin/env bash
# Mosquitto stopped (SIGTERM, so it saves its persistence file) mid-stream and started again on
# the same port and directory 2 s later. Publishers and the shim reconnect to their persistent
# sessions. Asserts, for MQTT 5 and 3.1.1: every published reading stored exactly once, and
# the shim reconnected.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup mq-restart

# MQTT 5 sends acks through rumqttc's request channel, MQTT 3.1.1 writes them on the connection
# itself (ingest-shim/README.md, "Acknowledgements in arrival order"): both across a restart.
for protocol in v5 v3; do
  site=mqr-$protocol
  start_shim --writers 2 --mqtt-protocol "$protocol" --client-id "shim-mqr-$protocol"
  loadgen_start --site "$site" --producers 4 --messages 6000 --rate 4000
  sleep 1.5
  stop_mosquitto
  say "$protocol: Mosquitto stopped with $(stored_rows "$site") readings stored"
  sleep 2
  start_mosquitto
  loadgen_wait
  summary=$(cat "$WORK/loadgen.out")
  wait_stored "$site" "$(published "$summary")"
  check_exactly_once "$site" "$(published "$summary")" 4
  reconnects=$(metric mqtt_reconnects_total)
  [ "$reconnects" -ge 1 ] || die "mosquitto restart" "$protocol: the shim did not reconnect"
  say "$protocol: shim reconnections: $reconnects"
  stop_shim
done
