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

// channelSums accumulates Σ f(row, j) per channel j over the rows of an (M, C)
// array, in float64, parallel over rows; out gets the totals.
func (c *Backend) channelSums(out []float64, m, ch int, f func(r int, acc []float64)) {
	acc := c.partials(ch)
	workers := parallelChunks(m, 256, func(worker, lo, hi int) {
		a := acc[worker*ch : (worker+1)*ch]
		clear(a)
		for r := lo; r < hi; r++ {
			f(r, a)
		}
	})
	for j := range out {
		total := 0.0
		for w := 0; w < workers; w++ {
			total += acc[w*ch+j]
		}
		out[j] = total
	}
}

func (c *Backend) BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	m, ch, ok := c.bnShape("batchnorm train", x, saveMean, saveInvStd, gamma, beta, movingMean, movingVar)
	if !ok || !c.sameLen("batchnorm train", x.Len(), y) {
		return
	}
	xs, ys := f32(x), f32(y)
	mean, invStd := f32(saveMean), f32(saveInvStd)
	sums := c.stats(2 * ch)
	mu, sq := sums[:ch], sums[ch:]
	c.channelSums(mu, m, ch, func(r int, acc []float64) {
		for j, v := range xs[r*ch : (r+1)*ch] {
			acc[j] += float64(v)
		}
	})
	for j := range mu {
		mu[j] /= float64(m)
	}
	// Second pass around the mean: exact where E[x²]-E[x]² would cancel.
	c.channelSums(sq, m, ch, func(r int, acc []float64) {
		for j, v := range xs[r*ch : (r+1)*ch] {
			d := float64(v) - mu[j]
			acc[j] += d * d
		}
	})
	mm, mv := f32(movingMean), f32(movingVar)
	for j := 0; j < ch; j++ {
		variance := sq[j] / float64(m)
		mean[j] = float32(mu[j])
		invStd[j] = float32(1 / math.Sqrt(variance+float64(eps)))
		mm[j] = mm[j]*momentum + float32(mu[j])*(1-momentum)
		mv[j] = mv[j]*momentum + float32(variance)*(1-momentum)
	}
	normalize(ys, xs, mean, invStd, f32(gamma), f32(beta))
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
	normalize(f32(y), f32(x), mean, invStd, f32(gamma), f32(beta))
}

// normalize writes y = (x-mean)·invStd·gamma + beta per channel.
func normalize(y, x, mean, invStd, gamma, beta []float32) {
	ch := len(mean)
	parallelFor(len(x)/ch, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*ch:(r+1)*ch], y[r*ch:(r+1)*ch]
			for j := range xr {
				yr[j] = (xr[j]-mean[j])*invStd[j]*gamma[j] + beta[j]
			}
		}
	})
}

// BatchNormBackward is the training-mode gradient, where mean and variance
// depend on x: dx = γ·invStd·(dy - Σdy/M - x̂·Σ(dy·x̂)/M).
func (c *Backend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	m, ch, ok := c.bnShape("batchnorm backward", x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok || !c.sameLen("batchnorm backward", x.Len(), dx, dy) {
		return
	}
	xs, dys, dxs := f32(x), f32(dy), f32(dx)
	mean, invStd, g := f32(saveMean), f32(saveInvStd), f32(gamma)
	sums := c.stats(2 * ch)
	sumDy, sumDyXhat := sums[:ch], sums[ch:]
	c.channelSums(sumDy, m, ch, func(r int, acc []float64) {
		for j, v := range dys[r*ch : (r+1)*ch] {
			acc[j] += float64(v)
		}
	})
	c.channelSums(sumDyXhat, m, ch, func(r int, acc []float64) {
		xr := xs[r*ch : (r+1)*ch]
		for j, v := range dys[r*ch : (r+1)*ch] {
			acc[j] += float64(v) * float64((xr[j]-mean[j])*invStd[j])
		}
	})
	db, dg := f32(dbeta), f32(dgamma)
	meanDy, meanDyXhat := c.perChannel(ch)
	for j := 0; j < ch; j++ {
		db[j] = float32(sumDy[j])
		dg[j] = float32(sumDyXhat[j])
		meanDy[j] = float32(sumDy[j] / float64(m))
		meanDyXhat[j] = float32(sumDyXhat[j] / float64(m))
	}
	parallelFor(m, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := xs[r*ch:(r+1)*ch], dys[r*ch:(r+1)*ch], dxs[r*ch:(r+1)*ch]
			for j := range xr {
				xhat := (xr[j] - mean[j]) * invStd[j]
				dxr[j] = g[j] * invStd[j] * (dyr[j] - meanDy[j] - xhat*meanDyXhat[j])
			}
		}
	})
}

// stats and perChannel hand out reusable per-channel buffers.
func (c *Backend) stats(n int) []float64 {
	if len(c.stats64) < n {
		c.stats64 = make([]float64, n)
	}
	return c.stats64[:n]
}

func (c *Backend) perChannel(n int) (a, b []float32) {
	if len(c.channel32) < 2*n {
		c.channel32 = make([]float32, 2*n)
	}
	return c.channel32[:n], c.channel32[n : 2*n]
}
