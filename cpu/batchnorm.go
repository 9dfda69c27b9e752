package cpu

import (
	"math"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// bnShape checks that x (M, C) and every per-channel tensor fit; C is the last axis of x.
func (c *Backend) bnShape(op string, x backend.Tensor, perChannel ...backend.Tensor) (m, ch int, ok bool) {
	s := x.Shape()
	ch = s[len(s)-1]
	if ch == 0 || !c.sameLen(op, ch, perChannel...) {
		return 0, 0, false
	}
	return x.Len() / ch, ch, true
}

// sumKind is what channelSums adds up per channel.
type sumKind int

const (
	sumX          sumKind = iota // Σ x
	sumSquaredDev                // Σ (x - mu)²
	sumDyXhat                    // Σ dy · (x - mean)·invStd
)

// channelSumsTask accumulates per-channel sums over the rows of an (M, C)
// array in float64, one partial row of sums per worker.
type channelSumsTask struct {
	kind         sumKind
	x, dy        []float32
	mu           []float64 // sumSquaredDev
	mean, invStd []float32 // sumDyXhat
	ch           int
	partial      []float64 // workers × ch
	out          []float64 // ch
}

func (t *channelSumsTask) run(worker, lo, hi int) {
	ch := t.ch
	acc := t.partial[worker*ch : (worker+1)*ch]
	clear(acc)
	for r := lo; r < hi; r++ {
		xr := t.x[r*ch : (r+1)*ch]
		switch t.kind {
		case sumX:
			for j, v := range xr {
				acc[j] += float64(v)
			}
		case sumSquaredDev:
			for j, v := range xr {
				d := float64(v) - t.mu[j]
				acc[j] += d * d
			}
		case sumDyXhat:
			dyr := t.dy[r*ch : (r+1)*ch]
			for j, v := range xr {
				acc[j] += float64(dyr[j]) * float64((v-t.mean[j])*t.invStd[j])
			}
		}
	}
}

// channelSums leaves the per-channel sums of kind over x (rows × ch) in
// c.tasks.sums.out; the fields a kind needs beyond x are set by the caller.
func (c *Backend) channelSums(kind sumKind, x, dy []float32, ch int) []float64 {
	t := &c.tasks.sums
	t.kind, t.x, t.dy, t.ch = kind, x, dy, ch
	t.partial = c.partials(ch)
	t.out = grown(&c.sums64, ch)
	workers := c.pool.parallel(len(x)/ch, 256, t)
	for j := range t.out {
		total := 0.0
		for w := 0; w < workers; w++ {
			total += t.partial[w*ch+j]
		}
		t.out[j] = total
	}
	return t.out
}

func (c *Backend) BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	m, ch, ok := c.bnShape("batchnorm train", x, saveMean, saveInvStd, gamma, beta, movingMean, movingVar)
	if !ok || !c.sameLen("batchnorm train", x.Len(), y) {
		return
	}
	xs := f32(x)
	mean, invStd := f32(saveMean), f32(saveInvStd)
	mu := c.stats(ch)
	copy(mu, c.channelSums(sumX, xs, nil, ch))
	for j := range mu {
		mu[j] /= float64(m)
	}
	// Second pass around the mean: exact where E[x²]-E[x]² would cancel.
	c.tasks.sums.mu = mu
	sq := c.channelSums(sumSquaredDev, xs, nil, ch)
	mm, mv := f32(movingMean), f32(movingVar)
	for j := 0; j < ch; j++ {
		variance := sq[j] / float64(m)
		mean[j] = float32(mu[j])
		invStd[j] = float32(1 / math.Sqrt(variance+float64(eps)))
		mm[j] = mm[j]*momentum + float32(mu[j])*(1-momentum)
		mv[j] = mv[j]*momentum + float32(variance)*(1-momentum)
	}
	c.normalize(f32(y), xs, mean, invStd, f32(gamma), f32(beta))
}

func (c *Backend) BatchNormInfer(y, x, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	_, ch, ok := c.bnShape("batchnorm infer", x, gamma, beta, movingMean, movingVar)
	if !ok || !c.sameLen("batchnorm infer", x.Len(), y) {
		return
	}
	mean, invStd := c.perChannel(ch)
	mv := f32(movingVar)
	copy(mean, f32(movingMean))
	for j := range invStd {
		invStd[j] = float32(1 / math.Sqrt(float64(mv[j])+float64(eps)))
	}
	c.normalize(f32(y), f32(x), mean, invStd, f32(gamma), f32(beta))
}

// normalizeTask writes y = (x-mean)·invStd·gamma + beta per channel.
type normalizeTask struct{ y, x, mean, invStd, gamma, beta []float32 }

func (t *normalizeTask) run(_, lo, hi int) {
	ch := len(t.mean)
	for r := lo; r < hi; r++ {
		xr, yr := t.x[r*ch:(r+1)*ch], t.y[r*ch:(r+1)*ch]
		for j := range xr {
			yr[j] = (xr[j]-t.mean[j])*t.invStd[j]*t.gamma[j] + t.beta[j]
		}
	}
}

func (c *Backend) normalize(y, x, mean, invStd, gamma, beta []float32) {
	c.tasks.normalize = normalizeTask{y, x, mean, invStd, gamma, beta}
	c.pool.parallel(len(x)/len(mean), 256, &c.tasks.normalize)
}

// bnBackwardTask: dx = γ·invStd·(dy - mean(dy) - x̂·mean(dy·x̂)).
type bnBackwardTask struct {
	dx, dy, x, mean, invStd, gamma []float32
	meanDy, meanDyXhat             []float32
}

func (t *bnBackwardTask) run(_, lo, hi int) {
	ch := len(t.mean)
	for r := lo; r < hi; r++ {
		xr, dyr, dxr := t.x[r*ch:(r+1)*ch], t.dy[r*ch:(r+1)*ch], t.dx[r*ch:(r+1)*ch]
		for j := range xr {
			xhat := (xr[j] - t.mean[j]) * t.invStd[j]
			dxr[j] = t.gamma[j] * t.invStd[j] * (dyr[j] - t.meanDy[j] - xhat*t.meanDyXhat[j])
		}
	}
}

// BatchNormBackward is the training-mode gradient, where mean and variance
// depend on x.
func (c *Backend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	m, ch, ok := c.bnShape("batchnorm backward", x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok || !c.sameLen("batchnorm backward", x.Len(), dx, dy) {
		return
	}
	xs, dys := f32(x), f32(dy)
	mean, invStd := f32(saveMean), f32(saveInvStd)
	db, dg := f32(dbeta), f32(dgamma)
	meanDy, meanDyXhat := c.perChannel(ch)
	for j, v := range c.channelSums(sumX, dys, nil, ch) {
		db[j] = float32(v)
		meanDy[j] = float32(v / float64(m))
	}
	c.tasks.sums.mean, c.tasks.sums.invStd = mean, invStd
	for j, v := range c.channelSums(sumDyXhat, xs, dys, ch) {
		dg[j] = float32(v)
		meanDyXhat[j] = float32(v / float64(m))
	}
	c.tasks.bnBackward = bnBackwardTask{f32(dx), dys, xs, mean, invStd, f32(gamma), meanDy, meanDyXhat}
	c.pool.parallel(m, 256, &c.tasks.bnBackward)
}

// stats and perChannel hand out reusable per-channel buffers.
func (c *Backend) stats(n int) []float64 {
	return grown(&c.stats64, n)
}

func (c *Backend) perChannel(n int) (a, b []float32) {
	both := grown(&c.channel32, 2*n)
	return both[:n], both[n:]
}
