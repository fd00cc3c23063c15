#!/usr/bin/env bash
# Instructions per /invocations request (issue 6), counted by valgrind's callgrind: the same
# build gives the same count on a quiet or a busy machine, so small changes to the request
# path show up here when throughput runs (bench/serve.sh) are within the machine's noise.
# The server runs under callgrind (about 50x slower) with the prediction log on; oha sends
# single-row JSON requests over 2 connections for 15 s. Prints the total per request and the
# main parts of it (inclusive). `GYRE_BIN=/path/to/gyre` measures another build.
set -euo pipefail
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
source "$(dirname "$0")/bc-server.sh"
out="$dir/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$out" "$gyre" serve bc --port 0 > serve.out 2>/dev/null &
server=$!
for _ in $(seq 300); do grep -q "on http" serve.out 2>/dev/null && break; sleep 0.2; done
base=$(sed 's/.* on //' serve.out | head -1)
n=$("$oha" -z 15s -c 2 --no-tui --output-format json -m POST -H 'content-type: application/json' \
    -D body.json "$base/invocations" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["statusCodeDistribution"].values()))')
kill -INT $server; wait $server 2>/dev/null || true
server=""
python3 - "$out" "$n" <<'PY'
import re, subprocess, sys
out, n = sys.argv[1], int(sys.argv[2])
text = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True, text=True).stdout
total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
print(f"{n} requests; {total / n:,.0f} instructions per request (server, all threads)")
parts = {
    "request path (score: read, predict, log record)": r"gyre_serve::score::\{\{closure\}\} \[",
    "  signature path (JSON body to typed columns)": r"payload::signature_records \[",
    "  general path (mlflow_body; typed not included)": r"payload::mlflow_body \[",
    "  logged inputs (row_json)": r"payload::row_json \[",
    "  prediction (Model::predict)": r"Model::predict \[",
    "response body": r"IntoResponse>::into_response \[",
    "SQLite log writer threads": r"sqlx-sqlite[^:]*/src/connection/worker.rs:std::sys::backtrace",
}
for label, pat in parts.items():
    best = 0
    for line in text.splitlines():
        if re.search(pat, line):
            best = max(best, int(line.split()[0].replace(",", "")))
    print(f"  {label:<50} {best / n:>9,.0f}")
PY
