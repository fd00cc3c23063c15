"""Trains XGBoost on the dataset version gyre hands this step, and writes what gyre
registers: OUT/model.json (XGBoost's own JSON model) and OUT/metrics.json (the figures
measured on the latest fifth of the rows, held out).

Usage: python steps/train.py OUT   (in a gyre step with `dataset = ...`)
"""

import json
import os
import sys
from pathlib import Path

import pandas as pd
import xgboost as xgb

TARGET = "class"
POSITIVE = "UP"

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
files = os.environ["GYRE_DATASET_FILES"].splitlines()
df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
# `date` is a day code, not a feature the served requests carry.
x = df.drop(columns=[TARGET, "date"], errors="ignore")
# Classes in text order, as gyre reads them from the dataset: DOWN = 0, UP = 1.
classes = sorted(df[TARGET].unique())
y = df[TARGET].map({c: i for i, c in enumerate(classes)})

cut = int(len(df) * 0.8)
model = xgb.XGBClassifier(n_estimators=60, max_depth=4, learning_rate=0.2, random_state=0)
model.fit(x.iloc[:cut], y.iloc[:cut])
pred = model.predict(x.iloc[cut:])
truth = y.iloc[cut:].to_numpy()
pos = classes.index(POSITIVE)
tp = int(((pred == pos) & (truth == pos)).sum())
fp = int(((pred == pos) & (truth != pos)).sum())
fn = int(((pred != pos) & (truth == pos)).sum())
precision = tp / (tp + fp) if tp + fp else 0.0
recall = tp / (tp + fn) if tp + fn else 0.0
metrics = {
    "accuracy": float((pred == truth).mean()),
    "precision": precision,
    "recall": recall,
    "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
}
model.save_model(out / "model.json")
(out / "metrics.json").write_text(json.dumps(metrics))
print(f"{os.environ.get('GYRE_DATASET')}: {len(df)} rows, test accuracy {metrics['accuracy']:.3f}")
