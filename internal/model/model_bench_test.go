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
	b.Logf("backend: %s", be.Device()) // which kernels ran (bench-torch-cpu shows it)
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

// timedBackend wraps a backend and adds up the wall time of each unit and
// of each plain op the graph calls; the CPU backend's ops are synchronous,
// so this is the split of a step. The units run as the wrapped backend runs
// them (the CPU's fused passes), so each conv unit's time includes its
// batch norm, ReLUs, shortcut and pool.
type timedBackend struct {
	backend.Backend
	spent map[string]time.Duration
}

func (t *timedBackend) time(op string, start time.Time) { t.spent[op] += time.Since(start) }

func (t *timedBackend) ConvUnitForward(y, x, z backend.Tensor, u backend.Conv, l *backend.Layer, s backend.ConvState, training bool) {
	defer t.time("conv units forward", time.Now())
	t.Backend.ConvUnitForward(y, x, z, u, l, s, training)
}

func (t *timedBackend) ConvUnitOutputBackward(g, dy, y backend.Tensor, u backend.Conv, l *backend.Layer, s backend.ConvState) {
	defer t.time("conv units backward", time.Now())
	t.Backend.ConvUnitOutputBackward(g, dy, y, u, l, s)
}

func (t *timedBackend) ConvUnitBackward(dx, dy, g, x backend.Tensor, u backend.Conv, l *backend.Layer, s backend.ConvState, in *backend.ConvInput) {
	defer t.time("conv units backward", time.Now())
	t.Backend.ConvUnitBackward(dx, dy, g, x, u, l, s, in)
}

func (t *timedBackend) DenseUnitForward(y, pre, x backend.Tensor, u backend.Dense, l *backend.Layer, training bool) {
	defer t.time("dense unit", time.Now())
	t.Backend.DenseUnitForward(y, pre, x, u, l, training)
}

func (t *timedBackend) DenseUnitBackward(dx, dpre, dy, pre, x backend.Tensor, u backend.Dense, l *backend.Layer) {
	defer t.time("dense unit", time.Now())
	t.Backend.DenseUnitBackward(dx, dpre, dy, pre, x, u, l)
}

func (t *timedBackend) Dense(y, x, w, b backend.Tensor) {
	defer t.time("dense", time.Now())
	t.Backend.Dense(y, x, w, b)
}

func (t *timedBackend) DenseBackward(dx, dw, db, dy, x, w backend.Tensor) {
	defer t.time("dense", time.Now())
	t.Backend.DenseBackward(dx, dw, db, dy, x, w)
}

func (t *timedBackend) SoftmaxCrossEntropy(dlogits, stats backend.Tensor, slot int, logits, labels backend.Tensor) {
	defer t.time("loss", time.Now())
	t.Backend.SoftmaxCrossEntropy(dlogits, stats, slot, logits, labels)
}

func (t *timedBackend) Adam(params, grads, m, v backend.Tensor, step int, lr, beta1, beta2, eps float32) {
	defer t.time("adam", time.Now())
	t.Backend.Adam(params, grads, m, v, step, lr, beta1, beta2, eps)
}

// BenchmarkTrainStepOps is BenchmarkTrainStep with the time split by unit
// and op (ms per step), for finding what to speed up next. The share of a
// step outside the matrix products, which the units' fused passes hide
// from this split, comes from scripts/outside-gemm.sh's CPU profile. It
// allocates (the timing map), so allocs/op come from BenchmarkTrainStep.
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
