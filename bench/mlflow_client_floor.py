"""The MLflow client's own cost per call (issue 16), against a running gyre server:
a cheap read through the client and through plain `requests`, and a run made with no
params or metrics (create, an empty log_batch, terminate).

Usage: MLFLOW_TRACKING_TOKEN=… python bench/mlflow_client_floor.py http://127.0.0.1:PORT
"""

import contextlib
import io
import sys
import time

import mlflow
import requests
from mlflow.tracking import MlflowClient

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = MlflowClient()
exp = client.create_experiment(f"floor-{time.time_ns()}")

t = time.perf_counter()
for _ in range(1000):
    client.get_experiment(exp)
through_client = (time.perf_counter() - t) / 1000

session = requests.Session()
t = time.perf_counter()
for _ in range(1000):
    session.get(f"{uri}/api/2.0/mlflow/experiments/get", params={"experiment_id": exp})
plain = (time.perf_counter() - t) / 1000

# The client prints a line per terminated run; keep it off the report.
with contextlib.redirect_stdout(io.StringIO()):
    t = time.perf_counter()
    for _ in range(300):
        r = client.create_run(exp)
        client.log_batch(r.info.run_id, params=[], metrics=[])
        client.set_terminated(r.info.run_id)
    empty_run = (time.perf_counter() - t) / 300

print(f"get_experiment through the client: {through_client * 1000:.2f} ms a call; "
      f"through requests: {plain * 1000:.2f} ms; an empty run (3 calls): "
      f"{empty_run * 1000:.2f} ms")
