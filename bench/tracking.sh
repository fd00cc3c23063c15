#!/usr/bin/env bash
# Tracking benchmark (issue 4): metric ingest into SQLite, and listing/filtering 100,000 runs.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo run --release -q -p gyre-store --example tracking --manifest-path "$here/Cargo.toml"
