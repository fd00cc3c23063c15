#!/usr/bin/env bash
# The loop against never retraining, a fixed schedule and the online learners (issue 14):
# `gyre backtest` on Elec2 (demo protocol) and on four generated streams with known drift
# (bench/streams.py), for a batch and an online [model]. Prints one line per stream and
# model: mean metric per window of each strategy, retrains, the time taken, and how many
# replayed rows after each known change the loop's first breach or change came.
# ALGORITHMS="logistic_regression adaptive_random_forest" by default; MONITOR and LOOP replace
# the rule and the [loop] lines of the generated gyre.toml, and MODEL adds [model] lines
# (`threshold = "f1"`, `refit = true`, `recency = { half_life = 2000 }`), to compare policies.
# STREAMS="sea prior" runs only those.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo build --release -q -p gyre-cli --manifest-path "$root/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 "$root/bench/streams.py" "$work/streams" "${ROWS:-45000}" >/dev/null
cp "$root/../shared/data/elec2/elec2_first_half.csv" "$work/streams/elec2.csv"

# name | target | positive | drop | options | changes (data rows)
streams=(
  "elec2|class|UP|date|--train-rows 2016 --label-delay 48 --row-time 30m --schedule-every 2016|"
  "sea|label|yes||--train-rows 2000 --label-delay 100 --schedule-every 2000|11250 22500 33750"
  "hyperplane|label|1||--train-rows 2000 --label-delay 100 --schedule-every 2000|"
  "agrawal|group|A|ts|--train-rows 2000 --time ts --label-delay 100m --schedule-every 2000|11250 22500 33750"
  "prior|subscribed|yes||--train-rows 2000 --label-delay 100 --schedule-every 2000|"
)
monitor_rule="${MONITOR-}"
[ -n "$monitor_rule" ] || monitor_rule='relative = { f1 = 0.9 }'
loop_lines="${LOOP-}"
model_lines="${MODEL-}"
for algorithm in ${ALGORITHMS:-logistic_regression adaptive_random_forest}; do
  for s in "${streams[@]}"; do
    IFS='|' read -r name target positive drop options changes <<<"$s"
    if [ -n "${STREAMS-}" ] && [[ " $STREAMS " != *" $name "* ]]; then continue; fi
    dir="$work/$name-$algorithm"
    mkdir -p "$dir"
    (cd "$dir" && "$gyre" init . --name "$name" >/dev/null && "$gyre" data add "$name" "$work/streams/$name.csv" >/dev/null)
    drop_line=""
    [ -n "$drop" ] && drop_line="drop = [\"$drop\"]"
    cat > "$dir/gyre.toml" <<TOML
[project]
name = "$name"

[model]
dataset = "$name"
task = "binary"
target = "$target"
$drop_line
algorithm = "$algorithm"
split = { by = "order", test = 0.2 }
$model_lines

[serve]
canary = { share = 0.5 }

[monitor]
window = { labels = 500 }
positive = "$positive"
$monitor_rule

[loop]
$loop_lines

[steps.retrain]
uses = "train"

[[trigger]]
name = "retrain"
on = "monitor"
run = "retrain"
TOML
    # shellcheck disable=SC2086
    (cd "$dir" && "$gyre" backtest "$name" $options --svg "$work/$name-$algorithm.svg" --json) > "$dir/report.json"
    python3 - "$dir/report.json" "$name" "$algorithm" "$changes" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
name, algorithm, changes = sys.argv[2], sys.argv[3], sys.argv[4].split()
cells = " ".join(f"{s['name'].split(' ')[0][:8]}={s['mean']:.3f}/{s['retrains']}" for s in r["strategies"])
delays = []
for c in changes:
    at = int(c) - r["train_rows"]
    first = next((m["row"] for m in r["marks"] if m["kind"] in ("breach", "change") and m["row"] > at), None)
    delays.append("-" if first is None else str(first - at))
print(f"{name:<10} {algorithm:<24} {r['seconds']:5.1f}s  {cells}  delays: {','.join(delays) or 'n/a'}")
PY
  done
done
echo "(mean ${METRIC:-f1} per window / retrains; delays: replayed rows from each known change to the loop's first breach or change)"
