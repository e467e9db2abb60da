#!/usr/bin/env python3
"""The README's speed table: `examples/bench.rs` in three builds, and dfdx on the same lines.

Builds the bench for the default target (SSE2 on x86_64; with the `std` feature the matrix
products pick AVX2 tiles at run time where the processor has AVX2 and FMA), for
`target-cpu=haswell` (AVX2 and FMA) and for `target-cpu=native`, each in its own target
directory, plus `tools/dfdx_bench` (dfdx 0.13 on the four MLP training lines), then runs them
in turn, `--runs` rounds (default 2), and prints a Markdown table of the ranges: samples/s per
line, GFLOP/s and share of the measured peak for the 784-128-10 training line, and each
build's peak. Timings vary with the machine and its load, so they are printed, not checked.

    python3 tools/speed.py [--runs N] [--no-dfdx]
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = [
    ("default build", ""),
    ("`target-cpu=haswell` (AVX2, FMA)", "-C target-cpu=haswell"),
    ("`target-cpu=native`", "-C target-cpu=native"),
]
LINE = re.compile(r"^bench (\S+): ([0-9.]+) samples/s, ([0-9.]+) GFLOP/s$")
PEAK = re.compile(r"^bench peak: ([0-9.]+) GFLOP/s$")
SHARE = re.compile(r"^  (\S+): ([0-9]+) % of peak$")
KERNELS = re.compile(r"^matrix products: (.*)$")


def build(flags, target_dir):
    env = dict(os.environ, RUSTFLAGS=flags, CARGO_TARGET_DIR=target_dir)
    subprocess.run(
        ["cargo", "build", "--release", "--example", "bench", "-q"],
        cwd=ROOT, env=env, check=True,
    )
    return os.path.join(target_dir, "release", "examples", "bench")


def run(cmd, cwd=ROOT):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    lines, peak, shares, kernels = {}, None, {}, None
    for text in p.stdout.splitlines():
        if m := LINE.match(text):
            lines[m[1]] = (float(m[2]), float(m[3]))
        elif m := PEAK.match(text):
            peak = float(m[1])
    for text in p.stderr.splitlines():
        if m := SHARE.match(text):
            shares[m[1]] = int(m[2])
        elif m := KERNELS.match(text):
            kernels = m[1]
        elif "WARNING" in text:
            print(text, file=sys.stderr)
    return lines, peak, shares, kernels


def rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} K"


def span(values, fmt):
    lo, hi = min(values), max(values)
    a, b = fmt(lo), fmt(hi)
    if a == b:
        return a
    unit = b.split(" ")[-1] if " " in b else ""
    if unit and a.endswith(" " + unit):
        a = a[: -len(unit) - 1]
    return f"{a}–{b}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-dfdx", action="store_true")
    args = ap.parse_args()
    binaries = []
    for i, (name, flags) in enumerate(BUILDS):
        print(f"building: {name}", file=sys.stderr)
        binaries.append((name, [build(flags, os.path.join(ROOT, "target", f"speed-{i}"))]))
    dfdx = None
    if not args.no_dfdx:
        print("building: dfdx_bench", file=sys.stderr)
        d = os.path.join(ROOT, "tools", "dfdx_bench")
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=d, check=True)
        dfdx = ("dfdx 0.13", [os.path.join(d, "target", "release", "dfdx_bench")])
    results = {name: [] for name, _ in binaries}
    if dfdx:
        results[dfdx[0]] = []
    kernels = {}
    for r in range(args.runs):
        for name, cmd in binaries + ([dfdx] if dfdx else []):
            print(f"run {r + 1}/{args.runs}: {name}", file=sys.stderr)
            out = run(cmd)
            results[name].append(out)
            if out[3]:
                kernels[name] = out[3]
    names = [n for n, _ in binaries]
    order = list(results[names[0]][0][0])
    cols = names + ([dfdx[0]] if dfdx else [])
    print("| configuration | " + " | ".join(cols) + " |")
    print("| --- |" + " --- |" * len(cols))
    for line in order:
        cells = []
        for c in cols:
            got = [o[0][line] for o in results[c] if line in o[0]]
            if not got:
                cells.append("")
                continue
            cell = span([g[0] for g in got], rate)
            if line.startswith("mlp-784"):
                gf = span([g[1] for g in got], lambda x: f"{x:.1f}")
                shares = [o[2][line] for o in results[c] if line in o[2]]
                share = f", {span(shares, str)} % of peak" if shares else ""
                cell += f" ({gf} GFLOP/s{share})"
            cells.append(cell)
        print(f"| `{line}` | " + " | ".join(cells) + " |")
    peaks = [span([o[1] for o in results[c]], lambda x: f"{x:.1f}") + " GFLOP/s" if c in names else "" for c in cols]
    print("| `bench peak` | " + " | ".join(peaks) + " |")
    if dfdx:
        print()
        for line in results[dfdx[0]][0][0]:
            ratios = [
                t[0][line][0] / d[0][line][0]
                for t, d in zip(results[names[0]], results[dfdx[0]])
                if line in t[0] and line in d[0]
            ]
            print(f"default build / dfdx, `{line}`: {span(ratios, lambda x: f'{x:.2f}')}×")
    for name, k in kernels.items():
        print(f"{name}: matrix products: {k}", file=sys.stderr)


if __name__ == "__main__":
    main()
