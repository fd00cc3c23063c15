"""Times the same mlflow client calls against a tracking server (issue 16's benchmark).

    python bench/mlflow_client.py URI [RUNS] [SEARCH_RUNS]

1. log_batch of 10,000 metrics to one run (10 batches of 1,000, MLflow's batch limit);
2. RUNS runs (default 1,000), each with 10 params and 10 metrics (one log_batch each);
3. search_runs with a filter and order_by over every run logged, and listing 1,000 runs;
4. the same listing as one plain HTTP request (the server's side, without the client's
   objects).
Prints one JSON line of seconds (client wall time, same client, same machine).
"""
import json
import os
import statistics
import sys
import time

import requests

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

uri = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
client = MlflowClient(tracking_uri=uri)
name = f"bench-{time.time_ns()}"
exp = client.create_experiment(name)
out = {"uri": uri}

run = client.create_run(exp)
now = int(time.time() * 1000)
t = time.perf_counter()
for b in range(10):
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("loss", 1.0 / (i + 1), now, b * 1000 + i) for i in range(1000)],
    )
out["log_batch_10k_metrics_s"] = round(time.perf_counter() - t, 3)

t = time.perf_counter()
for r in range(runs):
    run = client.create_run(exp)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(f"m{k}", (r * 7 + k) % 100 / 100, now, 0) for k in range(10)],
        params=[Param(f"p{k}", str((r + k) % 13)) for k in range(10)],
    )
    client.set_terminated(run.info.run_id)
out[f"{runs}_runs_10_params_10_metrics_s"] = round(time.perf_counter() - t, 3)

t = time.perf_counter()
found = client.search_runs([exp], filter_string="metrics.m3 > 0.5 and params.p1 = '4'",
                           order_by=["metrics.m0 DESC"], max_results=1000)
out["search_filter_order_s"] = round(time.perf_counter() - t, 3)
out["search_found"] = len(found)

t = time.perf_counter()
listed = client.search_runs([exp], max_results=1000)
out["list_1000_runs_s"] = round(time.perf_counter() - t, 3)
out["listed"] = len(listed)

# The same listing as one HTTP request, without the client building 1,000 run objects: the
# server's answer and its transfer (median of 5).
headers = {"Content-Type": "application/json"}
if os.environ.get("MLFLOW_TRACKING_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
body = json.dumps({"experiment_ids": [exp], "max_results": 1000})
times = []
for _ in range(5):
    t = time.perf_counter()
    r = requests.post(f"{uri}/api/2.0/mlflow/runs/search", data=body, headers=headers)
    r.raise_for_status()
    times.append(time.perf_counter() - t)
out["list_1000_runs_http_s"] = round(statistics.median(times), 4)
out["list_http_bytes"] = len(r.content)
print(json.dumps(out))
