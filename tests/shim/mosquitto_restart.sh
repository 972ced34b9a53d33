#!/usr/bin/env bash
# Mosquitto stopped (SIGTERM, so it saves its persistence file) mid-stream and started again on
# the same port and directory 2 s later. Publishers and the shim reconnect to their persistent
# sessions. Asserts: every published reading stored exactly once, and the shim reconnected.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup mq-restart

start_shim --writers 2
loadgen_start --site mqr --producers 4 --messages 6000 --rate 4000
sleep 1.5
stop_mosquitto
say "Mosquitto stopped with $(stored_rows mqr) readings stored"
sleep 2
start_mosquitto
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored mqr "$(published "$summary")"
check_exactly_once mqr "$(published "$summary")" 4
reconnects=$(metric mqtt_reconnects_total)
[ "$reconnects" -ge 1 ] || die "mosquitto restart" "the shim did not reconnect"
say "shim reconnections: $reconnects"
stop_shim
