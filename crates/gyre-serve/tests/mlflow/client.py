"""A user's MLflow tracking script, unchanged but for the tracking URI: run by
tests/mlflow_client.rs against a live gyre server (MLFLOW_TRACKING_TOKEN is set by the test).
"""
import json
import sys

import mlflow
from mlflow import MlflowClient

mlflow.set_tracking_uri(sys.argv[1])
experiment = mlflow.set_experiment("churn")
with mlflow.start_run(run_name="first") as run:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_params({"beta": 2, "kind": "lr"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"f1": 0.8, "accuracy": 0.9})
    mlflow.set_tag("team", "risk")
    mlflow.log_text("hello gyre", "notes/hello.txt")
    mlflow.log_dict({"threshold": 0.5}, "config.json")
    with open(sys.argv[2], "w") as f:
        f.write("a,b\n1,2\n")
    mlflow.log_artifact(sys.argv[2], artifact_path="data")
    mlflow.log_dict({"flavors": {}}, "model/MLmodel")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("f1", 0.7)
with mlflow.start_run(run_name="second"):
    mlflow.log_metric("f1", 0.6)

client = MlflowClient()
got = client.get_run(run.info.run_id)
assert got.info.status == "FINISHED", got.info.status
assert got.info.run_name == "first", got.info.run_name
assert got.data.params == {"alpha": "0.5", "beta": "2", "kind": "lr"}, got.data.params
assert got.data.metrics["f1"] == 0.8, got.data.metrics
assert got.data.tags["team"] == "risk"
history = client.get_metric_history(run.info.run_id, "loss")
assert [m.step for m in history] == [0, 1, 2, 3, 4], history
listed = sorted((a.path, a.is_dir) for a in client.list_artifacts(run.info.run_id))
assert listed == [("config.json", False), ("data", True), ("model", True), ("notes", True)], listed
assert [a.path for a in client.list_artifacts(run.info.run_id, "notes")] == ["notes/hello.txt"]
assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello gyre"
assert mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/config.json") == {"threshold": 0.5}
local = client.download_artifacts(run.info.run_id, "data")
import os
with open(os.path.join(local, os.path.basename(sys.argv[2]))) as f:
    assert f.read() == "a,b\n1,2\n"
assert abs(history[-1].value - 0.2) < 1e-12

found = client.search_runs(
    [experiment.experiment_id],
    filter_string="metrics.f1 > 0.65 and params.kind = 'lr'",
    order_by=["metrics.f1 DESC"],
)
assert [r.info.run_name for r in found] == ["first"], [r.info.run_name for r in found]
everything = client.search_runs([experiment.experiment_id], order_by=["metrics.f1 DESC"])
assert [r.info.run_name for r in everything] == ["first", "child", "second"], [
    r.info.run_name for r in everything
]
liked = client.search_runs(
    [experiment.experiment_id],
    filter_string="tags.team LIKE 'ri%' and attributes.run_name ILIKE 'FIR%'",
)
assert [r.info.run_name for r in liked] == ["first"], [r.info.run_name for r in liked]
picked = client.search_runs(
    [experiment.experiment_id], filter_string=f"attributes.run_id IN ('{run.info.run_id}')"
)
assert [r.info.run_id for r in picked] == [run.info.run_id], picked
page = client.search_runs([experiment.experiment_id], max_results=2)
assert len(page) == 2 and page.token, page.token

# A param's value cannot change; a missing run is "does not exist", in MLflow's shape.
try:
    client.log_param(run.info.run_id, "alpha", 0.9)
    raise SystemExit("a changed param was accepted")
except mlflow.exceptions.MlflowException as e:
    assert e.error_code == "INVALID_PARAMETER_VALUE", e.error_code
try:
    client.get_run("0" * 32)
    raise SystemExit("a missing run was found")
except mlflow.exceptions.MlflowException as e:
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST", e.error_code

assert client.get_experiment_by_name("nope") is None
client.delete_run(child.info.run_id)
active = client.search_runs([experiment.experiment_id])
assert child.info.run_id not in [r.info.run_id for r in active]

# The registry: a version registered from the run's artifacts, an alias set and read back;
# `champion` needs a passing gate verdict, which a model gyre never loads cannot have.
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn-model")
assert version.version == "1", version.version
client.set_registered_model_alias("churn-model", "staging", "1")
assert client.get_model_version_by_alias("churn-model", "staging").version == "1"
try:
    client.set_registered_model_alias("churn-model", "champion", "1")
    raise SystemExit("champion was set without a verdict")
except mlflow.exceptions.MlflowException as e:
    assert "verdict" in e.message, e.message
models = client.search_registered_models(filter_string="name = 'churn-model'")
assert [m.name for m in models] == ["churn-model"], models
assert client.get_registered_model("churn-model").aliases == {"staging": "1"}
client.delete_registered_model_alias("churn-model", "staging")

print(json.dumps({"experiment": experiment.experiment_id, "run": run.info.run_id,
                  "mlflow": mlflow.__version__}))
