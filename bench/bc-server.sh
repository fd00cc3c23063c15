# Shared by bench/serve.sh and bench/monitor.sh (sourced, not run): installs oha when it is
# missing, builds gyre in release, and makes a project in a temporary folder with the
# breast_cancer logistic regression registered as bc@1 (champion), plus body.json, a
# single-row `dataframe_records` request. Sets: here, gyre, oha, data, dir; leaves the shell
# in the project folder and removes the folder on exit (killing $server if set).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
oha="$(command -v oha || echo /var/tmp/oha/bin/oha)"
if [ ! -x "$oha" ]; then
    echo "installing oha (once) into /var/tmp/oha ..."
    CARGO_TARGET_DIR=/var/tmp/oha-target cargo install oha --locked --root /var/tmp/oha -q
fi
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="${GYRE_BIN:-$CARGO_TARGET_DIR/release/gyre}"
data="$(cd "$here/../shared/data" && pwd)"
dir="$(mktemp -d)"
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
"$gyre" init -q "$dir/p" >/dev/null
cd "$dir/p"
cat >> gyre.toml <<'TOML'

[model]
dataset = "bc"
task = "binary"
target = "target"
drop = ["target_name"]
algorithm = "logistic_regression"
split = { by = "rule", every = 5, index = 4 }
TOML
"$gyre" data add bc "$data/breast_cancer/breast_cancer.csv" -q >/dev/null
run=$("$gyre" train --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])')
"$gyre" models register bc "$run" >/dev/null
"$gyre" models alias bc@1 champion --force --reason benchmark >/dev/null
python3 - "$data/breast_cancer/breast_cancer.csv" > body.json <<'PY'
import csv, json, sys
r = next(csv.DictReader(open(sys.argv[1])))
r.pop("target"); r.pop("target_name")
print(json.dumps({"dataframe_records": [{k: float(v) for k, v in r.items()}]}))
PY
