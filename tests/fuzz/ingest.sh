#!/usr/bin/env bash
# Random and mutated MQTT messages through telemetry.ingest with the server up, every one
# accounted for: each stored a reading, was a duplicate, or left a dead letter (a Sparkplug
# birth or death may only manage its session). Then the same messages again in staged
# batches of 1,000, which must each commit. Run by scripts/fuzz.sh, not by CI.
# Usage: tests/fuzz/ingest.sh [COUNT] [SEED]   (defaults: 100000 messages, seed 1)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
usage_if_help "$@"
count=${1:-100000}
seed=${2:-1}
work=$(mktemp -d /tmp/telemetry-fuzz.XXXXXX)
chmod 755 "$work"
port=${FUZZ_PORT:-55441}
trap 'stop_cluster "$work/pg"; rm -rf "$work"' EXIT
start_cluster "$work/pg" "$port"
q() { PGOPTIONS='-c client_min_messages=warning' psql -X -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
q -d postgres -c "CREATE DATABASE fuzz"
q -d fuzz -c "CREATE EXTENSION telemetry CASCADE" -c "CREATE TABLE messages (n int PRIMARY KEY, topic text, payload bytea)"

step "Generating $count messages (seed $seed)"
python3 "$ROOT/tests/fuzz/messages.py" --count "$count" --seed "$seed" > "$work/messages.tsv"
q -d fuzz -c "\\copy messages FROM '$work/messages.tsv'"

step "One message at a time through telemetry.ingest()"
started=$(date +%s)
q -d fuzz <<'SQL'
DO $$
DECLARE m record; r record; lost int := 0; done int := 0;
BEGIN
  FOR m IN SELECT * FROM messages ORDER BY n LOOP
    SELECT * INTO r FROM telemetry.ingest(m.topic, m.payload, '2025-06-01 12:00:05+00');
    IF r.messages <> 1 THEN
      RAISE EXCEPTION 'message % counted as % messages', m.n, r.messages;
    END IF;
    IF r.readings + r.duplicates + r.conflicting_duplicates + r.dead_letters = 0
       AND m.topic !~ '^spBv1\.0/[^/]+/[ND](BIRTH|DEATH)/' THEN
      lost := lost + 1;
      RAISE WARNING 'message % (%) left no trace', m.n, m.topic;
    END IF;
    done := done + 1;
    IF done % 20000 = 0 THEN RAISE NOTICE '% messages', done; END IF;
  END LOOP;
  IF lost > 0 THEN RAISE EXCEPTION '% messages left no trace', lost; END IF;
END $$;
SQL
say "$count messages in $(( $(date +%s) - started )) s, each accounted for"

step "The same messages in staged batches of 1,000"
batches=$(( (count + 999) / 1000 ))
for b in $(seq 0 $(( batches - 1 ))); do
  q -d fuzz -c "BEGIN" -c "SELECT telemetry.prepare_staging()" \
    -c "INSERT INTO pg_temp.telemetry_staging (received_at, topic, payload)
        SELECT '2025-06-01 12:00:06+00', topic, payload FROM messages WHERE n > $b * 1000 AND n <= ($b + 1) * 1000 ORDER BY n" \
    -c "SELECT messages FROM telemetry.ingest_staged()" -c "COMMIT" >/dev/null \
    || die "fuzz" "staged batch $b failed"
done
summary=$(q -d fuzz -c "SELECT sum(messages) || ' messages, ' || sum(readings) || ' readings, ' || sum(duplicates) || ' duplicates, '
                               || sum(dead_letters) || ' dead letters' FROM telemetry.ingest_batches")
total=$(q -d fuzz -c "SELECT sum(messages) FROM telemetry.ingest_batches")
[ "$total" = $(( count * 2 )) ] || die "fuzz" "batches counted $total messages, expected $(( count * 2 ))"
q -d fuzz -c "SELECT 1" >/dev/null || die "fuzz" "the server is not answering"
say "server up; $summary"
q -d fuzz -c "SELECT reason, count(*) FROM telemetry.dead_letters GROUP BY 1 ORDER BY 2 DESC" | sed 's/^/      /'
