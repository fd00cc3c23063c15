#!/usr/bin/env bash
# Monitoring overhead (issue 7): single-row JSON predictions of the breast_cancer logistic
# regression, logging on, first without [monitor], then with [monitor] watching 5 inputs for
# drift (plus prediction shift, error rate and p99) on traffic windows of 1,000 rows, which
# the server judges while the load runs. Same machine, same load generator (oha), same run.
set -euo pipefail
source "$(dirname "$0")/bc-server.sh"
conns="${CONNS:-8}"
secs="${SECS:-10}"
rounds="${ROUNDS:-3}"
rate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["summary"]["requestsPerSec"]))'; }
start() {
    "$gyre" serve bc --port 0 > serve.out 2> serve.err &
    server=$!
    for _ in $(seq 100); do grep -q "on http" serve.out 2>/dev/null && break; sleep 0.1; done
    base=$(sed 's/.* on //' serve.out | head -1)
    "$oha" -z 2s -c "$conns" --no-tui --output-format json -m POST -H 'content-type: application/json' -D body.json "$base/invocations" >/dev/null
}
load() {
    "$oha" -z "${secs}s" -c "$conns" --no-tui --output-format json -m POST -H 'content-type: application/json' -D body.json "$base/invocations" | rate
}
stop() { kill -INT "$server"; wait "$server" 2>/dev/null || true; }
cp gyre.toml plain.toml
cp gyre.toml watched.toml
cat >> watched.toml <<'TOML'

[monitor]
model = "bc"
window = { labels = 500, traffic = 1000 }
min = { f1 = 0.8 }
drift = { columns = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness"], method = "psi", threshold = 0.25 }
prediction_shift = 0.25
max_error_rate = 0.01
max_p99_ms = 50
TOML
off=(); on=()
for i in $(seq "$rounds"); do
    cp plain.toml gyre.toml; start; off+=("$(load)"); stop
    cp watched.toml gyre.toml; start; on+=("$(load)"); stop
    echo "round $i: without monitoring ${off[-1]} req/s, with 5 drift rules ${on[-1]} req/s"
done
windows=$(sqlite3 .gyre/gyre.db "select count(*) from monitor_points where kind = 'traffic'" 2>/dev/null || echo "?")
python3 - "${off[*]}" "${on[*]}" "$windows" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
mo, mn = statistics.median(off), statistics.median(on)
print(f"median without {mo:.0f} req/s, with {mn:.0f} req/s: {100 * (mo - mn) / mo:.1f}% lower "
      f"({sys.argv[3]} traffic windows judged)")
PY
