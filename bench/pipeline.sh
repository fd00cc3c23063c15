#!/usr/bin/env bash
# Pipeline benchmark (issue 5): an up-to-date `gyre run` of a 10-step pipeline over 10,000
# dependency files (target < 100 ms), and two independent 2-second steps (about 2 s, not 4).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$gyre" init -q "$dir/p" >/dev/null
cd "$dir/p"
# 10,000 dependency files in 10 folders of 1,000.
for f in $(seq 0 9); do
    mkdir -p "src/part$f"
    for i in $(seq 0 999); do echo "$f $i" > "src/part$f/file$i.txt"; done
done
{
    echo
    for s in $(seq 0 9); do
        echo "[steps.s$s]"
        echo "run = \"ls src/part$s | wc -l > out$s.txt\""
        echo "deps = [\"src/part$s\"]"
        echo "outs = [\"out$s.txt\"]"
    done
    echo '[steps.slow_a]'
    echo 'run = "sleep 2; echo a > a.txt"'
    echo 'outs = ["a.txt"]'
    echo '[steps.slow_b]'
    echo 'run = "sleep 2; echo b > b.txt"'
    echo 'outs = ["b.txt"]'
} >> gyre.toml

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }

echo "first run (10 steps over 10,000 files, plus two 2-second steps, --jobs 2):"
t=$(ms "$gyre" run -q --jobs 2)
echo "  ${t} ms"
echo "up-to-date run, 10,000 dependency files (median of 11):"
for _ in $(seq 11); do ms "$gyre" run -q; done | median | sed 's/$/ ms/; s/^/  /'
echo "gyre status, same (median of 11):"
for _ in $(seq 11); do ms "$gyre" status -q; done | median | sed 's/$/ ms/; s/^/  /'
echo "two independent 2-second steps, --jobs 2 (forced):"
t=$(ms "$gyre" run -q --jobs 2 --force slow_a slow_b)
echo "  ${t} ms"
echo "the same, --jobs 1:"
t=$(ms "$gyre" run -q --jobs 1 --force slow_a slow_b)
echo "  ${t} ms"
