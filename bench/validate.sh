#!/usr/bin/env bash
# Validation throughput (issue 3): a 1 GiB adult-shaped CSV checked against the schema
# inferred from adult.data. Prints the figures recorded in bench/README.md.
#
#   bench/validate.sh [WORK_DIR]      (default /var/tmp/gyre-bench)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="$(cd "$here/../shared/data" && pwd)"
work="${1:-/var/tmp/gyre-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
mkdir -p "$work"
cd "$work"
if [ ! -f adult_1g.data ] || [ "$(stat -c %s adult_1g.data)" -lt $((1024 * 1024 * 1024)) ]; then
  python3 - "$data/adult/adult.data" <<'PY'
import sys
body = "".join(l for l in open(sys.argv[1]).read().splitlines(keepends=True) if l.strip())
with open("adult_1g.data", "w") as out:
    size = 0
    while size < 1024 ** 3:
        out.write(body)
        size += len(body)
PY
fi
cols="age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income"
rm -rf v && "$gyre" init -q v > /dev/null
"$gyre" -C v data add adult "$data/adult/adult.data" --no-header --columns "$cols" --null '?' --skip-initial-space -q > /dev/null
"$gyre" -C v data schema adult > /dev/null
cat adult_1g.data > /dev/null
echo "== validating $(du -h adult_1g.data | cut -f1) of adult-shaped CSV against schemas/adult.toml"
for i in 1 2 3; do
  start=$(date +%s.%N)
  /usr/bin/time -f "%M KiB max RSS" "$gyre" -C v data validate "$work/adult_1g.data" --schema v/schemas/adult.toml -q > out.txt 2> time.txt || true
  end=$(date +%s.%N)
  python3 -c "import os; s=$end-$start; b=os.path.getsize('adult_1g.data'); print(f'run $i: {s:.2f} s, {b/1e6/s:.0f} MB/s; ' + open('time.txt').read().strip().splitlines()[-1]); print('   ', open('out.txt').read().strip().splitlines()[-1])"
done
