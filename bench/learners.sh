#!/usr/bin/env bash
# Learner benchmark (issue 4): fit time and batch prediction throughput, gyre next to
# scikit-learn on the same data, split and preprocessing. Needs python3 with pandas and
# scikit-learn for the second table (skipped without them).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
echo "== gyre"
cargo run --release -q -p gyre-learn --example learners --manifest-path "$here/Cargo.toml"
echo
echo "== scikit-learn"
if python3 -c "import sklearn, pandas" 2>/dev/null; then
    python3 "$here/bench/sklearn_learners.py"
else
    echo "(python3 with pandas and scikit-learn not found; skipped)"
fi
