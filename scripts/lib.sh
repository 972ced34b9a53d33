# Shared helpers for the scripts: logging, and PostgreSQL clusters run as the postgres user.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin

step() { printf '\n==> %s\n' "$*"; }
say()  { printf '    %s\n' "$*"; }
die()  { printf 'ERROR [%s]: %s\n' "$1" "$2" >&2; exit 1; }

# --help / -h: print the comment block at the top of the calling script, then exit.
usage_if_help() {
  case "${1:-}" in
    -h|--help)
      sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
      exit 0 ;;
  esac
}

# Servers run without RUST_BACKTRACE: with it, every error raised through Rust carries a
# backtrace in its DETAIL, which users do not need and which differs from build to build.
as_postgres() { runuser -u postgres -- env -u RUST_BACKTRACE "$@"; }

# start_cluster DATADIR PORT: initdb if needed, then start with TimescaleDB preloaded.
start_cluster() {
  local datadir=$1 port=$2
  mkdir -p "$datadir"
  chown postgres:postgres "$datadir"
  chmod 700 "$datadir"
  if [ ! -f "$datadir/PG_VERSION" ]; then
    as_postgres "$PGBIN/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
      || die "cluster" "initdb $datadir failed"
    cat >> "$datadir/postgresql.conf" <<CONF
shared_preload_libraries = 'timescaledb'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '/tmp'
max_locks_per_transaction = 256
CONF
  fi
  if ! as_postgres "$PGBIN/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
    as_postgres "$PGBIN/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w start >/dev/null \
      || die "cluster" "could not start PostgreSQL in $datadir (see $datadir/server.log)"
  fi
}

stop_cluster() {
  as_postgres "$PGBIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}

# Install the extension into the system PostgreSQL 15 (release build).
install_extension() {
  local log
  log=$(mktemp)
  if ! ( cd "$ROOT/extension" && cargo pgrx install --release --pg-config "$PGBIN/pg_config" ) >"$log" 2>&1; then
    cat "$log" >&2
    die "install" "cargo pgrx install failed"
  fi
  rm -f "$log"
}

# Node.js packages of the tests (tests/shim/sparkplug/package.json), installed by setup.sh.
TEST_NODE_DIR=/usr/local/lib/telemetry-tests
# Python packages of the tests (tests/shim/python/requirements.txt), in a venv set up by setup.sh.
TEST_VENV=$TEST_NODE_DIR/venv

PGXS_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
TEST_PORT=${TEST_PORT:-55439}
