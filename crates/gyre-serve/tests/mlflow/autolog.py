"""A user's scikit-learn script with MLflow autologging and a logged, registered model: run
unchanged by tests/mlflow_client.rs against a live gyre server."""
import json
import sys

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("iris")
mlflow.sklearn.autolog()
with mlflow.start_run() as run:
    LogisticRegression(max_iter=300, C=0.5).fit(X, y)
client = mlflow.MlflowClient()
got = client.get_run(run.info.run_id)
assert got.data.params["C"] == "0.5", got.data.params
assert got.data.metrics["training_accuracy_score"] > 0.9, got.data.metrics
models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
assert len(models) == 1 and models[0].source_run_id == run.info.run_id, models

# log_model by hand, registered, and read back by the client (which loads it itself).
with mlflow.start_run() as second:
    model = LogisticRegression(max_iter=300).fit(X, y)
    info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])
    mlflow.log_metric("holdout_accuracy", 0.97, model_id=info.model_id)
    mlflow.log_metric("holdout_accuracy", 0.5, model_id=info.model_id, timestamp=1)
linked = {m.key: m.value for m in mlflow.get_logged_model(info.model_id).metrics}
assert linked.get("holdout_accuracy") == 0.97, linked
autologged = {m.key for m in mlflow.get_logged_model(models[0].model_id).metrics}
print("autolog model metrics:", sorted(autologged), file=sys.stderr)
version = mlflow.register_model(info.model_uri, "iris-lr")
loaded = mlflow.pyfunc.load_model(f"models:/iris-lr/{version.version}")
assert list(loaded.predict(X[:3])) == list(model.predict(X[:3]))
print(json.dumps({"autolog_run": run.info.run_id, "model_id": info.model_id,
                  "version": version.version}))
