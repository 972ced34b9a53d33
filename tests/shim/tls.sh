#!/usr/bin/env bash
# TLS everywhere, configured by a TOML file: the shim reaches Mosquitto only on a TLS listener
# that requires a client certificate (mutual TLS) and a password (read from a file), and
# PostgreSQL with sslmode=require, verifying both servers against a test CA. Asserts: a wrong
# password keeps the shim from becoming ready; with the right one, every published reading is
# stored exactly once, every writer connection uses TLS, and the password is in no log line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
setup tls

# A CA, a server certificate for localhost (broker and database), a client certificate.
pki=$WORK/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test CA" \
  -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
issue() {
  local name=$1 subject=$2 ext=$3
  openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -out "$pki/$name.pem" -extfile <(printf '%s\n' "$ext") 2>/dev/null
}
issue server "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1"
issue client "/CN=ingest-shim" "extendedKeyUsage=clientAuth"
chmod 644 "$pki"/*.pem "$pki"/*.key

# Mosquitto: a second listener, TLS with required client certificates, and a password file.
TLS_PORT=$(free_port)
printf 'secret-%s\n' "$RANDOM$RANDOM" > "$WORK/mqtt.password"
mosquitto_passwd -b -c "$WORK/mosquitto.passwd" shim "$(cat "$WORK/mqtt.password")"
chown mosquitto "$WORK/mosquitto.passwd"
stop_mosquitto
MQ_CONF_EXTRA="listener $TLS_PORT 127.0.0.1
cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
password_file $WORK/mosquitto.passwd"
start_mosquitto
wait_port "$TLS_PORT"

# PostgreSQL: TLS on, with the same server certificate.
install -o postgres -m 600 "$pki/server.key" "$WORK/pg/server.key"
install -o postgres -m 644 "$pki/server.pem" "$WORK/pg/server.crt"
printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >> "$WORK/pg/postgresql.conf"
pg_ctl_as fast restart

cat > "$WORK/shim.toml" <<TOML
[mqtt]
host = "localhost"
port = $TLS_PORT
username = "shim"
password_file = "$WORK/mqtt.password"
[mqtt.tls]
ca_file = "$pki/ca.pem"
cert_file = "$pki/client.pem"
key_file = "$pki/client.key"
[postgres]
url = "host=localhost port=$PG_PORT user=postgres dbname=$DB sslmode=require"
writers = 2
[postgres.tls]
ca_file = "$pki/ca.pem"
[dead_letter]
file = "$WORK/dead-letters.jsonl"
TOML
"$BIN/ingest-shim" --config "$WORK/shim.toml" --check-config >/dev/null || die "tls" "--check-config rejected the file"

# A wrong password: the broker refuses the connection and the shim never becomes ready.
INGEST_SHIM_MQTT_PASSWORD=wrong "$BIN/ingest-shim" --config "$WORK/shim.toml" --mqtt-port "$TLS_PORT" \
  --http-listen "127.0.0.1:$HTTP_PORT" >>"$WORK/shim.log" 2>&1 &
SHIM_PID=$!
wait_port "$HTTP_PORT"
sleep 2
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz")" = 503 ] \
  || die "tls" "ready with a wrong MQTT password"
grep -qF 'return code: `NotAuthorized`' "$WORK/shim.log" || die "tls" "no refusal for the password in the log"
kill_shim
say "a wrong MQTT password: not ready"

"$BIN/ingest-shim" --config "$WORK/shim.toml" --http-listen "127.0.0.1:$HTTP_PORT" >>"$WORK/shim.log" 2>&1 &
SHIM_PID=$!
wait_port "$HTTP_PORT"
wait_ready
loadgen --site tls --producers 2 --messages 1000 --rate 2000 > "$WORK/loadgen.out"
summary=$(cat "$WORK/loadgen.out")
wait_stored tls "$(published "$summary")"
check_exactly_once tls "$(published "$summary")" 2
encrypted=$(psql_t -c "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
                        WHERE application_name = 'ingest-shim' AND ssl")
[ "$encrypted" = 2 ] || die "tls" "$encrypted of 2 writer connections use TLS"
say "MQTT over mutual TLS with a password, both writer connections to PostgreSQL over TLS"
stop_shim
! grep -qF "$(cat "$WORK/mqtt.password")" "$WORK/shim.log" || die "secrets" "the MQTT password appears in the log"
