"""Keeps the first `prepare.days` days of the elec2 stream (gyre passes the param in
GYRE_PARAM_PREPARE_DAYS) and writes data/processed/elec2.csv.

The stream is read from, in order: $ELEC2_CSV; data/raw/elec2.csv in this project; the
repository's ../shared/data/elec2/elec2_first_half.csv when the example runs in place.
"""
import csv
import os
import pathlib
import sys

days = int(os.environ["GYRE_PARAM_PREPARE_DAYS"])
here = pathlib.Path(__file__).resolve().parent.parent
candidates = [
    pathlib.Path(os.environ["ELEC2_CSV"]) if os.environ.get("ELEC2_CSV") else None,
    here / "data" / "raw" / "elec2.csv",
    here.parents[2] / "shared" / "data" / "elec2" / "elec2_first_half.csv"
    if len(here.parents) > 2
    else None,
]
src = next((c for c in candidates if c is not None and c.is_file()), None)
if src is None:
    sys.exit(
        "no elec2 stream: copy elec2_first_half.csv (the repository's "
        "../shared/data/elec2/) to data/raw/elec2.csv, or set ELEC2_CSV to its path"
    )
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
print(f"kept {kept} rows ({days} days) of {src.name}")
