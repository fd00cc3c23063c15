#!/usr/bin/env bash
# What large bodies cost the server (issue 15, item 12): N (default 6) requests of 8 MiB of
# single-row-per-record JSON sent at once; prints each status and the server's peak resident
# memory (VmHWM). The server admits 32 MiB of declared bodies at once by default; the rest
# get 503 with Retry-After.
set -euo pipefail
source "$(dirname "$0")/bc-server.sh"
"$gyre" serve bc --port 0 > serve.out 2>/dev/null &
server=$!
for _ in $(seq 50); do grep -q "on http" serve.out 2>/dev/null && break; sleep 0.1; done
base=$(sed 's/.* on //' serve.out | head -1)
python3 - <<'PY'
import json
body = json.load(open("body.json"))
row = body["dataframe_records"][0]
one = json.dumps(row)
n = (8 * 1024 * 1024 - 100) // (len(one) + 1)
open("big.json", "w").write('{"dataframe_records": [' + ",".join([one] * n) + "]}")
PY
echo "body: $(du -h big.json | cut -f1), rows: $(python3 -c 'import json; print(len(json.load(open("big.json"))["dataframe_records"]))')"
rss() { awk '/VmRSS|VmHWM/ {printf "%s %d MB  ", $1, $2/1024}' "/proc/$server/status"; echo; }
echo "idle: $(rss)"
n="${N:-6}"
for i in $(seq "$n"); do
  curl -s -o /dev/null -w "request $i: %{http_code} in %{time_total} s\n" -H 'content-type: application/json' \
    --data-binary @big.json "$base/invocations" &
done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
echo "after $n at once: $(rss)"
kill -INT $server; wait $server 2>/dev/null || true
