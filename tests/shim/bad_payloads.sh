#!/usr/bin/env bash
# Malformed and oversized payloads mixed into a stream of good readings. Asserts: every good
# reading stored exactly once; each malformed message is one dead letter whose message
# (telemetry.dead_letter_messages) carries its MQTT packet id; each oversized one
# (2,000,000 bytes: above telemetry.max_payload_bytes, below the broker's max_packet_size) is a
# payload_too_large dead letter with its size, sent by the shim cut to its first KiB; the shim's
# dead_letters_total{reason} counters match telemetry.dead_letters reason by reason; nothing
# was retried.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup bad

start_shim --writers 2
loadgen_start --site bad --producers 2 --messages 3000 --rate 2000
head -c 2000000 /dev/urandom > "$WORK/big"
head -c 300 /dev/urandom > "$WORK/binary"
pub() { mosquitto_pub -p "$MQ_PORT" -q 1 -i "bad-publisher" "$@"; }
for i in $(seq 10); do
  pub -t telemetry/bad/junk/energy -m "not json $i"
  pub -t telemetry/bad/junk/energy -f "$WORK/binary"
  [ "$i" -gt 5 ] || pub -t telemetry/bad/big/energy -f "$WORK/big"
done
loadgen_wait
summary=$(cat "$WORK/loadgen.out")
wait_stored bad "$(published "$summary")"
check_exactly_once bad "$(published "$summary")" 2
sleep 1
read -r junk junk_meta big big_sized < <(psql_t -c "
  SELECT count(*) FILTER (WHERE topic = 'telemetry/bad/junk/energy'),
         count(*) FILTER (WHERE topic = 'telemetry/bad/junk/energy' AND packet_id > 0 AND NOT retained),
         count(*) FILTER (WHERE topic = 'telemetry/bad/big/energy' AND reason = 'payload_too_large'),
         count(*) FILTER (WHERE topic = 'telemetry/bad/big/energy' AND payload_bytes = 2000000
                            AND length(payload) <= 1024)
    FROM telemetry.dead_letters JOIN telemetry.dead_letter_messages USING (message_id)")
say "dead letters: $(psql_t -c "SELECT string_agg(reason || ' ' || n, ', ') FROM (SELECT reason, count(*) n FROM telemetry.dead_letters GROUP BY 1 ORDER BY 1) d")"
[ "$junk" = 20 ] && [ "$junk_meta" = 20 ] && [ "$big" = 5 ] && [ "$big_sized" = 5 ] \
  || die "dead letters" "expected 20 malformed with their packet ids and 5 payload_too_large of 2000000 bytes, cut; got $junk, $junk_meta, $big, $big_sized"
[ "$(metric payloads_cut_total)" = 5 ] || die "metrics" "payloads_cut_total is $(metric payloads_cut_total), expected 5"
by_reason_metrics=$(curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" \
  | sed -n 's/^ingest_shim_dead_letters_total{reason="\([^"]*\)"} \([0-9]*\)$/\1 \2/p' | LC_ALL=C sort)
by_reason_table=$(psql_t -c "SELECT reason, count(*) FROM telemetry.dead_letters GROUP BY 1" | LC_ALL=C sort)
[ "$by_reason_metrics" = "$by_reason_table" ] && [ "$(awk '{n += $2} END {print n}' <<<"$by_reason_metrics")" = 25 ] \
  || die "metrics" "dead_letters_total by reason: $(tr '\n' ',' <<<"$by_reason_metrics"); telemetry.dead_letters: $(tr '\n' ',' <<<"$by_reason_table"); expected 25 in all"
say "dead_letters_total by reason matches the table"
[ "$(metric batch_failures_total)" = 0 ] || die "retries" "bad payloads made batches fail"
stop_shim
