"""Keeps the first `prepare.days` days of the elec2 stream (gyre passes the param in
GYRE_PARAM_PREPARE_DAYS) and writes data/processed/elec2.csv."""
import csv
import os
import pathlib

days = int(os.environ["GYRE_PARAM_PREPARE_DAYS"])
src = pathlib.Path(__file__).resolve().parents[4] / "shared" / "data" / "elec2" / "elec2_first_half.csv"
out = pathlib.Path("data/processed/elec2.csv")
out.parent.mkdir(parents=True, exist_ok=True)
with open(src, newline="") as f, open(out, "w", newline="") as g:
    rows = csv.reader(f)
    w = csv.writer(g)
    w.writerow(next(rows))
    kept = 0
    for row in rows:
        if kept >= days * 48:
            break
        w.writerow(row)
        kept += 1
print(f"kept {kept} rows ({days} days)")
