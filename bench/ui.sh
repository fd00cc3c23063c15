#!/usr/bin/env bash
# The web UI's runs table over 100,000 runs with 20 params and 20 metrics (issue 18): the
# example stores the runs (kept in $GYRE_BENCH_DIR, default /var/tmp/gyre-bench-ui, so a second
# run skips it) and times the API calls the table makes; then headless Chromium opens the page
# five times in fresh sessions and the page reports when it had drawn the table
# (`data-rendered`, ms since navigation began). Needs chromium and chromium-driver.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gyre-target}"
export GYRE_BENCH_DIR="${GYRE_BENCH_DIR:-/var/tmp/gyre-bench-ui}"
cargo build --release -q -p gyre-serve --example ui_runs --manifest-path "$here/Cargo.toml"
out=$(mktemp)
"$CARGO_TARGET_DIR/release/examples/ui_runs" --serve >"$out" &
server=$!
driver_pid=""
trap 'kill $server ${driver_pid} 2>/dev/null || true; rm -f "$out"' EXIT
until grep -q '^serving on ' "$out"; do
  kill -0 $server 2>/dev/null || { cat "$out"; exit 1; }
  sleep 0.5
done
grep -v '^serving on ' "$out"
addr=$(sed -n 's/^serving on //p' "$out")

if ! command -v chromedriver >/dev/null; then
  echo "chromedriver is not installed: the page itself was not timed"
  exit 0
fi
port=9517
chromedriver --port=$port >/dev/null 2>&1 &
driver_pid=$!
until curl -fs "http://127.0.0.1:$port/status" >/dev/null; do sleep 0.2; done
wd() { curl -fs -X "$1" "http://127.0.0.1:$port$2" -H 'content-type: application/json' ${3:+-d "$3"}; }
caps='{"capabilities":{"alwaysMatch":{"browserName":"chrome","goog:chromeOptions":{"binary":"/usr/bin/chromium","args":["--headless=new","--no-sandbox","--disable-gpu","--window-size=1366,900"]}}}}'
# Opens URL five times, each in a fresh session (assets and data fetched anew), and prints
# when the page had drawn (its `data-rendered`), then the median.
time_page() {
  local url=$1 what=$2 check=$3 times=() sid ms n
  for i in 1 2 3 4 5; do
    sid=$(wd POST /session "$caps" | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["sessionId"])')
    wd POST "/session/$sid/url" "{\"url\":\"$url\"}" >/dev/null
    ms=""
    for _ in $(seq 1 200); do
      ms=$(wd POST "/session/$sid/execute/sync" '{"script":"return document.getElementById(\"view\").dataset.rendered || null","args":[]}' \
        | python3 -c 'import json,sys; v=json.load(sys.stdin)["value"]; print(v or "")')
      [ -n "$ms" ] && break
      sleep 0.1
    done
    n=$(wd POST "/session/$sid/execute/sync" "{\"script\":\"return document.querySelectorAll('$check').length\",\"args\":[]}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
    wd DELETE "/session/$sid" >/dev/null
    echo "$what, load $i: drawn $ms ms after navigation began ($n × $check)"
    times+=("$ms")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v w="$what" '{a[NR]=$1} END {print w ": median " a[int((NR+1)/2)] " ms"}'
}
long=$(sed -n 's/^the long curve is in run //p' "$out")
time_page "http://$addr/ui/#/runs" "the runs table" "#runs tbody tr"
time_page "http://$addr/ui/#/runs/$long" "a run with a 100,000-step curve" "path.series"
