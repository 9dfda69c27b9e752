#!/usr/bin/env bash
# The GPU check, in one device call on a machine with an NVIDIA GPU (no Go
# needed there). Build here first:   make gpu-check-build
# then on the device, carrying the paths it lists (bin/mnistgpu, bin/gpu.test,
# bin/cuda.test and the four MNIST .gz files in .devdata/):
#   bash scripts/gpu-check.sh [--stage N] [--dry-run]
#
# Three stages, cheapest and most informative first. A failing step or stage
# never stops the later ones; each step is bounded by its own limit, by what
# is left of its stage and by one overall deadline (GPU_CHECK_DEADLINE, 540 s,
# under the device call's 600 s):
#   1 (<= 120 s) machine facts, library discovery, our declarations against
#     the headers there, `mnistgpu devices`, NVRTC compiling the kernels,
#     every op against the CPU backend (the first mismatches printed);
#   2 (<= 180 s) 50 training steps against the CPU backend (TF32 allowed, then
#     plain FP32), and one epoch each of k=3 and k=5, test loss at the end and
#     after every step;
#   3 (<= 180 s) the PyTorch yardstick (bench/device/torch_ref.py): the one
#     eager run bench/results/ lacks (k=5 --test-every 1), then --compile and
#     --compile --cudagraphs;
# and last the comparison table (ours, this call's PyTorch runs and the three
# eager ones in bench/results/2026-11-27-h200-torch-ref.md).
# --stage N runs stage N only (the comparison still comes last); --dry-run
# prints the plan and runs nothing.
#
# What comes back (at most 8 files): $OUT/summary.txt (each step's status,
# time and limit, then the comparison) and $OUT/results.tgz (every step's
# full log and the runs' outputs, checkpoints and figures left out), both
# rewritten after every step so that a killed call still returns them, and
# $OUT/stageN.log, each stage's logs in full.
#
# The commands can be replaced (the dry-run test stubs them): MNISTGPU,
# GPU_TEST, CUDA_TEST, PYTHON, NVIDIA_SMI; and the limits: GPU_CHECK_DEADLINE,
# GPU_CHECK_STAGE{1,2,3}_S, GPU_CHECK_SCALE (divides every limit; 3 s at least)
# and GPU_CHECK_LIMIT_<step> (one step's limit in seconds, e.g.
# GPU_CHECK_LIMIT_k3_every1=120).
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bash scripts/gpu-check.sh [--stage 1|2|3] [--dry-run]"; }
ONLY="" DRY=0
while [ $# -gt 0 ]; do
  case $1 in
    --stage) ONLY=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
    --stage=*) ONLY=${1#--stage=}; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case $ONLY in ""|1|2|3) ;; *) echo "gpu-check.sh: --stage takes 1, 2 or 3, not '$ONLY'" >&2; exit 2 ;; esac

OUT=${OUT:-/tmp/gpu-check}
DATA=${DATA:-.devdata}
MNISTGPU=${MNISTGPU:-bin/mnistgpu}
GPU_TEST=${GPU_TEST:-bin/gpu.test}
CUDA_TEST=${CUDA_TEST:-bin/cuda.test}
PYTHON=${PYTHON:-python3}
NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
DEADLINE=${GPU_CHECK_DEADLINE:-540}
SCALE=${GPU_CHECK_SCALE:-1}
STAGE_S=(0 "${GPU_CHECK_STAGE1_S:-120}" "${GPU_CHECK_STAGE2_S:-180}" "${GPU_CHECK_STAGE3_S:-180}")
# A limit that is not a whole number would end the script in an arithmetic
# error mid-stage, with nothing reported: refuse it before anything runs.
for v in GPU_CHECK_DEADLINE GPU_CHECK_SCALE GPU_CHECK_STAGE1_S GPU_CHECK_STAGE2_S GPU_CHECK_STAGE3_S $(compgen -v GPU_CHECK_LIMIT_); do
  [ -z "${!v+x}" ] || [[ ${!v} =~ ^[0-9]+$ ]] || { echo "gpu-check.sh: $v must be a whole number of seconds, not '${!v}'" >&2; exit 2; }
done
(( SCALE > 0 )) || { echo "gpu-check.sh: GPU_CHECK_SCALE must be 1 or more, not '$SCALE'" >&2; exit 2; }
# Skipped GPU tests would read as passes: fail them instead.
export MNISTGPU_REQUIRE_GPU=1 PYTHONUNBUFFERED=1
WORK=/nonexistent
if (( ! DRY )); then
  mkdir -p "$OUT"
  WORK=$(mktemp -d /tmp/gpu-check-work.XXXXXX)
fi
RESULTS=() STAGE=0 STAGE_END=0 STAGE_LOG=/dev/null

# record NAME STATUS SECONDS LIMIT NOTE: one line of the summary.
record() { RESULTS+=("$(printf 'stage %s  %-16s %-8s %4ss of %4ss  %s' "$STAGE" "$1" "$2" "$3" "$4" "$5")"); }

# write_back rewrites summary.txt and results.tgz (through temporary files,
# so that a kill mid-write leaves the previous ones whole).
write_back() {
  {
    echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ), ${SECONDS}s of ${DEADLINE}s used; stages: ${ONLY:-1 2 3}"
    printf '%s\n' "${RESULTS[@]}"
    if [ -s "$WORK/comparison.txt" ]; then echo; cat "$WORK/comparison.txt"; fi
  } >"$OUT/summary.txt.tmp" && mv "$OUT/summary.txt.tmp" "$OUT/summary.txt"
  cp "$OUT/summary.txt" "$WORK/summary.txt"
  tar -czf "$OUT/results.tgz.tmp" -C "$WORK" --exclude='*.ckpt' --exclude='*.png' . 2>/dev/null &&
    mv "$OUT/results.tgz.tmp" "$OUT/results.tgz"
}

# step NAME LIMIT PATTERN COMMAND...: runs COMMAND with its output in
# $WORK/NAME.txt, for at most LIMIT seconds (scaled, or as
# GPU_CHECK_LIMIT_<NAME> says, dashes as underscores: a rerun can give one
# step that timed out more time without slowing the others), what is left of
# the stage or of the deadline, whichever is least; prints the lines matching
# PATTERN (or the last ones) and records PASS, FAIL (exit status), TIMEOUT or
# SKIPPED. It never fails the script.
step() {
  local name=$1 pattern=$3 own=GPU_CHECK_LIMIT_${1//-/_}
  local limit=${!own:-$(( $2 / SCALE < 3 ? 3 : $2 / SCALE ))}; shift 3
  local t=$limit stage_left=$(( STAGE_END - SECONDS )) left=$(( DEADLINE - SECONDS ))
  (( stage_left < t )) && t=$stage_left
  (( left < t )) && t=$left
  if (( DRY )); then
    echo "stage $STAGE  $name (limit ${limit}s): $*"
    return 0
  fi
  if (( t < 2 )); then
    record "$name" SKIPPED 0 "$limit" "no time left in the stage or before the deadline"
    write_back
    return 0
  fi
  local log=$WORK/$name.txt start=$SECONDS rc status note=""
  echo "=== stage $STAGE: $name (limit ${t}s): $*"
  timeout --kill-after=5 "$t" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  case $rc in
    0) status=PASS ;;
    124|137) status=TIMEOUT note="killed after ${t}s" ;;
    *) status=FAIL note="exit status $rc" ;;
  esac
  { echo "=== $name: $status ($((SECONDS - start))s, limit ${t}s): $*"; cat "$log"; echo; } >>"$STAGE_LOG"
  # Read from the finished file: no pipe into head that could stop the command.
  if [ -n "$pattern" ]; then grep -m 25 -E "$pattern" "$log"; else tail -n 12 "$log"; fi
  echo "--- $name: $status $note"
  record "$name" "$status" "$((SECONDS - start))" "$t" "$note"
  write_back
}

# stage N: starts stage N's clock and log, or says it is not selected.
stage() {
  STAGE=$1
  STAGE_END=$(( SECONDS + STAGE_S[$1] / SCALE ))
  STAGE_LOG=$OUT/stage$1.log
  [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]
}

# ---- the steps' commands ----

facts() {
  date -u
  uname -a
  # bin/ is built on the development machine (Debian 12): glibc >= 2.34 needed here.
  ldd --version 2>&1 | sed -n 1p
  "$NVIDIA_SMI" --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader
  command -v "$PYTHON"
  "$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], sys.prefix, "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
  echo "PATH=$PATH"
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  ls -l "$DATA"
  "$MNISTGPU" --version
}

# libdirs prints the folders of this python3's site-packages holding cuDNN 9
# and the newest CUDA major for which both cuBLAS and NVRTC are there, so
# that MNISTGPU_CUDA_LIBS never mixes majors.
libdirs() {
  "$PYTHON" - <<'PY'
import glob, os, site
sites = []
for s in site.getsitepackages() + [site.getusersitepackages()]:
    if s not in sites:
        sites.append(s)
def find(name):
    for s in sites:
        for d in sorted(glob.glob(os.path.join(s, "nvidia", "*", "lib"))):
            if os.path.exists(os.path.join(d, name)):
                return d
    return None
dirs = [find("libcudnn.so.9")]
for major in (13, 12):
    blas, rtc = find(f"libcublas.so.{major}"), find(f"libnvrtc.so.{major}")
    if blas and rtc:
        dirs += [blas, rtc]
        break
out = []
for d in dirs:
    if d and d not in out:
        out.append(d)
print(":".join(out))
PY
}

libraries() {
  echo "MNISTGPU_CUDA_LIBS=${MNISTGPU_CUDA_LIBS:-}"
  ldconfig -p | grep -E 'libcuda\.so|libcudnn|libcublas|libnvrtc' || echo "(none in the ldconfig cache)"
  ls -l /usr/local/nvidia/lib64/libcuda.so* /usr/local/cuda/lib64/libnvrtc.so* /usr/local/cuda/lib64/libcublas.so* 2>&1
  "$PYTHON" -c 'import site; print("\n".join(site.getsitepackages()))' | while read -r s; do
    ls -d "$s"/nvidia/*/lib 2>/dev/null && ls "$s"/nvidia/*/lib | grep -E '^lib(cudnn|cublas|nvrtc)' | sort
  done
}

# devices runs `mnistgpu devices` with the discovered folders, and again with
# the binary's own search alone (a failure there is a discovery bug).
devices() {
  "$MNISTGPU" devices --require-gpu
  local rc=$? own
  echo
  echo "-- the binary's own search (MNISTGPU_CUDA_LIBS unset):"
  env -u MNISTGPU_CUDA_LIBS "$MNISTGPU" devices --require-gpu
  own=$?
  (( own == 0 )) || echo "DISCOVERY: without MNISTGPU_CUDA_LIBS the binary finds no usable setup (exit $own)"
  return $(( rc || own ))
}

train() { # name, flags...
  local name=$1; shift
  local time=()
  [ -x /usr/bin/time ] && time=(/usr/bin/time -v)
  "${time[@]}" "$MNISTGPU" train --device cuda --data-dir "$DATA" --out "$WORK/$name" --skip-train-eval "$@"
}

# torch runs the PyTorch yardstick; its last line of output is one JSON object.
torch() { "$PYTHON" bench/device/torch_ref.py --data "$DATA" "$@"; }

comparison() {
  "$PYTHON" - "$WORK" <<'PY'
import glob, json, os, sys
work = sys.argv[1]
rows = []
for p in sorted(glob.glob(os.path.join(work, "*", "summary.json"))):
    s = json.load(open(p))
    rows.append(("mnistgpu", os.path.basename(os.path.dirname(p)), s["kernel"], s["test_every"], s["total_s"],
                 s.get("test_acc"), s.get("test_loss"), s["device_name"]))
def torch_rows(lines, where):
    for line in lines:
        line = line.strip()
        if line.startswith("{") and '"impl"' in line:
            r = json.loads(line)
            rows.append((r["impl"], where, r["kernel"], r["test_every"], r["run_s"], r["test_acc"], r["test_loss"], r["device"]))
for p in sorted(glob.glob(os.path.join(work, "torch-*.txt"))):
    torch_rows(open(p).readlines(), "this call")
stored = "bench/results/2026-11-27-h200-torch-ref.md"
if os.path.exists(stored):
    torch_rows(open(stored).readlines(), "2026-11-27")
print(f"{'impl':26} {'run':12} {'k':>2} {'every':>5} {'total_s':>8} {'test_acc':>8} {'test_loss':>9}  device")
for r in rows:
    acc = f"{r[5]:.4f}" if isinstance(r[5], float) else "-"
    loss = f"{r[6]:.5f}" if isinstance(r[6], float) else "-"
    print(f"{r[0]:26} {r[1]:12} {r[2]:>2} {r[3]:>5} {r[4]:>8.2f} {acc:>8} {loss:>9}  {r[7]}")
# The issue's targets: total seconds, and at most half of PyTorch eager's.
eager = {(r[2], r[3]): r[4] for r in rows if r[0] == "pytorch"}
print("\ntargets (mnistgpu total_s; x = ratio to PyTorch eager, same k and test-every):")
for k, every, limit in ((3, 1, 5.0), (3, 0, 1.0), (5, 0, 1.5)):
    ours = [r[4] for r in rows if r[0] == "mnistgpu" and r[2] == k and r[3] == every]
    if not ours:
        print(f"  k={k} every={every}: no mnistgpu run")
        continue
    ratio = f"{ours[0] / eager[(k, every)]:.2f}x" if (k, every) in eager else "no eager run"
    ok = ours[0] <= limit and (k, every) in eager and ours[0] <= 0.5 * eager[(k, every)]
    print(f"  k={k} every={every}: {ours[0]:.2f}s (target <= {limit}s and <= 0.5x), {ratio}: {'MET' if ok else 'missed'}")
PY
}

# ---- the plan ----

export -f facts libdirs libraries devices train torch comparison
export MNISTGPU PYTHON NVIDIA_SMI DATA WORK
if (( ! DRY )); then
  echo "gpu-check: logs in $WORK, results in $OUT (summary.txt, results.tgz, stageN.log)"
  # Discovery always runs (cheap), so that a --stage 2 rerun finds the libraries too.
  MNISTGPU_CUDA_LIBS=$(timeout 20 bash -c libdirs 2>/dev/null)
  export MNISTGPU_CUDA_LIBS
  echo "MNISTGPU_CUDA_LIBS=$MNISTGPU_CUDA_LIBS"
fi

if stage 1; then
  step facts 20 "" bash -c facts
  step libraries 20 "" bash -c libraries
  step headers 30 'problem|MISMATCH|NOT FOUND|headers:' "$PYTHON" scripts/check_headers.py
  step devices 30 '^[A-Za-z ]+:|^GPU|tried .*(cudnn|cublas|nvrtc)\.so\.(9|13)|DISCOVERY|own search' bash -c devices
  # In its package's folder: some of its tests read the sources beside them.
  step nvrtc 40 '^(--- |ok|FAIL|PASS)|NVRTC [0-9]' bash -c 'cd gpu/internal/cuda && "$0" -test.v' "$(realpath -m "$CUDA_TEST")"
  step op-parity 90 '^(--- |ok|FAIL|PASS)|off by|max \|gpu' \
    "$GPU_TEST" -test.v -test.run 'Parity(Conv|BatchNorm|Elementwise|Dense|Loss|Gather)' -test.timeout 85s
fi
if stage 2; then
  step train-parity 45 '^(--- |ok|FAIL|PASS)|step  ?[1-3]:|step 50:|differs' \
    "$GPU_TEST" -test.v -test.run 'ParityTraining' -test.timeout 40s
  step parity-fp32 40 '^(--- |ok|FAIL|PASS)|step  ?[1-3]:|differs|off by' \
    env MNISTGPU_TF32=0 "$GPU_TEST" -test.v -test.run 'Parity(Conv|Training)' -test.timeout 35s
  step k3-end 30 'error|test loss|accuracy|seconds|Maximum resident' bash -c 'train k3-end --kernel 3 --test-every 0'
  step k3-every1 60 'error|test loss|accuracy|seconds|Maximum resident' bash -c 'train k3-every1 --kernel 3 --test-every 1'
  step k5-end 30 'error|test loss|accuracy|seconds|Maximum resident' bash -c 'train k5-end --kernel 5 --test-every 0'
  step k5-every1 60 'error|test loss|accuracy|seconds|Maximum resident' bash -c 'train k5-every1 --kernel 5 --test-every 1'
fi
if stage 3; then
  step torch-k5-every1 60 '^\{|Error' bash -c 'torch --kernel 5 --test-every 1'
  step torch-compile 90 '^\{|Error' bash -c 'torch --kernel 3 --test-every 0 --compile'
  step torch-cudagraphs 90 '^\{|Error' bash -c 'torch --kernel 3 --test-every 0 --compile --cudagraphs'
fi
# The comparison belongs to no stage: it reads whatever ran, and always comes last.
STAGE=end STAGE_END=$DEADLINE STAGE_LOG=$WORK/comparison.log
step comparison 15 "" bash -c comparison
if (( ! DRY )); then
  write_back
  echo
  cat "$OUT/summary.txt"
fi
