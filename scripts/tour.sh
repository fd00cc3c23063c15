#!/usr/bin/env bash
# The main job until the closed loop exists: build gyre, create a project, version and
# profile two of the shared datasets, then train, score, reproduce and tune a model. Usage: scripts/tour.sh [PROJECT_DIR]
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
printf '\nThe project is in %s\n' "$dir"
