#!/usr/bin/env python3
"""Differential test data for tinyprop's safetensors files, in both directions.

1. PyTorch -> tinyprop. Trains three small models in float64 (an MLP, an MLP with
   BatchNorm1d, a residual MLP written as tinyprop's names document: `self.block`,
   `self.projection`), and writes, relative to the repository root:

       tests/data/torch_{mlp,bn_mlp,residual_mlp}_f64.safetensors   state_dict, float64
       tests/data/torch_{mlp,bn_mlp,residual_mlp}_f32.safetensors   the same, float32
       tests/data/torch_models.txt   the inputs and the logits PyTorch computes (eval mode)
                                      for each model, in float64 and in float32

   tests/external/tests/io.rs loads the files into tinyprop and compares its logits with these.

2. tinyprop -> PyTorch. If the files that tinyprop's test exports are present
   (tests/data/tinyprop_{mlp,bn_mlp,residual_mlp}.safetensors and tinyprop_export.txt, with
   the logits tinyprop computed; `TINYPROP_WRITE_EXPORT=1 cargo test -p tinyprop-external-tests io::` writes them),
   loads each into the same PyTorch module with load_state_dict(strict=True), computes the
   logits, and writes the comparison to tests/data/tinyprop_export_check.txt.

Everything is seeded and runs on one CPU thread, so the output is deterministic. Floats are
written with repr(), which round-trips exactly.

Usage (from the repository root):

    python tools/torch_models.py

requires: torch, safetensors
"""

import copy
import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
TORCH_VERSION = torch.__version__.split("+")[0]
MODELS = ["mlp", "bn_mlp", "residual_mlp"]
SAMPLES, FEATURES, CLASSES = 6, 4, 3


class Residual(nn.Module):
    """tinyprop's Residual: y = block(x) + x."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block(x) + x


class ResidualProjection(nn.Module):
    """tinyprop's ResidualProjection: y = block(x) + projection(x)."""

    def __init__(self, block, projection):
        super().__init__()
        self.block = block
        self.projection = projection

    def forward(self, x):
        return self.block(x) + self.projection(x)


def build(name):
    """The PyTorch module of each model; tests/external/tests/io.rs has the tinyprop type of each."""
    if name == "mlp":
        # (Dense<4, 8>, Tanh, Dense<8, 3>)
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    if name == "bn_mlp":
        # (Dense<4, 8>, BatchNorm<8>, Relu, Dense<8, 3>)
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    if name == "residual_mlp":
        # (Dense<4, 8>, Relu, Residual<(Dense<8, 8>, Tanh, Dense<8, 8>)>,
        #  ResidualProjection<(Dense<8, 6>, Relu, Dense<6, 6>), DenseNoBias<8, 6>>, Dense<6, 3>)
        return nn.Sequential(
            nn.Linear(4, 8),
            nn.ReLU(),
            Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))),
            ResidualProjection(
                nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 6)),
                nn.Linear(8, 6, bias=False),
            ),
            nn.Linear(6, 3),
        )
    raise ValueError(name)


def inputs():
    g = torch.Generator().manual_seed(20240601)
    x = torch.randn(SAMPLES, FEATURES, generator=g, dtype=torch.float64)
    y = torch.randint(0, CLASSES, (SAMPLES,), generator=g)
    return x, y


def train(name, x, y):
    torch.manual_seed(1000 + MODELS.index(name))
    model = build(name).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(25):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return model.eval()


def fmt_row(row):
    return " ".join(repr(float(v)) for v in row)


def write_torch_models():
    x, y = inputs()
    lines = [
        "# PyTorch logits of the models in tests/data/torch_*.safetensors, in eval mode.",
        f"# Written by tools/torch_models.py (torch {TORCH_VERSION}); rows are samples.",
        f"inputs {SAMPLES} {FEATURES}",
    ]
    lines += [fmt_row(r) for r in x]
    for name in MODELS:
        model = train(name, x, y)
        save_file(model.state_dict(), os.path.join(DATA, f"torch_{name}_f64.safetensors"))
        with torch.no_grad():
            logits64 = model(x)
        model32 = copy.deepcopy(model).float()
        save_file(model32.state_dict(), os.path.join(DATA, f"torch_{name}_f32.safetensors"))
        with torch.no_grad():
            logits32 = model32(x.float())
        lines.append(f"logits {name} f64 {SAMPLES} {CLASSES}")
        lines += [fmt_row(r) for r in logits64]
        lines.append(f"logits {name} f32 {SAMPLES} {CLASSES}")
        lines += [fmt_row(r) for r in logits32]
    with open(os.path.join(DATA, "torch_models.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def read_export(path):
    """tinyprop_export.txt: `inputs R C` then rows; `logits NAME R C` then rows."""
    tables, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = line.split()
            if words[0] in ("inputs", "logits"):
                current = words[0] if words[0] == "inputs" else words[1]
                tables[current] = []
            else:
                tables[current].append([float(w) for w in words])
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in tables.items()}


def relative_error(a, b):
    """The largest |a - b| / max(|a|, |b|) over the elements (0 where both are 0)."""
    scale = torch.maximum(a.abs(), b.abs())
    err = torch.where(scale > 0, (a - b).abs() / scale, torch.zeros_like(a))
    return float(err.max())


def check_exports():
    export = os.path.join(DATA, "tinyprop_export.txt")
    if not os.path.exists(export):
        print("no tinyprop export to check (run TINYPROP_WRITE_EXPORT=1 cargo test -p tinyprop-external-tests io::)")
        return
    tables = read_export(export)
    x = tables["inputs"]
    lines = [
        "# tinyprop-trained models loaded into PyTorch with load_state_dict(strict=True), float64.",
        f"# Written by tools/torch_models.py (torch {TORCH_VERSION}) from tests/data/tinyprop_*.",
        "# model, largest relative difference of PyTorch's logits from tinyprop's, verdict (< 1e-12)",
    ]
    failed = False
    for name in MODELS:
        model = build(name).double()
        state = load_file(os.path.join(DATA, f"tinyprop_{name}.safetensors"))
        result = model.load_state_dict(state, strict=True)
        assert not result.missing_keys and not result.unexpected_keys
        model.eval()
        with torch.no_grad():
            logits = model(x)
        err = relative_error(logits, tables[name])
        ok = err < 1e-12
        failed |= not ok
        lines.append(f"{name} {err!r} {'ok' if ok else 'FAILED'}")
    with open(os.path.join(DATA, "tinyprop_export_check.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    write_torch_models()
    check_exports()
