#!/usr/bin/env bash
# The main job until the closed loop exists: build gyre, create a project, version and
# profile two of the shared datasets, train, score, reproduce and tune a model, then register
# it, pass the gate, and serve it over REST. Usage: scripts/tour.sh [PROJECT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="$(cd "$here/../shared/data" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
dir="${1:-$(mktemp -d)/tour}"

run() { printf '\n$ gyre %s\n' "$*"; "$gyre" "$@"; }

run init "$dir"
cd "$dir"
cp "$data/adult/adult.data" data/raw/adult.data
cp "$data/elec2/elec2_first_half.csv" data/raw/elec2.csv
# How adult.data is read lives in gyre.toml, so `gyre data add adult` is the same every time.
cat >> gyre.toml <<'TOML'

[datasets.adult]
path = "data/raw/adult.data"
header = false
columns = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
           "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
           "hours-per-week", "native-country", "income"]
null_values = ["?"]
skip_initial_space = true

[datasets.elec2]
path = "data/raw/elec2.csv"
TOML
run data add adult
run data add elec2
run data add elec2                       # identical content: no new version
run data show elec2 --column class
head -n 11521 "$data/elec2/elec2_first_half.csv" > data/raw/elec2.csv   # the first 240 days
run data status || true                  # exits 1: elec2 changed
run data add elec2
run data log elec2
run data diff elec2@1 elec2@2
run data drift elec2@1 elec2@2 || true   # exits 1 when the dataset drifts
run data schema adult                    # schemas/adult.toml, yours to edit
run data validate adult
run data checkout elec2@1                # the exact bytes of version 1 are back
run data status || true                  # the folder now holds @1, not the latest (@2)
run data verify
run data list
# A model from a spec, with no code: gradient boosting on Adult, sliced by sex and age.
cat >> gyre.toml <<'TOML'

[model]
dataset = "adult"
task = "binary"
target = "income"
drop = ["fnlwgt"]
algorithm = "gradient_boosting"
split = { by = "rule", every = 5, index = 4 }
seed = 42
slices = { women = "sex = 'Female'", men = "sex = 'Male'", over_50 = "age > 50" }

[model.tune]
method = "random"
trials = 6
metric = "roc_auc"
params = { learning_rate = { min = 0.03, max = 0.3, log = true }, max_leaves = [15, 31, 63] }
TOML
run train
run_id="$("$gyre" runs list --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' 2>/dev/null || true)"
if [ -n "$run_id" ]; then
    run predict "$run_id" --input adult --output predictions.csv
    head -n 3 predictions.csv
    run reproduce "$run_id"                 # the same bytes, from the recorded inputs
fi
run train --set model.algorithm='"random_forest"' --set model.params.trees=100
run tune
run runs list --limit 5
# The registry, the gate and serving: the first model becomes champion, then answers REST.
cat >> gyre.toml <<'TOML'

[gate]
min = { accuracy = 0.85, roc_auc = 0.9 }
slices = { women = { accuracy = 0.9 } }
max_p99_ms = 5.0
TOML
if [ -n "$run_id" ]; then
    run models register income "$run_id"
    run models validate income@1
    run models alias income@1 champion --reason "passed the gate"
    run models show income@champion
    "$gyre" serve income --port 0 > serve.out 2>&1 &
    server=$!
    for _ in $(seq 50); do grep -q "on http" serve.out && break; sleep 0.1; done
    base=$(sed -n 's/.* on //p' serve.out | head -1)
    printf '\n$ curl %s/invocations -d {"dataframe_records": [...]}\n' "$base"
    curl -s "$base/invocations" -H 'content-type: application/json' -d '{"dataframe_records": [
      {"age": 39, "workclass": "State-gov", "education": "Bachelors", "education-num": 13,
       "marital-status": "Never-married", "occupation": "Adm-clerical", "relationship": "Not-in-family",
       "race": "White", "sex": "Male", "capital-gain": 2174, "capital-loss": 0, "hours-per-week": 40,
       "native-country": "United-States"}]}'
    echo
    kill -INT "$server"; wait "$server" || true
fi
printf '\nThe project is in %s\n' "$dir"
