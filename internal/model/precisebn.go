package model

import (
	"fmt"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// batchNorms are the layers with a batch norm, in graph order.
func (m *Model) batchNorms() []*backend.Layer {
	l := &m.layers
	return []*backend.Layer{&l.conv1.Layer, &l.convA.Layer, &l.convB.Layer, &l.conv4.Layer, &l.dense1.Layer}
}

// PreciseBatchNorm replaces every batch norm's moving statistics by the
// plain average of its batch statistics over `batches` training-mode
// forward passes of k, fill(i) having gathered the i-th batch into k.X:
// the "precise BN" of the batch-norm literature (Wu & Johnson, "Rethinking
// 'Batch' in BatchNorm", 2021), which estimates the population statistics
// of the weights as they are now instead of Keras' exponential average
// (momentum 0.99), whose early terms come from the weights of many steps
// ago and, after a short run, from the initial mean 0 and variance 1.
//
// Only the moving statistics change: a forward pass does not touch the
// weights and no optimizer step runs. The variance averaged is the one the
// training pass normalizes with (biased), as Keras' moving average uses it.
func (m *Model) PreciseBatchNorm(k *Batch, batches int, fill func(i int)) error {
	if !k.training {
		return fmt.Errorf("model: precise batch norm needs a training batch (batch statistics)")
	}
	if batches < 1 {
		return fmt.Errorf("model: precise batch norm over %d batches, want ≥ 1", batches)
	}
	bns := m.batchNorms()
	sumMean, sumVar := make([][]float64, len(bns)), make([][]float64, len(bns))
	for j, l := range bns {
		sumMean[j], sumVar[j] = make([]float64, l.Mean.Len()), make([]float64, l.Mean.Len())
	}
	var host, invStd []float32
	for i := range batches {
		fill(i)
		m.Forward(k)
		for j, l := range bns {
			host, invStd = grow(host, l.Mean.Len()), grow(invStd, l.Mean.Len())
			if err := m.b.Download(host, l.Mean); err != nil {
				return err
			}
			if err := m.b.Download(invStd, l.InvStd); err != nil {
				return err
			}
			for c := range host {
				sumMean[j][c] += float64(host[c])
				// InvStd is 1/sqrt(var+eps): undo it to average the variance.
				s := float64(invStd[c])
				sumVar[j][c] += 1/(s*s) - float64(BNEpsilon)
			}
		}
		if err := m.b.Sync(); err != nil {
			return err
		}
	}
	for j, l := range bns {
		mean, variance := make([]float32, len(sumMean[j])), make([]float32, len(sumVar[j]))
		for c := range mean {
			mean[c] = float32(sumMean[j][c] / float64(batches))
			variance[c] = float32(max(0, sumVar[j][c]/float64(batches)))
		}
		if err := m.b.Upload(l.MovingMean, mean); err != nil {
			return err
		}
		if err := m.b.Upload(l.MovingVar, variance); err != nil {
			return err
		}
	}
	return m.b.Sync()
}

// grow returns s with length n, reusing its memory when it can.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}
