package train

import (
	"context"
	"fmt"
	"math"

	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// Evaluation is an inference-mode pass over a whole data set.
type Evaluation struct {
	Loss, Accuracy float64
	Confusion      metrics.Confusion
}

// Evaluator runs inference-mode passes in batches of up to batchSize,
// reducing loss, correct count and confusion counts on the backend so only
// a few scalars come back per pass.
type Evaluator struct {
	m         *model.Model
	batchSize int
	order     backend.Tensor // (maxN) int32: 0, 1, 2, ... — data sets are read in order
	// results holds what a pass reduces, so one download brings it all back:
	// stats (2): loss sum, correct count; counts (10, 10): the confusion matrix.
	results, stats, counts backend.Tensor
	batches                map[int]*model.Batch
	host                   []float32 // (2 + 10·10)
}

// NewEvaluator prepares passes over data sets of up to maxN examples.
func NewEvaluator(m *model.Model, batchSize, maxN int) (*Evaluator, error) {
	if batchSize < 1 {
		return nil, fmt.Errorf("evaluation batch size %d, want ≥ 1", batchSize)
	}
	b := m.Backend()
	const size = 2 + model.NumClasses*model.NumClasses
	results := b.Alloc(size)
	e := &Evaluator{
		m: m, batchSize: min(batchSize, maxN),
		order:   b.AllocInt32(maxN),
		results: results,
		stats:   b.View(results, 0, 2),
		counts:  b.View(results, 2, model.NumClasses, model.NumClasses),
		batches: map[int]*model.Batch{},
		host:    make([]float32, size),
	}
	identity := make([]int32, maxN)
	for i := range identity {
		identity[i] = int32(i)
	}
	if err := b.UploadInt32(e.order, identity); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Evaluator) batch(n int) (*model.Batch, error) {
	if k, ok := e.batches[n]; ok {
		return k, nil
	}
	k, err := e.m.NewBatch(n, false)
	if err != nil {
		return nil, err
	}
	e.batches[n] = k
	return k, nil
}

// Run evaluates the first n examples of ds. With confusion false it skips the
// confusion counts (the per-step test loss needs only the loss).
func (e *Evaluator) Run(ctx context.Context, ds backend.Dataset, n int, confusion bool) (*Evaluation, error) {
	if n > e.order.Len() {
		return nil, fmt.Errorf("evaluation of %d examples, prepared for %d", n, e.order.Len())
	}
	b := e.m.Backend()
	b.Fill(e.results, 0)
	for first := 0; first < n; first += e.batchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k, err := e.batch(min(e.batchSize, n-first))
		if err != nil {
			return nil, err
		}
		b.GatherBatch(k.X, k.Labels, ds, e.order, first)
		e.m.Forward(k)
		b.SoftmaxCrossEntropy(nil, e.stats, 0, k.Logits, k.Labels)
		if confusion {
			b.Confusion(e.counts, k.Logits, k.Labels)
		}
	}
	if err := b.Download(e.host, e.results); err != nil {
		return nil, err
	}
	if err := b.Sync(); err != nil {
		return nil, err
	}
	ev := &Evaluation{Loss: float64(e.host[0]) / float64(n), Accuracy: float64(e.host[1]) / float64(n)}
	if confusion {
		counts := e.host[2:]
		for i := range ev.Confusion.Counts {
			for j := range ev.Confusion.Counts[i] {
				ev.Confusion.Counts[i][j] = int(math.Round(float64(counts[i*model.NumClasses+j])))
			}
		}
	}
	return ev, nil
}
