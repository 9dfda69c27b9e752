package model_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

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

// BenchmarkTrainStep is one optimizer step (forward, backward, Adam) on a
// batch of 64, the unit an epoch is made of (938 steps).
func BenchmarkTrainStep(b *testing.B) {
	for _, k := range []int{3, 5} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			be := cpu.New()
			m := newModel(b, be, k)
			ds, perm := randomDataset(b, be, 64, 1)
			batch, err := m.NewBatch(64, true)
			if err != nil {
				b.Fatal(err)
			}
			stats := be.Alloc(2)
			be.GatherBatch(batch.X, batch.Labels, ds, perm, 0)
			m.TrainStep(batch, stats, 0, 1e-3) // warm-up: grows workspaces
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
