#!/usr/bin/env bash
# The PyTorch yardstick over several seeds (test loss at the end only), to
# put the spread of one-epoch test accuracy next to mnistgpu's CPU runs.
#   device call: bash bench/device/torch-seeds.sh   (carry: .devdata)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for k in 3 5; do
  for s in 0 1 2 3 4 5; do
    timeout 120 python3 bench/device/torch_ref.py --data .devdata --kernel $k --seed $s --test-every 0 2>/dev/null | tail -1 >> "$OUT/seeds.jsonl"
  done
done
python3 - "$OUT/seeds.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for k in (3, 5):
    acc = [r["test_acc"] for r in rows if r["kernel"] == k]
    print(f"k={k}: test acc " + " ".join(f"{a:.4f}" for a in acc) + f"  mean {statistics.mean(acc):.4f} sd {statistics.stdev(acc):.4f}  train_s " + " ".join(str(r['train_s']) for r in rows if r['kernel'] == k))
PY
