#!/usr/bin/env bash
# MQTT 5 session expiry across a shim restart, as ingest-shim/README.md documents it:
#  - above 0 (the default, a week): the broker keeps the session while the shim is down and
#    queues what is published meanwhile; all of it is stored once the shim is back.
#  - 0: the broker ends the session when the shim disconnects, so what is published while it is
#    down is dropped; the shim warns at start, finds no session when it comes back, subscribes
#    again and counts that; what is published after that is stored.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup session-expiry

# restart_across NAME CONFIG-TOML: shim up, 2,000 readings (site NAME-a), shim stopped, 2,000
# readings published while it is down (NAME-b), shim up again, 2,000 more (NAME-c). Sets DOWN
# to the readings of NAME-b stored and LOST_SESSIONS to the shim's count after the restart.
restart_across() {
  local name=$1 up
  printf '%s\n' "$2" > "$WORK/$name.toml"
  start_shim --config "$WORK/$name.toml" --client-id "shim-$name"
  loadgen --site "$name-a" --producers 2 --messages 1000 --rate 4000 >/dev/null
  wait_stored "$name-a" 2000
  stop_shim
  loadgen --site "$name-b" --producers 2 --messages 1000 --rate 4000 >/dev/null
  start_shim --config "$WORK/$name.toml" --client-id "shim-$name"
  LOST_SESSIONS=$(metric mqtt_sessions_lost_total)
  loadgen --site "$name-c" --producers 2 --messages 1000 --rate 4000 >/dev/null
  wait_stored "$name-c" 2000 20
  # What the broker kept for the shim came before the NAME-c readings.
  DOWN=$(stored_rows "$name-b")
  up=$(stored_rows "$name-c")
  say "$name: published while the shim was down 2000, stored $DOWN; after its restart 2000, stored $up; sessions it found lost on restart: $LOST_SESSIONS"
  [ "$up" = 2000 ] || die "session expiry" "$name: $up of the 2000 readings published after the restart were stored"
  stop_shim
}

restart_across kept $'[mqtt]\nsession_expiry_secs = 3600'
[ "$DOWN" = 2000 ] && [ "$LOST_SESSIONS" = 0 ] \
  || die "session expiry" "with a session expiry of 3600 s, $DOWN of 2000 readings published while the shim was down were stored, $LOST_SESSIONS sessions lost"

restart_across ended $'[mqtt]\nsession_expiry_secs = 0'
[ "$DOWN" = 0 ] && [ "$LOST_SESSIONS" = 1 ] \
  || die "session expiry" "with a session expiry of 0, $DOWN readings published while the shim was down were stored (0 expected: the broker ended the session), $LOST_SESSIONS sessions lost (1 expected)"
grep -q "mqtt.session_expiry_secs = 0: the broker ends the session" "$WORK/shim.log" \
  || die "session expiry" "the shim did not warn about session_expiry_secs = 0"
