package cpu

import (
	"math"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// SoftmaxCrossEntropy works from the logits through log-sum-exp, which stays
// finite where softmax followed by log would underflow to log(0).
func (c *Backend) SoftmaxCrossEntropy(dlogits, stats backend.Tensor, slot int, logits, labels backend.Tensor) {
	s := logits.Shape()
	if len(s) != 2 || labels.Len() != s[0] || (dlogits != nil && dlogits.Len() != logits.Len()) || slot < 0 || 2*slot+1 >= stats.Len() {
		c.fail("softmax cross-entropy: logits %v, labels %v, stats %v slot %d do not fit", s, labels.Shape(), stats.Shape(), slot)
		return
	}
	n, classes := s[0], s[1]
	zs, ys, st := f32(logits), i32(labels), f32(stats)
	var grad []float32
	if dlogits != nil {
		grad = f32(dlogits)
	}
	lossSum, correct := 0.0, 0
	for i := 0; i < n; i++ {
		z := zs[i*classes : (i+1)*classes]
		label := int(ys[i])
		if label < 0 || label >= classes {
			c.fail("softmax cross-entropy: label %d outside 0..%d", label, classes-1)
			return
		}
		best := 0
		for j, v := range z {
			if v > z[best] {
				best = j
			}
		}
		if best == label {
			correct++
		}
		top := float64(z[best])
		sum := 0.0
		for _, v := range z {
			sum += math.Exp(float64(v) - top)
		}
		logSumExp := top + math.Log(sum)
		lossSum += logSumExp - float64(z[label])
		if grad != nil {
			g := grad[i*classes : (i+1)*classes]
			for j, v := range z {
				p := math.Exp(float64(v) - logSumExp)
				if j == label {
					p--
				}
				g[j] = float32(p / float64(n))
			}
		}
	}
	st[2*slot] += float32(lossSum)
	st[2*slot+1] += float32(correct)
}

func (c *Backend) Confusion(counts, logits, labels backend.Tensor) {
	s := logits.Shape()
	if len(s) != 2 || labels.Len() != s[0] || counts.Len() != s[1]*s[1] {
		c.fail("confusion: logits %v, labels %v, counts %v do not fit", s, labels.Shape(), counts.Shape())
		return
	}
	n, classes := s[0], s[1]
	zs, ys, cs := f32(logits), i32(labels), f32(counts)
	for i := 0; i < n; i++ {
		z := zs[i*classes : (i+1)*classes]
		best := 0
		for j, v := range z {
			if v > z[best] {
				best = j
			}
		}
		label := int(ys[i])
		if label < 0 || label >= classes {
			c.fail("confusion: label %d outside 0..%d", label, classes-1)
			return
		}
		cs[label*classes+best]++
	}
}
