"""Reference values for gyre's drift statistics, computed once with scipy and numpy.

Each case names two slices of a column of a shared dataset (rows [start, end) of the data,
0-based, header excluded); gyre's tests read the same slices and compare.
Run from the repository root:  python3 test_data/drift/make_fixtures.py
Needs numpy, pandas and scipy. CI does not run this script.
"""
import json
import pathlib

import numpy as np
import pandas as pd
import scipy
from scipy import stats
from scipy.spatial.distance import jensenshannon

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"
OUT = pathlib.Path(__file__).with_name("fixtures.json")
ADULT = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
         "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
         "hours-per-week", "native-country", "income"]
PSI_FLOOR = 1e-4


def load(name):
    if name == "adult":
        return pd.read_csv(DATA / "adult" / "adult.data", header=None, names=ADULT,
                           skipinitialspace=True, na_values=["?"], keep_default_na=False)
    if name == "elec2":
        return pd.read_csv(DATA / "elec2" / "elec2_first_half.csv")
    raise ValueError(name)


def psi(ref, cur):
    ref = np.maximum(ref / ref.sum(), PSI_FLOOR)
    cur = np.maximum(cur / cur.sum(), PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_case(data, column, a, b):
    df = load(data)
    ref = df[column].iloc[a[0]:a[1]].dropna().to_numpy(dtype=float)
    cur = df[column].iloc[b[0]:b[1]].dropna().to_numpy(dtype=float)
    ks = stats.ks_2samp(ref, cur)
    # gyre's PSI bins: 20 equal-width bins over the reference range (numpy's edges), plus one
    # bin below and one above it for current values outside.
    edges = np.histogram_bin_edges(ref, bins=20)
    ref_counts = np.concatenate([[0], np.histogram(ref, bins=edges)[0], [0]]).astype(float)
    inside = np.histogram(cur, bins=edges)[0]
    cur_counts = np.concatenate([[np.sum(cur < edges[0])], inside,
                                 [np.sum(cur > edges[-1])]]).astype(float)
    w = stats.wasserstein_distance(ref, cur)
    return {
        "data": data, "column": column, "kind": "numeric", "reference": a, "current": b,
        "n_reference": len(ref), "n_current": len(cur),
        "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
        "wasserstein": float(w),
        "wasserstein_normed": float(w / np.std(ref)) if np.std(ref) > 0 else None,
        "psi": psi(ref_counts, cur_counts),
    }


def categorical_case(data, column, a, b):
    df = load(data)
    ref = df[column].iloc[a[0]:a[1]].dropna().astype(str)
    cur = df[column].iloc[b[0]:b[1]].dropna().astype(str)
    cats = sorted(set(ref) | set(cur))
    rc = np.array([float((ref == c).sum()) for c in cats])
    cc = np.array([float((cur == c).sum()) for c in cats])
    chi2, p, dof, _ = stats.chi2_contingency(np.array([rc, cc]))
    return {
        "data": data, "column": column, "kind": "categorical", "reference": a, "current": b,
        "categories": cats, "reference_counts": rc.tolist(), "current_counts": cc.tolist(),
        "chi2_statistic": float(chi2), "chi2_pvalue": float(p), "chi2_dof": int(dof),
        "jensen_shannon": float(jensenshannon(rc / rc.sum(), cc / cc.sum())),
        "psi": psi(rc, cc),
    }


def main():
    cases = [
        # Exact p-values: equal sizes, unequal sizes, many ties.
        numeric_case("elec2", "nswdemand", [0, 50], [50, 100]),
        numeric_case("elec2", "nswprice", [0, 200], [1000, 1300]),
        numeric_case("elec2", "period", [0, 3000], [3000, 7000]),
        numeric_case("adult", "hours-per-week", [0, 600], [600, 1000]),
        # The Kolmogorov distribution (more than 10,000 values on one side).
        numeric_case("elec2", "nswdemand", [0, 12000], [12000, 22656]),
        numeric_case("elec2", "vicdemand", [0, 17424], [17424, 22656]),
        numeric_case("adult", "age", [0, 16000], [16000, 32561]),
        numeric_case("adult", "fnlwgt", [0, 16000], [16000, 32561]),
        numeric_case("elec2", "day", [0, 11000], [11000, 22000]),
        numeric_case("elec2", "period", [0, 11520], [11520, 22656]),
        numeric_case("adult", "age", [0, 20000], [20000, 20100]),
        numeric_case("adult", "education-num", [0, 20000], [20000, 20300]),
        # Categorical: several categories, two (Yates' correction), drifted labels.
        categorical_case("adult", "workclass", [0, 16000], [16000, 32561]),
        categorical_case("adult", "sex", [0, 300], [300, 700]),
        categorical_case("adult", "race", [0, 500], [500, 32561]),
        categorical_case("elec2", "class", [0, 1440], [21216, 22656]),
        categorical_case("adult", "native-country", [0, 100], [100, 32561]),
    ]
    OUT.write_text(json.dumps({"scipy": scipy.__version__, "numpy": np.__version__,
                               "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
