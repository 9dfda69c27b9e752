#!/usr/bin/env bash
# One-shot GPU check, run in one device call on a machine with an NVIDIA GPU
# (no Go needed there). Build first, here:   make gpu-check-build
# then on the device, carrying bin/ and .devdata/ (the four MNIST .gz files):
#   bash scripts/gpu-check.sh
# It prints what it finds and runs, in order:
#   1. the NVIDIA libraries and headers there; our hand-declared signatures
#      and enum values against those headers (scripts/check_headers.py);
#   2. `mnistgpu devices`;
#   3. the test binaries: NVRTC compiles the kernels; every op and 50 training
#      steps on the GPU against the CPU backend (gpu parity tests), with TF32
#      allowed (the default) and again in plain FP32 (MNISTGPU_TF32=0);
#   4. one epoch each of k=3 and k=5 with --test-every 1 (and k=3 with the
#      test loss at the end only), on the GPU;
#   5. the PyTorch yardstick (bench/device/torch_ref.py) with the same data
#      and settings;
# and last one comparison table. Logs and summaries go to $OUT (or /tmp/gpu-check).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
DATA=${DATA:-.devdata}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
step() { echo; echo "=== $*"; }

step "machine"
date -u
# bin/ is built on the development machine (Debian 12): it needs glibc ≥ 2.34 here.
ldd --version 2>&1 | head -1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' || true

step "NVIDIA libraries and headers on this machine"
timeout 60 find / -xdev \( -name 'libcudnn.so.*' -o -name 'libcublas.so.*' -o -name 'libnvrtc.so.*' -o -name 'libcuda.so.1' -o -name 'cudnn_*.h' -o -name 'cudnn.h' \) \
  -not -path '/proc/*' 2>/dev/null | sort | head -40
# Headers from pip wheels and toolkits: point the checker at every include folder found.
step "our declarations against the real headers"
python3 scripts/check_headers.py 2>&1 | tee "$OUT/headers.txt" | grep -v '^cu[A-Z].*\] \|^nvrtc.*\] ' || true

step "mnistgpu devices"
bin/mnistgpu devices 2>&1 | tee "$OUT/devices.txt"

step "NVRTC compiles the kernels (gpu/internal/cuda tests)"
bin/cuda.test -test.v 2>&1 | tail -20 | tee "$OUT/cuda-test.txt"

step "GPU parity against the CPU backend (gpu tests)"
timeout 300 bin/gpu.test -test.v -test.timeout 280s 2>&1 | tee "$OUT/parity.txt" | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|max \|gpu|step|relative|differ|skip' | head -120
step "GPU parity with TF32 off (MNISTGPU_TF32=0): convolutions and training"
MNISTGPU_TF32=0 timeout 200 bin/gpu.test -test.v -test.run 'Conv|Training' -test.timeout 180s 2>&1 | tee "$OUT/parity-fp32.txt" | grep -E '^(--- |PASS|FAIL|ok)|max \|gpu|50 steps' | head -60

# Peak host memory too, where GNU time is installed.
TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -v"
train() { # name, flags...
  local name=$1; shift
  step "mnistgpu train $name: $*"
  $TIME bin/mnistgpu train --device cuda --data-dir "$DATA" --out "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1
  echo "exit $?"; grep -vE '^\s*[0-9]+/|it/s' "$OUT/$name.log" | grep -E 'training|test|train|time|error|Maximum resident' | head -20
}
train k3-every1 --kernel 3 --test-every 1
train k5-every1 --kernel 5 --test-every 1
train k3-end --kernel 3 --test-every 0
train k5-end --kernel 5 --test-every 0

step "PyTorch yardstick, same data and settings"
for args in "--kernel 3 --test-every 1" "--kernel 5 --test-every 1" "--kernel 3 --test-every 0" "--kernel 5 --test-every 0"; do
  echo "-- torch_ref.py $args"
  timeout 240 python3 bench/device/torch_ref.py --data "$DATA" $args 2>>"$OUT/torch.stderr" | tail -1 | tee -a "$OUT/torch.jsonl"
done

step "comparison"
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
for name in ("k3-every1", "k5-every1", "k3-end", "k5-end"):
    p = os.path.join(out, name, "summary.json")
    if not os.path.exists(p):
        rows.append((f"mnistgpu {name}", "-", "-", "-", "-", "-", "missing"))
        continue
    s = json.load(open(p))
    rows.append((f"mnistgpu {name}", s["kernel"], s["test_every"], round(s["train_s"], 2), round(s["total_s"], 2),
                 round(s["test_acc"], 4) if s.get("test_acc") is not None else "-", s["device_name"]))
for line in open(os.path.join(out, "torch.jsonl")) if os.path.exists(os.path.join(out, "torch.jsonl")) else []:
    if line.startswith("{"):
        r = json.loads(line)
        rows.append(("torch_ref", r["kernel"], r["test_every"], r["train_s"], r["run_s"], r["test_acc"], r["device"]))
print(f"{'run':22} {'k':>2} {'every':>5} {'train_s':>9} {'total_s':>9} {'test_acc':>9}  device")
for r in rows:
    print(f"{r[0]:22} {r[1]!s:>2} {r[2]!s:>5} {r[3]!s:>9} {r[4]!s:>9} {r[5]!s:>9}  {r[6]}")
PY
