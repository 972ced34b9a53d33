#!/usr/bin/env bash
# Idempotent machine set-up for a fresh Debian 12 host, run as root.
# Every README command calls this first; each step checks before it acts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"

PGRX_VERSION=$(sed -n 's/^pgrx = { version = "=\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml")
TIMESCALEDB_VERSION=2.19.3
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 libclang-dev clang cmake
              mosquitto mosquitto-clients sudo dpkg-dev build-essential pkg-config libssl-dev
              curl iproute2 openssl)

[ "$(id -u)" = 0 ] || die "setup" "run as root (it installs Debian packages)"
[ -n "$PGRX_VERSION" ] || die "setup" "cannot read the pinned pgrx version from Cargo.toml"
[ -f "$HOME/.cargo/env" ] && source "$HOME/.cargo/env"
command -v cargo >/dev/null \
  || die "setup" "no Rust toolchain: install Rust 1.95 with rustup (pgrx $PGRX_VERSION needs it; Debian's rustc is too old)"

step "Debian packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  apt-get update -qq || die "Debian packages" "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "Debian packages" "apt-get install ${missing[*]} failed"
else
  say "all present"
fi
# The Debian service would hold port 5432 and is not ours to use: tests start their own clusters.
systemctl disable --now postgresql mosquitto >/dev/null 2>&1 || true

step "TimescaleDB $TIMESCALEDB_VERSION for PostgreSQL 15"
if [ -f "/usr/lib/postgresql/15/lib/timescaledb-$TIMESCALEDB_VERSION.so" ]; then
  say "already installed"
else
  # Debian 12 has no TimescaleDB; trixie's source package builds cleanly against PG 15.
  # A deb-src entry lets apt verify the source against Debian's archive keys.
  src_list=/etc/apt/sources.list.d/telemetry-trixie-src.sources
  if [ ! -f "$src_list" ]; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$src_list"
  fi
  apt-get update -qq || die "TimescaleDB" "apt-get update (trixie sources) failed"
  build=$(mktemp -d)
  ( cd "$build" && apt-get source -qq timescaledb >/dev/null 2>&1 ) || die "TimescaleDB" "apt-get source timescaledb failed"
  srcdir=$(find "$build" -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)
  [ -n "$srcdir" ] || die "TimescaleDB" "source tree not found in $build"
  grep -q "version = $TIMESCALEDB_VERSION" "$srcdir/version.config" \
    || die "TimescaleDB" "trixie ships $(grep '^version' "$srcdir/version.config"), expected $TIMESCALEDB_VERSION"
  ( cd "$srcdir" \
    && ./bootstrap -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DUSE_TELEMETRY=OFF >"$build/bootstrap.log" 2>&1 \
    && make -C build -j"$(nproc)" >"$build/make.log" 2>&1 \
    && make -C build install >"$build/install.log" 2>&1 ) \
    || die "TimescaleDB" "build failed; logs in $build"
  rm -rf "$build"
  say "installed"
fi

step "cargo-pgrx $PGRX_VERSION"
if cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
  say "already installed"
else
  cargo install --locked --force cargo-pgrx --version "=$PGRX_VERSION" \
    || die "cargo-pgrx" "cargo install cargo-pgrx $PGRX_VERSION failed"
fi

step "Test publishers: Eclipse Tahu's Sparkplug B encoder and edge node client (npm sparkplug-payload, sparkplug-client)"
# tests/shim/poison.sh encodes Sparkplug B payloads, and tests/shim/edge_node.sh runs an edge
# node, with libraries nobody here wrote. A changed package-lock.json installs again.
spb=$ROOT/tests/shim/sparkplug
if cmp -s "$spb/package-lock.json" "$TEST_NODE_DIR/package-lock.json" \
    && [ -f "$TEST_NODE_DIR/node_modules/sparkplug-payload/package.json" ] \
    && [ -f "$TEST_NODE_DIR/node_modules/sparkplug-client/package.json" ]; then
  say "already installed in $TEST_NODE_DIR"
else
  if ! command -v npm >/dev/null; then
    apt-get update -qq || die "Node.js" "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null \
      || die "Node.js" "apt-get install nodejs npm failed"
  fi
  mkdir -p "$TEST_NODE_DIR"
  cp "$spb/package.json" "$spb/package-lock.json" "$TEST_NODE_DIR/"
  ( cd "$TEST_NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null ) \
    || die "test publishers" "npm ci in $TEST_NODE_DIR failed"
  say "installed in $TEST_NODE_DIR"
fi

step "Test publishers: Python venv with paho-mqtt and pvlib's TMY3 data"
# tests/shim/weather.sh publishes a real weather data set (shipped in pvlib) with a standard
# MQTT client. Debian's own Python, in a venv: Debian 12 refuses pip installs into the system.
req=$ROOT/tests/shim/python/requirements.txt
if cmp -s "$req" "$TEST_VENV/requirements.txt" && "$TEST_VENV/bin/python" -c "import paho.mqtt.client
from importlib.metadata import distribution as d
assert d('pvlib').locate_file('pvlib/data/723170TYA.CSV').is_file()" 2>/dev/null; then
  say "already installed in $TEST_VENV"
else
  if ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'install ok installed'; then
    apt-get update -qq || die "Python venv" "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
      || die "Python venv" "apt-get install python3-venv failed"
  fi
  rm -rf "$TEST_VENV"
  /usr/bin/python3 -m venv "$TEST_VENV" || die "Python venv" "python3 -m venv $TEST_VENV failed"
  # --no-deps: pvlib is there for its data file only (see the requirements file).
  "$TEST_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$req" \
    || die "Python venv" "pip install -r $req failed"
  cp "$req" "$TEST_VENV/requirements.txt"
  say "installed in $TEST_VENV"
fi

step "pgrx init (system PostgreSQL 15)"
if grep -qs "pg15 = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  say "already initialised"
else
  cargo pgrx init --pg15 "$PG_CONFIG" || die "pgrx init" "cargo pgrx init failed"
fi
say "set-up complete"
