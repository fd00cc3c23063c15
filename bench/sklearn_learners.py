"""scikit-learn's side of bench/learners.sh: the same data, split and preprocessing as
crates/gyre-learn/examples/learners.rs; fit time (median of 5) and predict_proba/predict
throughput on the transformed test matrix. RandomForest is timed with n_jobs=1 (its default)
and n_jobs=-1 (both cores, as gyre's forest uses)."""
import pathlib
import statistics
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
ADULT = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
         "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
         "hours-per-week", "native-country", "income"]


def prep(X):
    num = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    cat = [c for c in X.columns if c not in num]
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat)])


def rule(df):
    test = np.arange(len(df)) % 5 == 4
    return df[~test], df[test]


def bench(name, tr, te, target, models):
    X, Xt = tr.drop(columns=[target]), te.drop(columns=[target])
    p = prep(X).fit(X)
    A, At = p.transform(X), p.transform(Xt)
    for label, make in models:
        times = []
        for _ in range(5):
            m = make()
            t = time.perf_counter()
            m.fit(A, tr[target])
            times.append(time.perf_counter() - t)
        score = m.predict_proba if hasattr(m, "predict_proba") else m.predict
        rows, t = 0, time.perf_counter()
        while time.perf_counter() - t < 1.0:
            score(At)
            rows += len(At)
        rate = rows / (time.perf_counter() - t)
        print(f"{name:<20} {label:<24} {statistics.median(times):>9.3f} {rate:>16.0f}")


print(f"{'data':<20} {'learner':<24} {'fit (s)':>9} {'predict rows/s':>16}")
adult = pd.read_csv(DATA / "adult" / "adult.data", header=None, names=ADULT,
                    skipinitialspace=True, na_values=["?"], keep_default_na=False)
tr, te = rule(adult)
classifiers = [
    ("LogisticRegression", lambda: LogisticRegression(max_iter=2000)),
    ("RandomForest", lambda: RandomForestClassifier(100, random_state=0)),
    ("RandomForest n_jobs=-1", lambda: RandomForestClassifier(100, random_state=0, n_jobs=-1)),
    ("GradientBoosting", lambda: HistGradientBoostingClassifier(random_state=0)),
]
bench("adult", tr, te, "income", classifiers)
h = pd.read_csv(DATA / "california_housing" / "housing.csv")
tr, te = rule(h)
bench("california_housing", tr, te, "median_house_value", [
    ("Ridge", lambda: Ridge()),
    ("RandomForest", lambda: RandomForestRegressor(100, random_state=0)),
    ("RandomForest n_jobs=-1", lambda: RandomForestRegressor(100, random_state=0, n_jobs=-1)),
    ("GradientBoosting", lambda: HistGradientBoostingRegressor(random_state=0)),
])
e = pd.read_csv(DATA / "elec2" / "elec2_first_half.csv").drop(columns=["date"])
cut = len(e) - int(np.ceil(len(e) * 0.2))
bench("elec2", e.iloc[:cut], e.iloc[cut:], "class", classifiers)
