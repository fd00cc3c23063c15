"""An ONNX model logged and registered through the real MLflow client, as a user would:
`mlflow.onnx.log_model` with a column signature and `registered_model_name`.

Usage: python onnx_model.py TRACKING_URI MODEL.onnx ADULT_CSV
Prints a JSON summary last.
"""

import json
import sys

import mlflow
import onnx
import pandas as pd
from mlflow.models import infer_signature

uri, model_path, adult = sys.argv[1:4]
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("onnx")
names = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
         "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
         "hours-per-week", "native-country", "income"]
df = pd.read_csv(adult, names=names, skipinitialspace=True, nrows=50)
nums = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
text = ["workclass", "education", "marital-status", "occupation", "relationship", "race",
        "sex", "native-country"]
x = df[nums + text].astype({c: "float32" for c in nums})
with mlflow.start_run() as run:
    info = mlflow.onnx.log_model(
        onnx.load(model_path),
        name="model",
        signature=infer_signature(x),
        registered_model_name="adult",
    )
print(json.dumps({"run": run.info.run_id, "model_id": info.model_id,
                  "version": info.registered_model_version}))
