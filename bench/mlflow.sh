#!/usr/bin/env bash
# The MLflow-client benchmark (issue 16): the same client calls (bench/mlflow_client.py)
# against `gyre server` and, when the full `mlflow` package is installed, against
# `mlflow server` with its SQLite backend, on the same machine in the same run.
#
#   bench/mlflow.sh [RUNS]        (default 1,000 runs; PYTHON names a Python with mlflow)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
python="${PYTHON:-/var/tmp/gyre-mlflow-venv/bin/python}"
runs="${1:-1000}"
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
dir="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$gyre" init -q "$dir/g" > /dev/null
cd "$dir/g"
token=$("$gyre" tokens create --role editor --name bench 2>/dev/null)
"$gyre" server --port 0 > server.out 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do grep -q "on http" server.out 2>/dev/null && break; sleep 0.1; done
base=$(sed 's/.* on //' server.out | head -1)
echo "== gyre server ($base)"
MLFLOW_TRACKING_TOKEN="$token" "$python" "$here/bench/mlflow_client.py" "$base" "$runs"
# The server needs the full package (`pip install mlflow`): MLFLOW_PYTHON names its Python.
server_python="${MLFLOW_PYTHON:-$python}"
mlflow_bin="$(dirname "$server_python")/mlflow"
if "$server_python" -c "import mlflow.server, flask" 2>/dev/null && [ -x "$mlflow_bin" ]; then
  mkdir -p "$dir/m" && cd "$dir/m"
  "$mlflow_bin" server --backend-store-uri "sqlite:///$dir/m/mlflow.db" --port 5055 > mlflow.out 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf localhost:5055/health > /dev/null && break; sleep 0.3; done
  echo "== mlflow server (sqlite)"
  "$server_python" "$here/bench/mlflow_client.py" http://127.0.0.1:5055 "$runs"
else
  echo "(the full mlflow package with its server is not installed here: gyre alone is reported)"
fi
