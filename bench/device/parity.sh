#!/usr/bin/env bash
# Replays the CPU backend's 1-epoch runs (k=3 and k=5, seed 1) in PyTorch
# from the same initial weights and data order, on a lent GPU (TF32 off).
# Prepare on the development machine, then run in one device call with
# .devdata carried:
#   go run ./dev/parity -seed 1 -kernel 3 -out .devdata/parity
#   go run ./dev/parity -seed 1 -kernel 5 -out .devdata/parity
#   mnistgpu train --device cpu --kernel K --seed 1 --out .devdata/ours-kK   (K = 3, 5)
#   device: bash bench/device/parity.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for k in 3 5; do
  echo "== k=$k"
  timeout 200 python3 bench/device/torch_parity.py --data .devdata \
    --ckpt .devdata/parity/init-k$k-seed1.ckpt \
    --order .devdata/parity/order-seed1-n60000-epoch1.i32 \
    --ours .devdata/ours-k$k 2>&1 | tail -40
done
