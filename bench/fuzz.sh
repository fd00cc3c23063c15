#!/usr/bin/env bash
# Fuzzes the model decoder and the payload readers (issue 15).
#
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`), runs the libFuzzer
# targets in fuzz/ for SECONDS each (default 300). Without them (this machine has stable
# Rust only), runs the seeded property tests with ITERATIONS mutations per model and body
# (default 50,000): the same readers, a blinder search.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${SECONDS_EACH:-300}"
ITERATIONS="${ITERATIONS:-50000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"

if cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --help >/dev/null 2>&1; then
  for target in model_decoder payload; do
    echo "== cargo fuzz: $target, ${SECONDS_EACH} s"
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$SECONDS_EACH")
  done
else
  echo "no nightly toolchain with cargo-fuzz: running the property tests, $ITERATIONS mutations each"
  start=$(date +%s)
  GYRE_FUZZ_ITERATIONS="$ITERATIONS" cargo test --release -p gyre-learn --test model crafted_bodies_never_panic
  GYRE_FUZZ_ITERATIONS="$ITERATIONS" cargo test --release -p gyre-serve --test payload_props
  echo "done in $(( $(date +%s) - start )) s"
fi
