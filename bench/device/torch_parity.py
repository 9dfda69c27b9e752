#!/usr/bin/env python3
"""Replays a mnistgpu CPU training run in PyTorch from the same initial
weights and the same data order, and compares the two step by step.

Inputs (made on the development machine, carried to the GPU machine):
  --ckpt   the run's initial weights: `go run ./dev/parity` writes
           init-k<K>-seed<S>.ckpt (mnistgpu checkpoint format, NHWC/Keras layouts)
  --order  the epoch's permutation of the training images (int32, little endian)
  --ours   the run's metrics.csv and summary.json folder (mnistgpu train --out)
  --data   the four MNIST .gz files

The model is torch_ref.py's (same file, imported), float32 with TF32 off.
Differences that remain by construction: torch's Adam scales eps by
sqrt(1-beta2^t) and its BN running variance is unbiased (n/(n-1)); both
are far below the losses' float32 noise here.
Prints a table of batch losses at chosen steps, the test losses where the
run evaluated, and final test accuracy (inference mode) for both.
"""
import argparse
import csv
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref  # noqa: E402


def read_ckpt(path):
    data = open(path, "rb").read()
    assert data[:8] == b"MNISTGPU", "not a mnistgpu checkpoint"
    version, hlen = struct.unpack("<II", data[8:16])
    assert version == 1, version
    header = json.loads(data[16:16 + hlen])
    off = 16 + hlen
    values = {}
    for t in header["tensors"]:
        n = int(np.prod(t["shape"])) if t["shape"] else 1
        values[t["name"]] = np.frombuffer(data, dtype="<f4", count=n, offset=off).reshape(t["shape"])
        off += 4 * n
    return header, values


def load_into(net, v):
    conv = lambda w: torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    blk = net[3]
    layers = {
        "conv2d": net[0], "resblock_conv_a": blk.conv1, "resblock_conv_b": blk.conv2, "conv2d_1": net[4],
    }
    bns = {
        "batch_normalization": net[2], "resblock_bn_a": blk.bn1, "resblock_bn_b": blk.bn2,
        "batch_normalization_1": net[6], "batch_normalization_2": net[11],
    }
    with torch.no_grad():
        for name, m in layers.items():
            m.weight.copy_(conv(v[name + "/kernel"]))
            m.bias.copy_(torch.from_numpy(v[name + "/bias"].copy()))
        for name, m in bns.items():
            m.weight.copy_(torch.from_numpy(v[name + "/gamma"].copy()))
            m.bias.copy_(torch.from_numpy(v[name + "/beta"].copy()))
            m.running_mean.copy_(torch.from_numpy(v[name + "/moving_mean"].copy()))
            m.running_var.copy_(torch.from_numpy(v[name + "/moving_variance"].copy()))
        # Our flatten is NHWC (h, w, c); torch's is NCHW (c, h, w).
        w = v["dense/kernel"].reshape(12, 12, 64, 128).transpose(3, 2, 0, 1).reshape(128, 9216)
        net[9].weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
        net[9].bias.copy_(torch.from_numpy(v["dense/bias"].copy()))
        net[12].weight.copy_(torch.from_numpy(np.ascontiguousarray(v["dense_1/kernel"].T)))
        net[12].bias.copy_(torch.from_numpy(v["dense_1/bias"].copy()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--order", required=True)
    ap.add_argument("--ours", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--torch-init", type=int, default=None, metavar="SEED",
                    help="ablation: start from torch_ref's own initialization with this seed instead of --ckpt's weights")
    ap.add_argument("--torch-order", type=int, default=None, metavar="SEED",
                    help="ablation: use torch.randperm with this seed instead of --order")
    ap.add_argument("--accuracy-only", action="store_true", help="print only the final accuracy line (no --ours needed)")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)

    header, values = read_ckpt(args.ckpt)
    k = header["config"]["kernel"]
    xtr, ytr, xte, yte = torch_ref.load(args.data)
    xtr = torch.from_numpy(xtr.copy()).to(dev).float().div_(255).unsqueeze(1)
    xte = torch.from_numpy(xte.copy()).to(dev).float().div_(255).unsqueeze(1)
    ytr = torch.from_numpy(ytr.astype(np.int64)).to(dev)
    yte = torch.from_numpy(yte.astype(np.int64)).to(dev)
    if args.torch_order is not None:
        order = torch.randperm(xtr.shape[0], generator=torch.Generator(device="cpu").manual_seed(args.torch_order)).to(dev)
    else:
        order = torch.from_numpy(np.fromfile(args.order, dtype="<i4").astype(np.int64)).to(dev)
    assert order.numel() == xtr.shape[0], (order.numel(), xtr.shape[0])

    if args.torch_init is not None:
        torch.manual_seed(args.torch_init)
        net = torch_ref.build(k).to(dev)
    else:
        net = torch_ref.build(k).to(dev)
        load_into(net, values)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

    ours, summary, test_steps = {}, {}, []
    if not args.accuracy_only:
        with open(os.path.join(args.ours, "metrics.csv")) as f:
            for row in csv.DictReader(f):
                ours[int(row["step"])] = row
        summary = json.load(open(os.path.join(args.ours, "summary.json")))
        test_steps = sorted(s for s, r in ours.items() if r["test_loss"] != "")

    n = xtr.shape[0]
    steps = (n + args.batch - 1) // args.batch
    losses, tests = [], {}
    net.train()
    for i in range(steps):
        idx = order[i * args.batch:(i + 1) * args.batch]
        loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if i + 1 in test_steps:
            tl, _ = torch_ref.evaluate(net, xte, yte, 10000)
            tests[i + 1] = float(tl)
    tl, tc = torch_ref.evaluate(net, xte, yte, 10000)
    torch_acc = float(tc) / xte.shape[0]
    if args.accuracy_only:
        init = f"torch init seed {args.torch_init}" if args.torch_init is not None else f"init {os.path.basename(args.ckpt)}"
        order_src = f"torch order seed {args.torch_order}" if args.torch_order is not None else f"order {os.path.basename(args.order)}"
        print(f"k={k} {init}, {order_src}: test acc {torch_acc:.4f} loss {float(tl):.5f}, last-100-step batch loss {np.mean(losses[-100:]):.5f}")
        return

    print(f"k={k}, {steps} steps, device {torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu'}, TF32 off")
    print(f"{'step':>5} {'ours batch_loss':>16} {'torch batch_loss':>17} {'rel diff':>9}")
    show = [1, 2, 3, 5, 10, 20, 50, 100, 200, 400, 600, 800, steps]
    worst = {}
    for s in range(1, steps + 1):
        a, b = float(ours[s]["batch_loss"]), losses[s - 1]
        worst[s] = abs(a - b) / max(abs(b), 1e-12)
    for s in show:
        if s <= steps:
            print(f"{s:>5} {float(ours[s]['batch_loss']):>16.6f} {losses[s - 1]:>17.6f} {worst[s]:>9.2e}")
    for lim in (10, 50, 100):
        print(f"max relative batch-loss difference over steps 1..{lim}: {max(worst[s] for s in range(1, lim + 1)):.2e}")
    print(f"mean batch loss, last 100 steps: ours {np.mean([float(ours[s]['batch_loss']) for s in range(steps - 99, steps + 1)]):.5f}, torch {np.mean(losses[-100:]):.5f}")
    print(f"{'step':>5} {'ours test_loss':>15} {'torch test_loss':>16}")
    for s in test_steps:
        print(f"{s:>5} {float(ours[s]['test_loss']):>15.5f} {tests.get(s, float('nan')):>16.5f}")
    print(f"final test accuracy (inference mode): ours {summary['test_acc']:.4f}, torch {torch_acc:.4f}; test loss ours {summary['test_loss']:.5f}, torch {float(tl):.5f}")
    print(json.dumps({"kernel": k, "ours_test_acc": summary["test_acc"], "torch_test_acc": torch_acc,
                      "ours_test_loss": summary["test_loss"], "torch_test_loss": float(tl),
                      "max_rel_diff_first_10": max(worst[s] for s in range(1, 11)),
                      "max_rel_diff_first_100": max(worst[s] for s in range(1, 101))}))


if __name__ == "__main__":
    main()
