#!/usr/bin/env bash
# The share of a CPU training step spent outside GEMM (make bench-outside;
# the README's performance table quotes it), after the step's wall time
# split by layer unit (BenchmarkTrainStepOps; a conv unit's time includes
# its batch-norm passes, which run inside the unit and cannot be timed
# apart from its convolution):
#
# counted by CPU profile, strictly: samples outside the multiply
# micro-kernels and the loops that feed them tiles (direct convolution,
# strided and packed GEMM, the dense layer's transposed product). Padding
# copies, the batch-norm work a convolution does on its tiles
# (tileEpilogue), batch norm, ReLU, pooling, Adam, the loss and the worker
# pool's hand-offs all count as outside.
#
# Profiles of the same code spread over 3-7 points with the load of the
# host (the step's memory traffic slows when neighbours use the memory
# system), so the count is taken runs times and reported as the median
# and range.
#
# Usage: scripts/outside-gemm.sh [kernel size, default 3] [steps, default 60] [runs, default 5]
# With PROFILE_DIR set, the test binary and the last run's profile are
# kept there (model.test, cpu.prof) for go tool pprof.
set -euo pipefail
cd "$(dirname "$0")/.."
k=${1:-3}
steps=${2:-60}
runs=${3:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== by unit (wall time), $steps steps, k=$k"
go test -run '^$' -bench "TrainStepOps/k=$k\$" -benchtime "${steps}x" ./internal/model/ |
	grep '^Benchmark' | tr '\t' '\n' | sed -n 's/^ *//; /-ms$\|ns\/op$/p'

echo "== by CPU profile, $steps steps, k=$k, $runs runs"
go test -c -o "$work/model.test" ./internal/model/
gemm='cpu\.(strided[0-9]+x32|kernel6x16AVX2|microKernelGo|stridedGo|stridedKernel|\(\*directForwardTask\)\.run|\(\*directWeightsTask\)|\(\*stridedGemmTask\)|\(\*gemmTask\)|\(\*packBTask\)|\(\*imageCols\)|\(\*matrix\)|\(\*transposeTask\))'
notGemm='cpu\.\(\*tileEpilogue\)'
# The step: the benchmark goroutine's TrainStep and the worker pool's
# goroutines (set-up and the test harness left out).
step='model\.\(\*Model\)\.TrainStep|cpu\.newWorkerPoolOf\.func1'
accounted() {
	go tool pprof -top -unit=ms "$@" "$work/model.test" "$work/cpu.prof" 2>/dev/null |
		sed -n "s/^Showing nodes accounting for \\([0-9.]*\\)ms.*/\\1/p"
}
for run in $(seq "$runs"); do
	"$work/model.test" -test.run '^$' -test.bench "TrainStep\$/k=$k\$" -test.benchtime "${steps}x" \
		-test.cpuprofile "$work/cpu.prof" | grep '^Benchmark' | awk '{ printf "%.1f ms/step  ", $3 / 1e6 }'
	total=$(accounted -focus="$step")
	inGemm=$(accounted -focus="$gemm" -ignore="$notGemm")
	awk -v t="$total" -v g="$inGemm" 'BEGIN { printf "step samples %.2fs, in GEMM %.2fs, outside-GEMM %.1f%%\n", t / 1000, g / 1000, 100 * (1 - g / t) }' |
		tee -a "$work/shares"
done
sed 's/.*outside-GEMM \([0-9.]*\)%/\1/' "$work/shares" | sort -n |
	awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "outside GEMM, strictly: median %.1f%% of %d runs, range %.1f-%.1f%%\n", m, NR, v[1], v[NR] }'
if [ -n "${PROFILE_DIR:-}" ]; then
	mkdir -p "$PROFILE_DIR" && cp "$work/model.test" "$work/cpu.prof" "$PROFILE_DIR/"
fi
echo "largest outside GEMM in the last run (share of all samples):"
go tool pprof -top -focus="$step" -ignore="$gemm" -nodecount=12 "$work/model.test" "$work/cpu.prof" 2>/dev/null |
	sed -n '/flat%/,$p' | awk 'NR > 1 { printf "  %6s %6s  %s\n", $1, $2, $6 }'
