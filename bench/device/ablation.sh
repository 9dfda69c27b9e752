#!/usr/bin/env bash
# Which of mnistgpu's initial weights and data order does the one-epoch
# accuracy depend on? PyTorch trains k=3 for one epoch from each combination
# of {mnistgpu's init, torch's init} × {mnistgpu's order, torch's order}.
# Prepare: go run ./dev/parity -seed S -kernel 3 -out .devdata/parity  (S = 1, 2, 3)
#   device call: bash bench/device/ablation.sh   (carry: .devdata)
set -uo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
p() { timeout 100 python3 bench/device/torch_parity.py --data .devdata --accuracy-only "$@" 2>&1 | tail -1; }
for s in 1 2 3; do
  ck=.devdata/parity/init-k3-seed$s.ckpt; od=.devdata/parity/order-seed$s-n60000-epoch1.i32
  p --ckpt $ck --order $od
  p --ckpt $ck --order $od --torch-init $s
  p --ckpt $ck --order $od --torch-order $s
  p --ckpt $ck --order $od --torch-init $s --torch-order $s
done
