#!/usr/bin/env bash
# `gyre push` against the `aws` CLI (issue 20): one 1 GiB file, and 10,000 small files (4 KiB
# each), uploaded to a local S3 server (s3s-fs, on its own port and folder), same data, same
# run. The objects reach gyre's store as a pipeline step's outputs; each push starts from an
# empty prefix. The aws CLI (from PyPI, in its own venv) runs with its defaults: 10 requests in
# flight, 8 MiB parts. Medians of $REPS runs (default 3).
#
# Needs: s3s-fs (`cargo install s3s-fs@0.14.1 --features binary --root /var/tmp/s3s`, as
# .ci/run does) and python3 for the venv.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
reps="${REPS:-3}"
work="${GYRE_BENCH_DIR:-/var/tmp/gyre-bench-push}"
s3s="${S3S_FS:-/var/tmp/s3s/bin/s3s-fs}"
venv=/var/tmp/gyre-bench-awscli
port=18014

cargo build --release -q -p gyre-cli --manifest-path "$here/Cargo.toml"
gyre="$CARGO_TARGET_DIR/release/gyre"
[ -x "$venv/bin/aws" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q awscli; }
aws="$venv/bin/aws"

rm -rf "$work" && mkdir -p "$work/s3/bench" "$work/data/small"
"$s3s" --host 127.0.0.1 --port $port --access-key bench --secret-key bench-secret-key \
  "$work/s3" >"$work/s3s.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.2; done
export AWS_ENDPOINT=http://127.0.0.1:$port AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key
export AWS_DEFAULT_REGION=us-east-1

echo "making the data: 1 GiB of random bytes, 10,000 files of 4 KiB"
head -c $((1 << 30)) /dev/urandom >"$work/data/big.bin"
python3 - "$work/data/small" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(10_000):
    d = os.path.join(root, f"{i // 1000:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(4096))
EOF

# Each case in a project of its own, holding only that case's objects as a pipeline step's
# outputs, so both tools move the same bytes.
for case in big small; do
  p="$work/project-$case"
  "$gyre" init "$p" --name "bench-$case" >/dev/null
  if [ $case = big ]; then cmd="cp $work/data/big.bin big.bin" out=big.bin; else cmd="cp -r $work/data/small small" out=small; fi
  printf '\n[steps.%s]\nrun = "%s"\nouts = ["%s"]\n' "$case" "$cmd" "$out" >>"$p/gyre.toml"
  (cd "$p" && "$gyre" -q run "$case" >/dev/null)
done
mkdir -p "$work/one-big" && ln -f "$work/data/big.bin" "$work/one-big/big.bin"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }

run_case() {
  local what=$1 bytes=$2 src=$3 proj=$4 g=() a=() i gm am
  for i in $(seq 1 "$reps"); do
    g+=("$(secs "$gyre" -q --project "$proj" push --remote "s3://bench/gyre-$i-$RANDOM")")
    a+=("$(secs "$aws" --endpoint-url "$AWS_ENDPOINT" s3 cp --recursive --quiet "$src" "s3://bench/aws-$i-$RANDOM/")")
  done
  gm=$(printf '%s\n' "${g[@]}" | median)
  am=$(printf '%s\n' "${a[@]}" | median)
  printf '%-22s gyre push %7.2f s (%7.1f MiB/s)   aws s3 cp %7.2f s (%7.1f MiB/s)   gyre/aws throughput %.2f\n' \
    "$what" "$gm" "$(echo "$bytes / 1048576 / $gm" | bc -l)" "$am" "$(echo "$bytes / 1048576 / $am" | bc -l)" \
    "$(echo "$am / $gm" | bc -l)"
}

run_case "1 GiB, one file" $((1 << 30)) "$work/one-big" "$work/project-big"
run_case "10,000 files of 4 KiB" $((10000 * 4096)) "$work/data/small" "$work/project-small"
