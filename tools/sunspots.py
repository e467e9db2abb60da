#!/usr/bin/env python3
"""Writes data/sunspots.csv: the yearly mean sunspot numbers 1700-2008 as bundled with
statsmodels (`statsmodels.datasets.sunspots`, public domain), copied verbatim from its CSV
file and checked against `load_pandas()`.

Usage (from the repository root):

    python tools/sunspots.py

requires: statsmodels
"""

import csv
import os

import statsmodels.datasets.sunspots as sunspots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    src = os.path.join(os.path.dirname(sunspots.__file__), "sunspots.csv")
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert [h.strip('"') for h in header] == ["YEAR", "SUNACTIVITY"], header
    frame = sunspots.load_pandas().data
    assert len(body) == len(frame) == 309
    for (year, value), (_, want) in zip(body, frame.iterrows()):
        assert float(year) == want["YEAR"] and float(value) == want["SUNACTIVITY"]
    out = os.path.join(ROOT, "data", "sunspots.csv")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write("year,sunspots\n")
        for year, value in body:
            f.write(f"{int(float(year))},{value}\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
