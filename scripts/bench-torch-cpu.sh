#!/usr/bin/env bash
# Ours vs PyTorch CPU (Debian python3-torch, bench/cpu/torch_step.py) on the
# same model and thread count, interleaved in one run so that a shared
# machine's load falls on both alike: per round, each measurement is taken
# on ours then on PyTorch, and the table shows the medians over rounds, the
# median of the per-round ratios, and our step's GFLOP/s against the FMA
# peak (BenchmarkFMAPeak, a loop of register-only FMAs) measured in the
# same rounds.
#   bash scripts/bench-torch-cpu.sh [rounds]     (KERNELS="avx2 avx512" to pick paths)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${THREADS:-2}
kernels=${KERNELS:-auto}
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import torch' 2>/dev/null || { echo "bench-torch-cpu needs PyTorch for $py (Debian: apt-get install python3-torch)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/model.test" ./internal/model/
go test -c -o "$tmp/cpu.test" ./cpu/
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, avx512f: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); load average: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%F %H:%M UTC'); torch $("$py" -c 'import torch; print(torch.__version__)'), $threads threads"

# ours <kernel> <bench regexp> prints ns/op of the one benchmark matched.
ours() {
	MNISTGPU_CPU_KERNEL=$1 GOMAXPROCS=$threads "$tmp/model.test" -test.run '^$' -test.bench "$2" -test.benchtime "$3" | awk '/^Benchmark/ {print $3 / 1e9; exit}'
}
peak() {
	GOMAXPROCS=$threads "$tmp/cpu.test" -test.run '^$' -test.bench "FMAPeak/$1/threads=$threads" -test.benchtime 50x | awk '/GFLOP/ {for (i = 1; i < NF; i++) if ($(i+1) == "GFLOP/s") print $i; exit}'
}
# Useful flops (2 per multiply-add of the convolutions and dense layers;
# a training step is the forward pass, dx and dw, the first layer having no
# dx) per training step of 64 and per inference pass of 10,000 at k=3.
flops() {
	local k=$1 fwd
	fwd=$(( 26*26*32*9 + 2*26*26*32*32*k*k + 24*24*64*32*9 + 9216*128 + 128*10 ))
	case $2 in
	step) echo $(( 2 * 64 * (3*fwd - 26*26*32*9) )) ;;
	test) echo $(( 2 * 10000 * fwd )) ;;
	esac
}
for kernel in $kernels; do
	echo "MNISTGPU_CPU_KERNEL=$kernel: $(MNISTGPU_CPU_KERNEL=$kernel GOMAXPROCS=$threads "$tmp/model.test" -test.run '^$' -test.bench 'TrainStep$/k=3' -test.benchtime 1x | grep -m1 -o 'backend: .*')"
	peakISA=avx2
	[ "$kernel" = avx512 ] || { [ "$kernel" = auto ] && grep -q avx512f /proc/cpuinfo; } && peakISA=avx512
	: > "$tmp/rows"
	for r in $(seq "$rounds"); do
		echo "peak - $(peak $peakISA)" >> "$tmp/rows"
		echo "step3 $(ours "$kernel" 'TrainStep$/k=3' 5x) $("$py" bench/cpu/torch_step.py --threads "$threads" --what step3 --reps 5 --warm 2 | cut -d' ' -f3)" >> "$tmp/rows"
		echo "step5 $(ours "$kernel" 'TrainStep$/k=5' 5x) $("$py" bench/cpu/torch_step.py --threads "$threads" --what step5 --reps 5 --warm 2 | cut -d' ' -f3)" >> "$tmp/rows"
		echo "test3 $(ours "$kernel" 'TestForward$' 1x) $("$py" bench/cpu/torch_step.py --threads "$threads" --what test3 --reps 5 | cut -d' ' -f3)" >> "$tmp/rows"
		echo "  round $r done" >&2
	done
	echo
	echo "kernels: $kernel (MNISTGPU_CPU_KERNEL), $rounds rounds; ours from internal/model's benchmarks, PyTorch from bench/cpu/torch_step.py"
	awk -v f3="$(flops 3 step)" -v f5="$(flops 5 step)" -v ft="$(flops 3 test)" -v isa=$peakISA '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	$1 == "peak" { np++; pk[np] = $3; next }
	{ n[$1]++; o[$1, n[$1]] = $2; t[$1, n[$1]] = $3; q[$1, n[$1]] = $2 / $3 }
	END {
		peakv = median(pk, np)
		printf "%-28s %10s %10s %12s %9s %8s\n", "measurement", "ours s", "torch s", "ours/torch", "GFLOP/s", "of peak"
		split("step3 step5 test3", names, " ")
		label["step3"] = "train step k=3, batch 64"; label["step5"] = "train step k=5, batch 64"; label["test3"] = "test pass k=3, 10,000 imgs"
		fl["step3"] = f3; fl["step5"] = f5; fl["test3"] = ft
		for (i = 1; i <= 3; i++) {
			m = names[i]; k = n[m]
			for (j = 1; j <= k; j++) { a[j] = o[m, j]; b[j] = t[m, j]; c[j] = q[m, j] }
			om = median(a, k); tm = median(b, k); rm = median(c, k)
			g = fl[m] / om / 1e9
			printf "%-28s %10.4f %10.4f %12.2f %9.1f %7.0f%%\n", label[m], om, tm, rm, g, 100 * g / peakv
		}
		printf "FMA peak (%s, %d threads, median of %d): %.1f GFLOP/s\n", isa, '"$threads"', np, peakv
	}' "$tmp/rows"
done
