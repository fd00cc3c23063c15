#!/usr/bin/env bash
# Drift benchmark (issue 3): 1,000,000 rows × 25 columns (20 numeric, 5 categorical) against a
# reference of the same size, as Parquet and as CSV. Prints the figures in bench/README.md.
#
#   bench/drift.sh [WORK_DIR]      (default /var/tmp/gyre-bench; needs numpy and pyarrow)
#
# When Evidently is importable, it is timed on the same data (DataDriftPreset).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/var/tmp/gyre-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
mkdir -p "$work/drift"
cd "$work/drift"
if [ ! -f cur.parquet ]; then
  python3 - <<'PY'
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, pyarrow.csv as pc
rng = np.random.default_rng(7)
n = 1_000_000
def table(shift):
    cols = {}
    for i in range(20):
        # Five numeric columns move in the current data.
        loc = i + (0.3 if shift and i < 5 else 0.0)
        cols[f"num{i:02d}"] = rng.normal(loc, 1.0 + i / 10, n).round(6)
    cats = [f"c{k}" for k in range(10)]
    for j in range(5):
        p = np.linspace(1, 2, 10) if shift and j < 2 else np.ones(10)
        cols[f"cat{j}"] = rng.choice(cats, n, p=p / p.sum())
    return pa.table(cols)
for name, shift in [("ref", False), ("cur", True)]:
    t = table(shift)
    pq.write_table(t, f"{name}.parquet", compression="snappy")
    pc.write_csv(t, f"{name}.csv")
PY
fi
ls -la ref.parquet ref.csv | awk '{print $5, $9}'
cat ref.* cur.* > /dev/null
rm -rf "$work/p" && "$gyre" init -q "$work/p" > /dev/null
for fmt in parquet csv; do
  echo "== gyre data drift, $fmt"
  for i in 1 2 3; do
    /usr/bin/time -f "%e s wall, %M KiB max RSS" "$gyre" -C "$work/p" data drift "ref.$fmt" "cur.$fmt" --json -q > out.json 2> time.txt || true
    python3 -c "import json; r=json.load(open('out.json')); print('run $i:', open('time.txt').read().strip().splitlines()[-1], '|', r['drifted'], 'of', r['judged'], 'columns drifted')"
  done
done
# From the reference's stored profile only (what a server checks live traffic against): the
# verdicts should be the full data's.
"$gyre" -C "$work/p" data add ref "$work/drift/ref.parquet" -q > /dev/null
echo "== gyre data drift --from-profile, parquet"
/usr/bin/time -f "%e s wall, %M KiB max RSS" "$gyre" -C "$work/p" data drift ref "$work/drift/cur.parquet" --from-profile --json -q > out.json 2> time.txt || true
python3 -c "import json; r=json.load(open('out.json')); print(open('time.txt').read().strip().splitlines()[-1], '|', r['drifted'], 'of', r['judged'], 'columns drifted:', ' '.join(c['name'] for c in r['columns'] if c.get('drifted')))"
if python3 -c "import evidently" 2>/dev/null; then
  echo "== Evidently DataDriftPreset (DataFrames already in memory)"
  python3 - <<'PY'
import time, pandas as pd
from evidently.report import Report
from evidently.metric_preset import DataDriftPreset
ref, cur = pd.read_parquet("ref.parquet"), pd.read_parquet("cur.parquet")
t = time.time(); r = Report(metrics=[DataDriftPreset()]); r.run(reference_data=ref, current_data=cur)
print(f"{time.time() - t:.1f} s")
PY
else
  echo "(Evidently is not installed here; gyre alone is reported)"
fi
