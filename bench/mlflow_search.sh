#!/usr/bin/env bash
# search_runs through the MLflow API over 100,000 runs (issue 16): the example stores the
# runs, serves them with `serve_tracking`, and times each search from the client on loopback.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo run --release -q -p gyre-serve --example mlflow_search --manifest-path "$here/Cargo.toml"
