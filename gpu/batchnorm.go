//go:build cgo

package gpu

import (
	"errors"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Batch norm runs over the last axis of x viewed as (rows, channels). cuDNN
// sees that as an NCHW tensor (rows, channels, 1, 1) in spatial mode: the
// same memory, and per-channel statistics over the rows.

type batchNormKey struct{ rows, channels int }

// descriptors are the NCHW dimensions of x and of the per-channel
// parameters: with a 1x1 spatial extent, NCHW (rows, C, 1, 1) is exactly
// the (rows, C) row-major memory, and it is the layout every cuDNN release's
// legacy batch-norm calls accept (NHWC is documented for fewer of them).
func (k batchNormKey) descriptors() (x, param [4]int) {
	return [4]int{k.rows, k.channels, 1, 1}, [4]int{1, k.channels, 1, 1}
}

type batchNormPlan struct {
	x, param *cuda.TensorDesc
	eps      float64 // of the last training pass, for its backward pass
}

func (p *batchNormPlan) destroy() error {
	var errs []error
	for _, d := range []*cuda.TensorDesc{p.x, p.param} {
		if d != nil {
			errs = append(errs, d.Destroy())
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) batchNormPlan(op string, x backend.Tensor, channelTensors ...backend.Tensor) (*batchNormPlan, int, bool) {
	s := x.Shape()
	if len(s) == 0 || s[len(s)-1] == 0 {
		b.failf("%s: input of shape %v", op, s)
		return nil, 0, false
	}
	channels := s[len(s)-1]
	if !b.sameLen(op, channels, channelTensors...) {
		return nil, 0, false
	}
	k := batchNormKey{rows: x.Len() / channels, channels: channels}
	if p, ok := b.batchNorms[k]; ok {
		return p, channels, true
	}
	p := &batchNormPlan{}
	var err error
	xd, pd := k.descriptors()
	if p.x, err = cuda.NewTensorDesc(cuda.TensorNCHW, xd[0], xd[1], xd[2], xd[3]); err == nil {
		p.param, err = cuda.NewTensorDesc(cuda.TensorNCHW, pd[0], pd[1], pd[2], pd[3])
	}
	if err != nil {
		b.fail(errors.Join(err, p.destroy()))
		return nil, 0, false
	}
	b.batchNorms[k] = p
	return p, channels, true
}

func (b *Backend) BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	p, channels, ok := b.batchNormPlan("batch norm", x, saveMean, saveInvStd, gamma, beta, movingMean, movingVar)
	if !ok || !b.sameLen("batch norm", x.Len(), y) {
		return
	}
	p.eps = float64(eps)
	// cuDNN's running averages are left alone (factor 0, null pointers):
	// cuDNN would blend in the unbiased variance, Keras the biased one, so the
	// moving statistics are updated by our own kernel from the saved ones.
	b.fail(b.dnn.BatchNormTrain(p.x, p.param, ptr(x), ptr(y), ptr(gamma), ptr(beta), 0, 0, 0, p.eps, ptr(saveMean), ptr(saveInvStd)))
	b.launch("batchnorm_moving_update", channels, func(a *cuda.Args) {
		a.Ptr(ptr(movingMean)).Ptr(ptr(movingVar)).Ptr(ptr(saveMean)).Ptr(ptr(saveInvStd)).Int(channels).Float(momentum).Float(eps)
	})
}

// BatchNormInfer is a kernel of ours rather than cuDNN's, so that it may run
// in place as the interface allows.
func (b *Backend) BatchNormInfer(y, x, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	_, channels, ok := b.batchNormPlan("batch norm inference", x, gamma, beta, movingMean, movingVar)
	n := x.Len()
	if !ok || !b.sameLen("batch norm inference", n, y) {
		return
	}
	b.launch("batchnorm_infer", n, func(a *cuda.Args) {
		a.Ptr(ptr(y)).Ptr(ptr(x)).Ptr(ptr(gamma)).Ptr(ptr(beta)).Ptr(ptr(movingMean)).Ptr(ptr(movingVar)).Int64(int64(n)).Int(channels).Float(eps)
	})
}

func (b *Backend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	p, _, ok := b.batchNormPlan("batch norm backward", x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok || !b.sameLen("batch norm backward", x.Len(), dx, dy) {
		return
	}
	b.fail(b.dnn.BatchNormBackward(p.x, p.param, ptr(x), ptr(dy), ptr(dx), ptr(gamma), ptr(dgamma), ptr(dbeta), p.eps, ptr(saveMean), ptr(saveInvStd)))
}
