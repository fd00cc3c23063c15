#!/usr/bin/env python3
"""Streams with known drift for `bench/backtest.sh`, written as CSV (standard library only,
seeded, so every run writes the same bytes).

- sea: SEA concepts (Street and Kim 2001): three features in [0, 10], class f1 + f2 <= theta,
  theta 8 -> 9 -> 7 -> 9.5 at each quarter (abrupt), 10 % label noise.
- hyperplane: a rotating hyperplane (Hulten et al. 2001) in 10 dimensions, the weights of
  four of them drifting every row (gradual), 5 % noise.
- agrawal: Agrawal et al. (1993) loan applicants, mixed numeric and text columns; the
  labelling function changes 1 -> 2 -> 3 -> 1 at each quarter (abrupt), 5 % noise; rows
  carry an ISO timestamp, one a minute.
- prior: a stationary concept, five Gaussian features per class, whose positive rate rises
  from 3 % to 46 % over the stream (prior shift, as in the bank-marketing case).

Usage: streams.py DIR [ROWS]  (default 45,000 rows each).
"""

import csv
import math
import os
import random
import sys
from datetime import datetime, timedelta

ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 45_000
OUT = sys.argv[1]


def sea(rng):
    thetas = [8.0, 9.0, 7.0, 9.5]
    yield ["f1", "f2", "f3", "label"]
    for i in range(ROWS):
        theta = thetas[min(3, i * 4 // ROWS)]
        x = [rng.uniform(0, 10) for _ in range(3)]
        y = x[0] + x[1] <= theta
        if rng.random() < 0.10:
            y = not y
        yield [f"{v:.4f}" for v in x] + ["yes" if y else "no"]


def hyperplane(rng):
    d, drifting, magnitude = 10, 4, 0.001
    w = [rng.random() for _ in range(d)]
    sign = [1.0] * d
    yield [f"x{j}" for j in range(d)] + ["label"]
    for _ in range(ROWS):
        x = [rng.random() for _ in range(d)]
        y = sum(a * b for a, b in zip(w, x)) >= sum(w) / 2
        if rng.random() < 0.05:
            y = not y
        yield [f"{v:.4f}" for v in x] + ["1" if y else "0"]
        for j in range(drifting):
            w[j] += sign[j] * magnitude
            if rng.random() < 0.10:
                sign[j] = -sign[j]


def agrawal(rng):
    def label(f, salary, age, elevel):
        if f == 1:
            return age < 40 or age >= 60
        if f == 2:
            return (
                (age < 40 and 50_000 <= salary <= 100_000)
                or (40 <= age < 60 and 75_000 <= salary <= 125_000)
                or (age >= 60 and 25_000 <= salary <= 75_000)
            )
        return (
            (age < 40 and elevel in (0, 1))
            or (40 <= age < 60 and elevel in (1, 2, 3))
            or (age >= 60 and elevel in (2, 3, 4))
        )

    functions = [1, 2, 3, 1]
    start = datetime(2024, 1, 1)
    yield ["ts", "salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan", "group"]
    for i in range(ROWS):
        f = functions[min(3, i * 4 // ROWS)]
        salary = rng.uniform(20_000, 150_000)
        commission = 0.0 if salary >= 75_000 else rng.uniform(10_000, 75_000)
        age = rng.randint(20, 80)
        elevel = rng.randint(0, 4)
        car = rng.randint(1, 20)
        zipcode = rng.randint(0, 8)
        hvalue = (9 - zipcode) * 100_000 * rng.uniform(0.5, 1.5)
        hyears = rng.randint(1, 30)
        loan = rng.uniform(0, 500_000)
        y = label(f, salary, age, elevel)
        if rng.random() < 0.05:
            y = not y
        ts = (start + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
        yield [
            ts, f"{salary:.0f}", f"{commission:.0f}", age, f"level{elevel}", f"make{car}",
            f"zip{zipcode}", f"{hvalue:.0f}", hyears, f"{loan:.0f}", "A" if y else "B",
        ]


def prior(rng):
    yield [f"x{j}" for j in range(5)] + ["subscribed"]
    for i in range(ROWS):
        rate = 0.03 + (0.46 - 0.03) * i / (ROWS - 1)
        y = rng.random() < rate
        mean = 0.8 if y else 0.0
        x = [rng.gauss(mean, 1.0) for _ in range(5)]
        yield [f"{v:.4f}" for v in x] + ["yes" if y else "no"]


os.makedirs(OUT, exist_ok=True)
for name, gen in [("sea", sea), ("hyperplane", hyperplane), ("agrawal", agrawal), ("prior", prior)]:
    rng = random.Random(7)
    with open(os.path.join(OUT, f"{name}.csv"), "w", newline="") as f:
        csv.writer(f).writerows(gen(rng))
print(f"wrote sea, hyperplane, agrawal and prior ({ROWS} rows each) to {OUT}")
