#!/usr/bin/env python3
"""river's online learners on the same streams and protocol as `gyre backtest` (for
bench/README.md): each learns the first TRAIN rows, then every replayed row's label DELAY rows
after its prediction; F1 of the positive class per window of 500 replayed rows, averaged.

Usage: river_backtest.py STREAMS_DIR   (the folder bench/streams.py wrote, plus elec2.csv)
Needs `pip install river` (0.26.1 was measured); prints nothing else when it is missing.
"""

import csv
import numbers
import os
import sys

try:
    from river import compose, forest, linear_model, preprocessing, tree
except ImportError:
    sys.exit("river is not installed: pip install river")

STREAMS = [
    # name, target, positive, dropped columns, training rows, label delay (rows)
    ("elec2", "class", "UP", {"date"}, 2016, 48),
    ("sea", "label", "yes", set(), 2000, 100),
    ("hyperplane", "label", "1", set(), 2000, 100),
    ("agrawal", "group", "A", {"ts"}, 2000, 100),
    ("prior", "subscribed", "yes", set(), 2000, 100),
]
WINDOW = 500


def models():
    numbers_ = compose.SelectType(numbers.Number) | preprocessing.StandardScaler()
    text = compose.SelectType(str) | preprocessing.OneHotEncoder()
    return {
        "ARF": forest.ARFClassifier(seed=42),
        "HAT": tree.HoeffdingAdaptiveTreeClassifier(seed=42),
        "LR": (numbers_ + text) | linear_model.LogisticRegression(),
    }


def value(v):
    try:
        return float(v)
    except ValueError:
        return v


def f1(pairs, positive):
    tp = sum(1 for t, p in pairs if t == positive and p == positive)
    fp = sum(1 for t, p in pairs if t != positive and p == positive)
    fn = sum(1 for t, p in pairs if t == positive and p != positive)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def run(path, target, positive, dropped, train, delay):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    xs = [{k: value(v) for k, v in r.items() if k != target and k not in dropped} for r in rows]
    ys = [r[target] for r in rows]
    out = {}
    for name, model in models().items():
        # The logistic regression learns booleans: the positive class or not.
        binary = name == "LR"
        label = (lambda y: y == positive) if binary else (lambda y: y)
        for i in range(train):
            model.learn_one(xs[i], label(ys[i]))
        served = []
        for i in range(train, len(rows)):
            j = i - delay
            if j >= train:
                model.learn_one(xs[j], label(ys[j]))
            p = model.predict_one(xs[i])
            if binary:
                p = positive if p else None
            served.append((ys[i], p))
        windows = [served[k : k + WINDOW] for k in range(0, len(served), WINDOW)]
        scores = [f1(w, positive) for w in windows if 2 * len(w) >= WINDOW]
        out[name] = sum(scores) / len(scores)
    return out


folder = sys.argv[1]
for name, target, positive, dropped, train, delay in STREAMS:
    path = os.path.join(folder, f"{name}.csv")
    if not os.path.exists(path):
        continue
    scores = run(path, target, positive, dropped, train, delay)
    print(f"{name:<10} " + "  ".join(f"{k}={v:.3f}" for k, v in scores.items()))
