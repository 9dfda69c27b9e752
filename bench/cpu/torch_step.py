#!/usr/bin/env python3
"""PyTorch CPU yardstick for `make bench-torch-cpu`: times the network of
bench/device/torch_ref.py (imported from there, so the two cannot drift) on
random MNIST-shaped data, the way internal/model's BenchmarkTrainStep and
BenchmarkTestForward time ours:

  step k=3 / k=5: one training step of batch 64 (forward, cross-entropy,
                  backward, Adam), median over --reps after --warm steps;
  test k=3:       an inference pass over 10,000 images in batches of 500.

Prints one line per measurement: "torch <name> <seconds>".
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "device"))
from torch_ref import build  # noqa: E402


def step_time(k, reps, warm):
    torch.manual_seed(0)
    net = build(k)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    x = torch.rand(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    times = []
    for i in range(warm + reps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        if i >= warm:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_time(k, reps):
    torch.manual_seed(0)
    net = build(k)
    net.eval()
    x = torch.rand(10000, 1, 28, 28)
    times = []
    with torch.no_grad():
        net(x[:500])
        for _ in range(reps):
            t0 = time.perf_counter()
            for first in range(0, 10000, 500):
                net(x[first:first + 500]).argmax(1)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--what", choices=["step3", "step5", "test3"], required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.what == "test3":
        print(f"torch test3 {test_time(3, max(1, args.reps // 5)):.6f}")
    else:
        k = int(args.what[-1])
        print(f"torch {args.what} {step_time(k, args.reps, args.warm):.6f}")


if __name__ == "__main__":
    main()
