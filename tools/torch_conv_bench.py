#!/usr/bin/env python3
"""PyTorch on one thread, for comparison with the convolution lines of examples/bench.rs
(conv-digits-b32-adam: the digits CNN of examples/digits_cnn.rs, 1x8x8 inputs, batches of 32,
Adam; conv-28x28-b32-sgd: 1->16->32 channels of 3x3 with padding 1, two 2x2 max pools and a
dense layer of 10 on 1x28x28 inputs, batches of 32, SGD). Random data, cross-entropy, a full
training step (zero_grad, forward, backward, step); prints the fastest and the median 50 ms
slice over 3 s. Not part of CI.

    python tools/torch_conv_bench.py

requires: torch
"""
import time, torch
from torch import nn
torch.set_num_threads(1)
torch.manual_seed(0)


def cnn(n):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (n // 4) * (n // 4), 10),
    )


def bench(name, model, opt, n, B):
    xs = [torch.rand(B, 1, n, n) for _ in range(64)]
    ys = [torch.randint(0, 10, (B,)) for _ in range(64)]
    loss_fn = nn.CrossEntropyLoss()
    def step(i):
        opt.zero_grad()
        loss = loss_fn(model(xs[i % 64]), ys[i % 64])
        loss.backward()
        opt.step()
    for i in range(20): step(i)
    rates = []
    start = time.perf_counter(); i = 0
    while time.perf_counter() - start < 3.0:
        t0 = time.perf_counter(); n_samples = 0
        while time.perf_counter() - t0 < 0.05:
            step(i); i += 1; n_samples += B
        rates.append(n_samples / (time.perf_counter() - t0))
    rates.sort()
    print(f"torch {name}: best {rates[-1]:.0f} samples/s, median {rates[len(rates)//2]:.0f}")


m = cnn(8)
bench("conv-digits-b32-adam", m, torch.optim.Adam(m.parameters(), lr=0.003), 8, 32)
m = cnn(28)
bench("conv-28x28-b32-sgd", m, torch.optim.SGD(m.parameters(), lr=0.01), 28, 32)
