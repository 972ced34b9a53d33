#!/usr/bin/env bash
# Fuzzing, run by hand (not by CI): a million mutated inputs each through the JSON and
# Sparkplug B decoders, the route matcher and the name, unit, quality and time parsers
# (extension/core/src/fuzz.rs, release build), then 100,000 random and mutated messages through
# telemetry.ingest with the server up, each accounted for (tests/fuzz/ingest.sh).
# Usage: scripts/fuzz.sh [ITERATIONS] [MESSAGES]   (defaults: 1000000 and 100000)
#        FUZZ_SEED=N picks another sequence of inputs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_if_help "$@"
"$ROOT/scripts/setup.sh"
iterations=${1:-1000000}
messages=${2:-100000}

step "Decoders and parsers: $iterations inputs per target"
( cd "$ROOT" && FUZZ_ITERATIONS=$iterations cargo test -p telemetry-core --lib --release fuzz:: -- --nocapture --test-threads 2 ) \
  || die "fuzz" "a target panicked or broke an invariant (its FUZZ_SEED and input are above)"

step "Installing the extension"
install_extension
"$ROOT/tests/fuzz/ingest.sh" "$messages"
