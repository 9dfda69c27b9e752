# mnistgpu: `make` builds, `make test` runs what CI runs. No CUDA toolkit is
# needed for anything here.
GO      ?= go
BIN     := bin/mnistgpu
PKGS    := ./...

.PHONY: gpu-check-build all build test vet fmt check bench bench-cpu bench-torch-cpu bench-outside bench-gemm purego nocgo data train-k3 train-k5 bench-k35 clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mnistgpu
	@echo "built $(BIN) (cpu backend: $$($(GO) env GOARCH), AVX-512/AVX2 kernels chosen at run time; cgo $$($(GO) env CGO_ENABLED))"
	@$(BIN) devices 2>/dev/null | tail -1 || true

# The README's test command.
test:
	$(GO) test $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt needed" && exit 1)

check: fmt vet test purego nocgo

# One training step (batch 64, k=3 and k=5), a full test-set forward pass,
# and the GEMM on the model's convolution shapes.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 5x ./internal/model/ ./cpu/

# This backend's GEMM and direct convolution side by side with OpenBLAS's
# cblas_sgemm, same shapes and thread count, in one run (columns
# ours-GFLOP/s, openblas-GFLOP/s, ratio). OpenBLAS is only a yardstick: this
# target alone needs it (Debian: apt-get install libopenblas-dev) and a C
# compiler; nothing else builds against it. Debian's OpenBLAS 0.3.21 does
# not recognise recent Xeons and would fall back to its SSE3 (Prescott)
# kernels, hence OPENBLAS_CORETYPE; its threads spin for ~0.1 s after each
# call, which would steal a core from the next Go call, hence the timeout.
bench-cpu:
	@test -n "$$(CGO_ENABLED=1 $(GO) env CC)" && (echo '#include <cblas.h>' | $$($(GO) env CC) -E - >/dev/null 2>&1) \
		|| (echo "bench-cpu needs OpenBLAS's headers and a C compiler (Debian: libopenblas-dev)"; exit 1)
	OPENBLAS_CORETYPE=$${OPENBLAS_CORETYPE:-SkylakeX} OPENBLAS_THREAD_TIMEOUT=4 CGO_ENABLED=1 $(GO) test -tags openblas -run '^$$' -bench VsOpenBLAS -benchtime 10x ./cpu/

# Ours vs PyTorch's CPU build (Debian: apt-get install python3-torch) side
# by side in one run: a training step k=3 and k=5 (batch 64) and a test pass
# of 10,000 images, interleaved over ROUNDS rounds at 2 threads, with our
# GFLOP/s against the machine's FMA peak. KERNELS picks the kernel paths
# (MNISTGPU_CPU_KERNEL values, e.g. KERNELS="avx2 avx512" on an AVX-512
# CPU to measure the path an AVX2-only CPU takes too).
ROUNDS  ?= 3
KERNELS ?= auto
bench-torch-cpu:
	KERNELS="$(KERNELS)" bash scripts/bench-torch-cpu.sh $(ROUNDS)

# A k=3 training step's wall time by layer unit, and its share outside GEMM
# by CPU profile (see the script's header for what counts as GEMM).
bench-outside:
	bash scripts/outside-gemm.sh 3 60 5

# The portable Go micro-kernel instead of the assembly one.
purego:
	$(GO) build -tags purego ./...
	$(GO) test -tags purego ./cpu/

nocgo:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/mnistgpu
	CGO_ENABLED=0 $(GO) test -run 'Devices' ./cmd/mnistgpu/

data: build
	$(BIN) data fetch

train-k3: build
	$(BIN) train --device cpu --kernel 3 --epochs 1

train-k5: build
	$(BIN) train --device cpu --kernel 5 --epochs 1

# The kernel 3 vs 5 comparison: 2 kernels × 3 seeds, one epoch each, on the
# CPU (about an hour on the 2-core machine). Outputs and bench.md in
# docs/results/bench-cpu.
bench-k35: build
	$(BIN) bench --kernels 3,5 --device cpu --epochs 1 --seeds 3 --out docs/results/bench-cpu

# GPU check: build here (no CUDA needed), then on the x86-64 GPU machine run
# bash scripts/gpu-check.sh carrying exactly $(GPU_CARRY) (under the device
# call's 64 MiB). Binaries stripped (-s -w): about a third of the size.
MNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz
MNIST_CACHE ?= $(HOME)/.cache/mnistgpu/mnist
GPU_CARRY   := bin/mnistgpu bin/gpu.test bin/cuda.test $(addprefix .devdata/,$(MNIST_FILES))
gpu-check-build:
	@test "$$($(GO) env GOOS)/$$($(GO) env GOARCH)" = linux/amd64 || \
		{ echo "gpu-check-build: the GPU machine is linux/amd64 and the backend needs cgo; build on such a machine"; exit 1; }
	CGO_ENABLED=1 $(GO) build -ldflags='-s -w' -o bin/mnistgpu ./cmd/mnistgpu
	CGO_ENABLED=1 $(GO) test -c -ldflags='-s -w' -o bin/gpu.test ./gpu/
	CGO_ENABLED=1 $(GO) test -c -ldflags='-s -w' -o bin/cuda.test ./gpu/internal/cuda/
	@mkdir -p .devdata
	@for f in $(MNIST_FILES); do test -f .devdata/$$f || cp "$(MNIST_CACHE)/$$f" .devdata/ 2>/dev/null || true; done
	bin/mnistgpu data verify --data-dir .devdata || bin/mnistgpu data fetch --data-dir .devdata
	@carry=$$(du -cb $(GPU_CARRY) | tail -1 | cut -f1); tree=$$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1); \
		echo "carry: $(GPU_CARRY)"; \
		echo "with the tracked tree: $$(( (carry + tree) / 1048576 )) MiB of the device call's 64"; \
		test $$((carry + tree)) -lt 67108864 || { echo "gpu-check-build: more than 64 MiB would travel"; exit 1; }
	@echo "then on the GPU machine: bash scripts/gpu-check.sh [--stage N]"

clean:
	rm -rf bin
