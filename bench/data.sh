#!/usr/bin/env bash
# Benchmarks for versioned datasets (issue 2). Prints the figures recorded in bench/README.md.
#
#   bench/data.sh [WORK_DIR]      (default /var/tmp/gyre-bench; needs ~3 GiB free)
#
# Needs b3sum, hyperfine and GNU time (Debian: apt-get install b3sum hyperfine time).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="$(cd "$here/../shared/data" && pwd)"
work="${1:-/var/tmp/gyre-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
mkdir -p "$work"
cd "$work"

# Data shaped like the shared sets, repeated to size.
repeat_to() { # SRC DEST BYTES [skip-header]
  local src=$1 dest=$2 bytes=$3
  if [ -f "$dest" ] && [ "$(stat -c %s "$dest")" -ge "$bytes" ]; then return; fi
  python3 - "$src" "$dest" "$bytes" <<'PY'
import sys
src, dest, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(src, encoding="utf-8").read().splitlines(keepends=True)
header, body = lines[0], "".join(l for l in lines[1:] if l.strip())
with open(dest, "w", encoding="utf-8") as out:
    out.write(header)
    written = len(header)
    while written < size:
        out.write(body)
        written += len(body)
PY
}
repeat_to "$data/elec2/elec2_first_half.csv" elec2_1g.csv $((1024 * 1024 * 1024))
# adult.data has no header; give it one so the same command reads both.
if [ ! -f adult_256m.csv ]; then
  { echo "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income"; cat "$data/adult/adult.data"; } > adult_src.csv
fi
repeat_to adult_src.csv adult_256m.csv $((256 * 1024 * 1024))

echo "== machine: $(nproc) cores; $(b3sum --version)"
cat elec2_1g.csv adult_256m.csv > /dev/null   # warm the page cache

fresh() { rm -rf "$work/p" && "$gyre" init -q "$work/p" > /dev/null; }

echo
echo "== 1 GiB CSV (elec2-shaped): b3sum vs gyre data add"
hyperfine --warmup 1 --runs 5 --export-json b3sum.json "b3sum $work/elec2_1g.csv"
for i in 1 2 3; do
  fresh
  /usr/bin/time -f "%e s wall, %M KiB max RSS" "$gyre" -C "$work/p" data add big "$work/elec2_1g.csv" --json -q > add$i.json 2> time$i.txt
  python3 - "$i" <<'PY'
import json, sys
i = sys.argv[1]
r = json.load(open(f"add{i}.json"))
t = r["seconds"]
gib = r["version"]["bytes"] / 2**30
print(f"run {i}: hash {t['hash']:.2f} s ({gib / t['hash']:.2f} GiB/s), profile {t['profile']:.2f} s "
      f"({r['version']['bytes'] / 1e6 / t['profile']:.0f} MB/s), store {t['store']:.2f} s; "
      + open(f"time{i}.txt").read().strip())
PY
done
echo "re-adding identical content (hash only, no profile, no copy):"
hyperfine --warmup 1 --runs 5 "$gyre -C $work/p data add big $work/elec2_1g.csv -q"

echo
echo "== profiling throughput, adult-shaped CSV (256 MiB)"
for i in 1 2 3; do
  fresh
  "$gyre" -C "$work/p" data add adult "$work/adult_256m.csv" --null '?' --skip-initial-space --json -q > adult$i.json
  python3 - "$i" "$(nproc)" <<'PY'
import json, sys
r = json.load(open(f"adult{sys.argv[1]}.json"))
mb = r["version"]["bytes"] / 1e6
t = r["seconds"]["profile"]
print(f"run {sys.argv[1]}: {mb / t:.0f} MB/s on {sys.argv[2]} cores = {mb / t / int(sys.argv[2]):.0f} MB/s per core")
PY
done

echo
echo "== gyre data status over 10,000 files"
rm -rf many && mkdir -p many
python3 - <<'PY'
import os
for i in range(10000):
    d = f"many/{i // 1000:02d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/part{i:05d}.csv", "w") as f:
        f.write("a,b\n")
        f.write(f"{i},{i * 2}\n")
PY
fresh
"$gyre" -C "$work/p" data add many "$work/many" -q > /dev/null
"$gyre" -C "$work/p" data status > /dev/null     # fills the stat index
hyperfine --warmup 2 --runs 20 -N "$gyre -C $work/p data status"
printf 'a,b\n3333,6667\n' > many/03/part03333.csv   # same size, new bytes: only the mtime tells
"$gyre" -C "$work/p" data status --json | python3 -c "import json,sys; s=json.load(sys.stdin)[0]; print('after one change:', s['state'], s['modified'], 'rehashed', s['rehashed'])" || true
