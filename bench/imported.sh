#!/usr/bin/env bash
# Models trained elsewhere, served (issue 17): single-row JSON predictions of an ONNX logistic
# regression and of an XGBoost model of 100 trees, each next to gyre's own model of the same
# kind (logistic_regression; gradient_boosting with 100 iterations) on breast_cancer, in the
# same run, alternating for ROUNDS rounds (default 3; the median round's ratio is the figure);
# then each imported model's p99 at half its measured load. Target: ratio >= 0.5, p99 < 2 ms.
# Needs a Python with xgboost and onnxruntime (PYTHON, default the venv .ci/run makes).
set -euo pipefail
source "$(dirname "$0")/bc-server.sh"
py="${PYTHON:-/var/tmp/gyre-mlflow-venv/bin/python}"
export GYRE_ONNXRUNTIME="$("$py" -c "import onnxruntime, glob, os; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so*')))[0])")"
fixtures="$here/crates/gyre-learn/tests/fixtures/onnx"

# ONNX: the scaled logistic regression of the fixtures (30 float inputs, one matrix).
"$py" - "$data/breast_cancer/breast_cancer.csv" > sig.toml <<'PY'
import csv, sys
cols = [c for c in next(csv.reader(open(sys.argv[1]))) if c not in ("target", "target_name")]
print("inputs = [" + ", ".join(f'"{c}"' for c in cols) + "]")
print('target = "target"\nclasses = ["0", "1"]')
PY
"$gyre" models register onnx_lr "$fixtures/breast_cancer_lr.onnx" --signature sig.toml >/dev/null
# XGBoost: 100 trees of depth 6, trained here.
"$py" - "$data/breast_cancer/breast_cancer.csv" <<'PY'
import sys, pandas as pd, xgboost as xgb
df = pd.read_csv(sys.argv[1])
x = df.drop(columns=["target", "target_name"])
xgb.XGBClassifier(n_estimators=100, max_depth=6, random_state=0).fit(x, df["target"]).save_model("xgb.json")
PY
"$gyre" models register xgb xgb.json --dataset bc --target target >/dev/null
# gyre's own boosted trees, 100 iterations (no early stopping on 569 rows).
run=$("$gyre" train --json --set 'model.algorithm="gradient_boosting"' --set 'model.params={iterations=100}' \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])')
"$gyre" models register gbt "$run" >/dev/null
for m in onnx_lr xgb gbt; do "$gyre" models alias "$m@1" champion --force --reason benchmark >/dev/null; done

servers=()
start() {  # start NAME: serves NAME@champion, prints its base URL
    "$gyre" serve "$1" --port 0 > "serve-$1.out" 2>/dev/null &
    servers+=($!)
    for _ in $(seq 100); do grep -q "on http" "serve-$1.out" 2>/dev/null && break; sleep 0.1; done
    sed 's/.* on //' "serve-$1.out" | head -1
}
trap 'kill ${servers[*]:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
declare -A base
for m in bc onnx_lr gbt xgb; do base[$m]=$(start "$m"); done
conns="${CONNS:-8}"
secs="${SECS:-10}"
rate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["summary"]["requestsPerSec"]))'; }
p99() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["latencyPercentiles"]["p99"]*1000, 3))'; }
ok() { python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["successRate"])'; }
load() {  # load NAME [extra oha args]: one measurement, JSON on stdout
    local m=$1; shift
    "$oha" -z "${secs}s" -c "$conns" "$@" --no-tui --output-format json -m POST \
        -H 'content-type: application/json' -D body.json "${base[$m]}/invocations"
}
echo "warm-up ..."
for m in bc onnx_lr gbt xgb; do SECS=2 secs=2 load "$m" >/dev/null; done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rounds="${ROUNDS:-3}"
for pair in "onnx_lr bc" "xgb gbt"; do
    set -- $pair
    imported=$1 own=$2
    ratios=() rates=()
    for round in $(seq "$rounds"); do
        load "$own" > own.txt
        load "$imported" > imp.txt
        a=$(rate < imp.txt) b=$(rate < own.txt)
        echo "round $round: $imported $a req/s (success $(ok < imp.txt)), $own $b req/s (success $(ok < own.txt))"
        rates+=("$a")
        ratios+=("$(python3 -c "print(f'{$a / $b:.3f}')")")
    done
    r=$(median "${rates[@]}")
    half=$(python3 -c "print(int(float('$r') / 2))")
    # p99 at half the imported model's rate, as oha measures by default and corrected for
    # coordinated omission, with gyre's own model at the same rate for the machine's share.
    load "$imported" -q "$half" > half.txt
    load "$imported" -q "$half" --latency-correction > halfc.txt
    load "$own" -q "$half" --latency-correction > ownc.txt
    echo "== $imported vs $own: ratio by round ${ratios[*]}; median $(median "${ratios[@]}") (target >= 0.5)"
    echo "   p99 at half load ($half req/s): $(p99 < half.txt) ms (target < 2); corrected $(p99 < halfc.txt) ms ($own at that rate, corrected: $(p99 < ownc.txt) ms)"
done
