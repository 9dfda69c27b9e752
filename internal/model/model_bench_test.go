package model_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// randomDataset is n random images with random labels on b.
func randomDataset(tb testing.TB, b backend.Backend, n int, seed uint64) (backend.Dataset, backend.Tensor) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	pixels := make([]uint8, n*model.ImageSize*model.ImageSize)
	labels := make([]uint8, n)
	for i := range pixels {
		pixels[i] = uint8(rng.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(rng.IntN(model.NumClasses))
	}
	ds, err := b.UploadDataset(pixels, labels, n, model.ImageSize, model.ImageSize)
	if err != nil {
		tb.Fatal(err)
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	perm := b.AllocInt32(n)
	if err := b.UploadInt32(perm, order); err != nil {
		tb.Fatal(err)
	}
	return ds, perm
}

func newModel(tb testing.TB, b backend.Backend, kernel int) *model.Model {
	tb.Helper()
	spec, err := model.Declare(model.Config{Kernel: kernel})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.New(b, spec)
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Init(7); err != nil {
		tb.Fatal(err)
	}
	return m
}

// warmTrainStep builds a model on be with a gathered batch of 64 and runs
// one step, so that workspaces have grown before anything is timed.
func warmTrainStep(b *testing.B, be backend.Backend, kernel int) (*model.Model, *model.Batch, backend.Tensor) {
	b.Helper()
	m := newModel(b, be, kernel)
	ds, perm := randomDataset(b, be, 64, 1)
	batch, err := m.NewBatch(64, true)
	if err != nil {
		b.Fatal(err)
	}
	stats := be.Alloc(2)
	be.GatherBatch(batch.X, batch.Labels, ds, perm, 0)
	m.TrainStep(batch, stats, 0, 1e-3)
	return m, batch, stats
}

// BenchmarkTrainStep is one optimizer step (forward, backward, Adam) on a
// batch of 64, the unit an epoch is made of (938 steps).
func BenchmarkTrainStep(b *testing.B) {
	for _, k := range []int{3, 5} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			be := cpu.New()
			m, batch, stats := warmTrainStep(b, be, k)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m.TrainStep(batch, stats, 0, 1e-3)
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)*938, "s/epoch")
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkTestForward is one inference pass over 10,000 images in batches of 500.
func BenchmarkTestForward(b *testing.B) {
	be := cpu.New()
	m := newModel(b, be, 3)
	const n, batchSize = 10000, 500
	ds, perm := randomDataset(b, be, n, 2)
	batch, err := m.NewBatch(batchSize, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for first := 0; first < n; first += batchSize {
			be.GatherBatch(batch.X, batch.Labels, ds, perm, first)
			m.Forward(batch)
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}

// timedBackend wraps a backend and adds up the wall time of each op; the
// CPU backend's ops are synchronous, so this is the per-op split of a step.
type timedBackend struct {
	backend.Backend
	spent map[string]time.Duration
}

func (t *timedBackend) time(op string, start time.Time) { t.spent[op] += time.Since(start) }

func (t *timedBackend) Conv2D(y, x, w, b backend.Tensor, pad int) {
	defer t.time("conv forward", time.Now())
	t.Backend.Conv2D(y, x, w, b, pad)
}

func (t *timedBackend) Conv2DBackward(dx, dw, db, dy, x, w backend.Tensor, pad int) {
	defer t.time("conv backward", time.Now())
	t.Backend.Conv2DBackward(dx, dw, db, dy, x, w, pad)
}

func (t *timedBackend) Dense(y, x, w, b backend.Tensor) {
	defer t.time("dense", time.Now())
	t.Backend.Dense(y, x, w, b)
}

func (t *timedBackend) DenseBackward(dx, dw, db, dy, x, w backend.Tensor) {
	defer t.time("dense", time.Now())
	t.Backend.DenseBackward(dx, dw, db, dy, x, w)
}

func (t *timedBackend) BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	defer t.time("batch norm", time.Now())
	t.Backend.BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar, momentum, eps)
}

func (t *timedBackend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	defer t.time("batch norm", time.Now())
	t.Backend.BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd)
}

// The fused ops count as batch norm; the wrapped backend must offer them.
func (t *timedBackend) ReLUBatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.ReLUBatchNorm).ReLUBatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar, momentum, eps)
}

func (t *timedBackend) ReLUBatchNormInfer(y, x, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.ReLUBatchNorm).ReLUBatchNormInfer(y, x, gamma, beta, movingMean, movingVar, eps)
}

func (t *timedBackend) ReLUBatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.ReLUBatchNorm).ReLUBatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd)
}

func (t *timedBackend) BatchNormAddReLUTrain(y, saveMean, saveInvStd, x, z, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.BatchNormAddReLU).BatchNormAddReLUTrain(y, saveMean, saveInvStd, x, z, gamma, beta, movingMean, movingVar, momentum, eps)
}

func (t *timedBackend) BatchNormAddReLUInfer(y, x, z, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.BatchNormAddReLU).BatchNormAddReLUInfer(y, x, z, gamma, beta, movingMean, movingVar, eps)
}

// Conv2DBatchStats is the convolution with the batch norm's sums added up
// as its tiles are written; it counts as the convolution.
func (t *timedBackend) Conv2DBatchStats(y, saveMean, saveInvStd, x, w, b backend.Tensor, pad int, relu bool, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	defer t.time("conv forward", time.Now())
	t.Backend.(backend.ConvBatchNorm).Conv2DBatchStats(y, saveMean, saveInvStd, x, w, b, pad, relu, movingMean, movingVar, momentum, eps)
}

func (t *timedBackend) ReLUBatchNormApply(y, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.ConvBatchNorm).ReLUBatchNormApply(y, x, gamma, beta, saveMean, saveInvStd)
}

func (t *timedBackend) BatchNormAddReLUApply(y, x, z, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.ConvBatchNorm).BatchNormAddReLUApply(y, x, z, gamma, beta, saveMean, saveInvStd)
}

// Conv2DBackwardBN is the convolution's backward pass with the batch-norm
// work on either side of it done as it lays out dy and writes dx; it
// counts as the convolution.
func (t *timedBackend) Conv2DBackwardBN(dx, dw, db, dy, x, w backend.Tensor, pad int, from backend.BatchNormGradient, next backend.BatchNormSums) {
	defer t.time("conv backward", time.Now())
	t.Backend.(backend.ConvBackwardBatchNorm).Conv2DBackwardBN(dx, dw, db, dy, x, w, pad, from, next)
}

func (t *timedBackend) BatchNormBackwardApply(dx backend.Tensor, from backend.BatchNormGradient) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.ConvBackwardBatchNorm).BatchNormBackwardApply(dx, from)
}

// The padded layout changes where the block's activations live, not
// what runs; AllocPadded only passes it on.
func (t *timedBackend) AllocPadded(pad, n, h, w, c int) backend.Tensor {
	return t.Backend.(backend.PaddedActivations).AllocPadded(pad, n, h, w, c)
}

// bn4 applied and pooled in one op counts as batch norm, like its backward
// pass (which never materializes the pool's input).
func (t *timedBackend) ReLUBatchNormMaxPool(y, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.BatchNormMaxPool).ReLUBatchNormMaxPool(y, x, gamma, beta, saveMean, saveInvStd)
}

func (t *timedBackend) MaxPoolReLUBatchNormBackward(dt, dgamma, dbeta, dy, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	defer t.time("batch norm", time.Now())
	t.Backend.(backend.BatchNormMaxPool).MaxPoolReLUBatchNormBackward(dt, dgamma, dbeta, dy, x, gamma, beta, saveMean, saveInvStd)
}

// The inference-mode convolutions with their batch norm count as the
// convolution (the test pass; a training step does not call them).
func (t *timedBackend) Conv2DReLUBatchNormInfer(y, x, w, b backend.Tensor, pad int, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	defer t.time("conv forward", time.Now())
	t.Backend.(backend.ConvBatchNormInfer).Conv2DReLUBatchNormInfer(y, x, w, b, pad, gamma, beta, movingMean, movingVar, eps)
}

func (t *timedBackend) Conv2DBatchNormAddReLUInfer(y, x, w, b backend.Tensor, pad int, z, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	defer t.time("conv forward", time.Now())
	t.Backend.(backend.ConvBatchNormInfer).Conv2DBatchNormAddReLUInfer(y, x, w, b, pad, z, gamma, beta, movingMean, movingVar, eps)
}

// timedBackend offers every optional interface the CPU backend does, so the
// model runs the same graph under it as in BenchmarkTrainStep.
var (
	_ backend.ReLUBatchNorm         = (*timedBackend)(nil)
	_ backend.BatchNormAddReLU      = (*timedBackend)(nil)
	_ backend.ConvBatchNorm         = (*timedBackend)(nil)
	_ backend.ConvBatchNormInfer    = (*timedBackend)(nil)
	_ backend.ConvBackwardBatchNorm = (*timedBackend)(nil)
	_ backend.PaddedActivations     = (*timedBackend)(nil)
	_ backend.BatchNormMaxPool      = (*timedBackend)(nil)
)

func (t *timedBackend) ReLU(y, x backend.Tensor) {
	defer t.time("relu, add", time.Now())
	t.Backend.ReLU(y, x)
}

func (t *timedBackend) ReLUBackward(dx, dy, y backend.Tensor) {
	defer t.time("relu, add", time.Now())
	t.Backend.ReLUBackward(dx, dy, y)
}

func (t *timedBackend) Add(y, a, b backend.Tensor) {
	defer t.time("relu, add", time.Now())
	t.Backend.Add(y, a, b)
}

func (t *timedBackend) MaxPool2x2(y, x backend.Tensor) {
	defer t.time("max pool", time.Now())
	t.Backend.MaxPool2x2(y, x)
}

func (t *timedBackend) MaxPool2x2Backward(dx, dy, x, y backend.Tensor) {
	defer t.time("max pool", time.Now())
	t.Backend.MaxPool2x2Backward(dx, dy, x, y)
}

func (t *timedBackend) Adam(params, grads, m, v backend.Tensor, step int, lr, beta1, beta2, eps float32) {
	defer t.time("adam", time.Now())
	t.Backend.Adam(params, grads, m, v, step, lr, beta1, beta2, eps)
}

// gemmOps are the timed groups whose work is matrix products: the
// convolutions and the dense layers. The convolutions include their
// operand copies (as a BLAS call includes its packing) and the batch-norm
// work fused into them: Conv2DBatchStats's sums, and in Conv2DBackwardBN
// the batch norm's input gradient before it and the ReLU, shortcut add and
// sums after it, which cannot be timed apart. scripts/outside-gemm.sh's
// profile count is the one that puts that work outside.
var gemmOps = []string{"conv forward", "conv backward", "dense"}

// BenchmarkTrainStepOps is BenchmarkTrainStep with the time split by op
// (ms per step), for finding what to speed up next, and outside-GEMM-%:
// the share of the step's wall time spent outside gemmOps. It allocates
// (the timing map), so allocs/op come from BenchmarkTrainStep.
func BenchmarkTrainStepOps(b *testing.B) {
	for _, k := range []int{3, 5} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			be := &timedBackend{Backend: cpu.New(), spent: map[string]time.Duration{}}
			m, batch, stats := warmTrainStep(b, be, k)
			clear(be.spent)
			b.ResetTimer()
			for b.Loop() {
				m.TrainStep(batch, stats, 0, 1e-3)
			}
			total := b.Elapsed()
			var ops time.Duration
			for op, d := range be.spent {
				ops += d
				b.ReportMetric(d.Seconds()*1e3/float64(b.N), strings.ReplaceAll(op, " ", "_")+"-ms")
			}
			b.ReportMetric((total-ops).Seconds()*1e3/float64(b.N), "other-ms")
			inGEMM := time.Duration(0)
			for _, op := range gemmOps {
				inGEMM += be.spent[op]
			}
			b.ReportMetric(100*(1-inGEMM.Seconds()/total.Seconds()), "outside-GEMM-%")
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkTrainStepWorkingSet reports the memory one training step touches
// (touched-MiB, ns/op are meaningless here): Linux marks each page the
// process uses as referenced, /proc/self/clear_refs clears the marks before
// the step and /proc/self/smaps_rollup adds up the marked pages after it.
// The passes outside GEMM stream whatever of it the cache does not hold
// (bench/notes/cpu-outside-gemm.md, BenchmarkApplyWorkingSet in cpu).
func BenchmarkTrainStepWorkingSet(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("1"), 0); err != nil {
		b.Skipf("no page reference marks to clear here: %v", err)
	}
	for _, k := range []int{3, 5} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			be := cpu.New()
			m, batch, stats := warmTrainStep(b, be, k)
			var touched int
			for b.Loop() {
				if err := os.WriteFile("/proc/self/clear_refs", []byte("1"), 0); err != nil {
					b.Fatal(err)
				}
				m.TrainStep(batch, stats, 0, 1e-3)
				touched = referencedKiB(b)
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(touched)/1024, "touched-MiB")
		})
	}
}

// referencedKiB is the process's pages marked referenced, in KiB.
func referencedKiB(b *testing.B) int {
	rollup, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(rollup)) {
		if kib, ok := strings.CutPrefix(line, "Referenced:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kib), "kB")))
			if err != nil {
				b.Fatalf("smaps_rollup: %q: %v", line, err)
			}
			return n
		}
	}
	b.Fatal("smaps_rollup has no Referenced line")
	return 0
}
