#!/usr/bin/env python3
"""PyTorch on one thread, for comparison with the recurrent lines of examples/bench.rs
(gru-8x8-h32-b32-adam: the digits GRU classifier, 8 steps of 8 values, batches of 32, Adam;
lstm-h32-l16-b1-sgd: a stream step, 16 steps of 4 values, batch 1, SGD, the state carried).
Random data, cross-entropy; prints the fastest and the median 50 ms slice over 3 s.
Not part of CI.

    python tools/torch_rnn_bench.py

requires: torch
"""
import time, torch
from torch import nn
torch.set_num_threads(1)
torch.manual_seed(0)

class Clf(nn.Module):
    def __init__(self, cell, inp, h, out):
        super().__init__()
        self.rnn = cell(inp, h, batch_first=True)
        self.fc = nn.Linear(h, out)
    def forward(self, x, state=None):
        y, s = self.rnn(x, state)
        return self.fc(y[:, -1]), s

def bench(name, model, opt, L, N, B, O, carry):
    xs = [torch.rand(B, L, N) for _ in range(64)]
    ys = [torch.randint(0, O, (B,)) for _ in range(64)]
    loss_fn = nn.CrossEntropyLoss()
    state = None
    def step(i):
        nonlocal state
        opt.zero_grad()
        out, s = model(xs[i % 64], state)
        loss = loss_fn(out, ys[i % 64])
        loss.backward()
        opt.step()
        if carry:
            state = tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach()
    for i in range(20): step(i)
    best = 0.0; rates = []
    start = time.perf_counter(); i = 0
    while time.perf_counter() - start < 3.0:
        t0 = time.perf_counter(); n = 0
        while time.perf_counter() - t0 < 0.05:
            step(i); i += 1; n += B
        rates.append(n / (time.perf_counter() - t0))
    rates.sort()
    print(f"torch {name}: best {rates[-1]:.0f} samples/s, median {rates[len(rates)//2]:.0f}")

m = Clf(nn.GRU, 8, 32, 10)
bench("gru-8x8-h32-b32-adam", m, torch.optim.Adam(m.parameters(), lr=0.01), 8, 8, 32, 10, False)
m = Clf(nn.LSTM, 4, 32, 3)
bench("lstm-h32-l16-b1-sgd", m, torch.optim.SGD(m.parameters(), lr=0.01), 16, 4, 1, 3, True)
