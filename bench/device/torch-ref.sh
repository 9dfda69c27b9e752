#!/usr/bin/env bash
# Runs the PyTorch yardstick (bench/device/torch_ref.py, a copy of
# shared/reference/torch_ref.py) on a lent GPU machine, with the MNIST files
# carried in .devdata/. Prints one JSON line per run and a table last.
#   device call: bash bench/device/torch-ref.sh   (carry: .devdata)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
run() {
  echo "== torch_ref.py $*"
  timeout 240 python3 bench/device/torch_ref.py --data .devdata "$@" 2>"$OUT/stderr.txt" | tail -1 | tee -a "$OUT/torch_ref.jsonl"
  tail -5 "$OUT/stderr.txt"
}
run --kernel 3 --test-every 0
run --kernel 5 --test-every 0
run --kernel 3 --test-every 1
python3 - "$OUT/torch_ref.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{'impl':10} {'k':>2} {'every':>5} {'train_s':>8} {'eval_s':>7} {'run_s':>7} {'test_acc':>8} {'test_loss':>9} {'device'}")
for r in rows:
    print(f"{r['impl']:10} {r['kernel']:>2} {r['test_every']:>5} {r['train_s']:>8} {r['eval_s']:>7} {r['run_s']:>7} {r['test_acc']:>8} {r['test_loss']:>9} {r['device']}")
PY
