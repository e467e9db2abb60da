#!/usr/bin/env python3
"""The PyTorch ends of the fine-tuning walk-through (README, "Weights and checkpoints").

    python3 tools/finetune_iris.py train
        Trains a 4-16-3 ReLU network in PyTorch on the "lab" flowers of data/iris.csv (the
        even rows) and writes its state_dict as examples/cortex-m/data/iris_base.safetensors,
        the file the `finetune` firmware loads from flash.

    python3 tools/finetune_iris.py check FIRMWARE_OUTPUT
        Reads what the `finetune` firmware printed (its fine-tuned weights as a safetensors
        file in hex, its held-out accuracy and logits), loads the weights into the same PyTorch
        module with load_state_dict(strict=True), and checks that PyTorch computes the device's
        logits (printed as the bits of each f32, in hex; 1e-5 relative to the largest) and accuracy on the device's held-out flowers.

The device's flowers are the odd rows, measured by a sensor with another gain and offset per
feature (GAIN, OFFSET: the same constants as in examples/cortex-m/src/bin/finetune.rs); of
these, rows i with i % 5 < 3 train on the device and the others are held out.
"""
import csv
import pathlib
import re
import struct
import sys

import torch
from safetensors.torch import load, save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASE = ROOT / "examples/cortex-m/data/iris_base.safetensors"
GAIN = [1.2, 0.8, 1.3, 1.5]
OFFSET = [-1.0, 0.5, 0.8, 0.3]


def iris():
    rows = list(csv.reader(open(ROOT / "data/iris.csv")))[1:]
    x = torch.tensor([[float(v) for v in r[:4]] for r in rows], dtype=torch.float32)
    y = torch.tensor([int(r[4]) for r in rows])
    return x, y


def network():
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


def device_held_out():
    x, y = iris()
    x, y = x[1::2], y[1::2]
    # The same arithmetic as the firmware, in f32: x * gain + offset.
    x = x * torch.tensor(GAIN, dtype=torch.float32) + torch.tensor(OFFSET, dtype=torch.float32)
    held = [i for i in range(len(y)) if i % 5 >= 3]
    return x[held], y[held]


def train():
    torch.manual_seed(0)
    x, y = iris()
    x, y = x[0::2], y[0::2]
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(500):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    acc = (net(x).argmax(1) == y).float().mean().item()
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(BASE), metadata={"format": "pt"})
    xd, yd = device_held_out()
    before = (net(xd).argmax(1) == yd).float().mean().item()
    print(f"lab flowers: training loss {loss.item():.4f}, accuracy {acc:.4f}")
    print(f"device's held-out flowers (other sensor), before fine-tuning: accuracy {before:.4f}")
    print(f"wrote {BASE.relative_to(ROOT)}")


def check(log_path):
    text = open(log_path, encoding="utf-8").read()
    hexdump = "".join(re.findall(r"^safetensors: ([0-9a-f]+)$", text, re.M))
    if not hexdump:
        sys.exit("no 'safetensors:' lines in the firmware's output")
    net = network()
    net.load_state_dict(load(bytes.fromhex(hexdump)), strict=True)
    xd, yd = device_held_out()
    with torch.no_grad():
        logits = net(xd)
    acc = (logits.argmax(1) == yd).float().mean().item()
    m = re.search(r"^after reboot: held-out accuracy ([0-9.]+)", text, re.M)
    device_acc = float(m.group(1))
    device_logits = [
        [struct.unpack("<f", int(v, 16).to_bytes(4, "little"))[0] for v in line.split()]
        for line in re.findall(r"^logits: (.+)$", text, re.M)
    ]
    if len(device_logits) != len(yd):
        sys.exit(f"expected {len(yd)} 'logits:' lines, found {len(device_logits)}")
    diff = (logits - torch.tensor(device_logits)).abs().max().item()
    scale = logits.abs().max().item()
    print(f"PyTorch loaded the device's weights (strict=True): held-out accuracy {acc:.4f}, "
          f"device {device_acc:.4f}; largest logit difference {diff:.2e} (of {scale:.2f})")
    if abs(acc - device_acc) > 1e-4 or diff > 1e-5 * max(1.0, scale):
        sys.exit("FAIL: PyTorch and the device disagree")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "train":
        train()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
