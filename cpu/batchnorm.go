package cpu

import (
	"math"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// bnWork is batch norm's scratch: the per-channel float64 sums and
// per-group (per-image) partials (channelSums, the tile epilogue,
// bnPoolBackward), the per-channel float32 intermediates (a zero mean, an
// affine map's coefficients), each worker's two rows of normalized
// activations for the pooled batch norm (poolbn.go), and its loops.
type bnWork struct {
	sums64, groupSums           []float64
	channel32, zeros32, coeff32 []float32
	pairScratch                 []float32

	sums           channelSumsTask
	affine         affineTask
	paddedAffine   paddedAffineTask
	bnPool         bnPoolTask
	bnPoolBackward bnPoolBackwardTask
}

// bnShape checks that x (M, C) and every per-channel tensor fit; C is the last axis of x.
func (c *Backend) bnShape(op string, x backend.Tensor, perChannel ...backend.Tensor) (m, ch int, ok bool) {
	s := x.Shape()
	ch = s[len(s)-1]
	if ch == 0 || !c.sameLen(op, ch, perChannel...) {
		return 0, 0, false
	}
	return x.Len() / ch, ch, true
}

// sumKind is what channelSums adds up per channel, two sums per pass.
type sumKind int

const (
	sumMoments sumKind = iota // Σ (x - mu) and Σ (x - mu)²
	sumDots                   // Σ dy and Σ dy·(x - mu)
)

// sumBlockRows rows go through the per-channel loops at a time, so the
// vector loop, which walks one 16-channel strip at a time, finds the
// block's other strips in L1.
const sumBlockRows = 64

// sumGroups is how many fixed groups of rows channelSums splits an array
// into; each sums into its own partial and the partials are added in
// group order, so the result does not depend on which worker took which
// group, nor on the number of workers.
const sumGroups = 16

// channelSumsTask accumulates per-channel sums over the rows of an (M, C)
// array; items are groups of rows.
type channelSumsTask struct {
	kind    sumKind
	reluX   bool // sum over max(x, 0) in place of x
	x, dy   []float32
	mu      []float32 // ch
	ch      int
	rows    int
	groups  int
	partial []float64 // groups × 2·ch
}

func (t *channelSumsTask) run(worker, lo, hi int) {
	ch := t.ch
	for g := lo; g < hi; g++ {
		s1, s2 := groupPair(t.partial, g, ch)
		end := (g + 1) * t.rows / t.groups
		for r := g * t.rows / t.groups; r < end; r += sumBlockRows {
			rows := min(sumBlockRows, end-r)
			if t.kind == sumMoments {
				sumsBlock(t.x[r*ch:end*ch], rows, ch, t.mu, s1, s2, t.reluX)
			} else {
				dotsBlock(t.dy[r*ch:end*ch], t.x[r*ch:end*ch], rows, ch, t.mu, s1, s2, t.reluX)
			}
		}
	}
}

// channelSums returns the two per-channel sums of kind over x (rows × ch),
// or max(x, 0) with reluX, and, for sumDots, dy; mu nil means zero. The
// results live in a buffer that the next call reuses.
func (c *Backend) channelSums(kind sumKind, x, dy, mu []float32, ch int, reluX bool) (s1, s2 []float64) {
	rows := len(x) / ch
	return c.groupedSums(min(sumGroups, max(1, rows/256)), kind, x, dy, mu, ch, reluX)
}

// groupedSums is channelSums with the rows cut into `groups` equal groups
// (the caller's choice, e.g. one per image).
func (c *Backend) groupedSums(groups int, kind sumKind, x, dy, mu []float32, ch int, reluX bool) (s1, s2 []float64) {
	t := &c.bnWork.sums
	if mu == nil {
		mu = c.zeroChannels(ch)
	}
	*t = channelSumsTask{kind: kind, reluX: reluX, x: x, dy: dy, mu: mu, ch: ch, rows: len(x) / ch, groups: groups,
		partial: grown(&c.bnWork.groupSums, groups*2*ch)}
	c.pool.dynamic(groups, 1, t)
	return c.addGroups(t.partial, groups, ch)
}

// zeroChannels is ch zeros in a reused buffer.
func (c *Backend) zeroChannels(ch int) []float32 {
	zero := grown(&c.bnWork.zeros32, ch)
	clear(zero)
	return zero
}

// addGroups adds per-group sums (groups × 2·ch, laid out as in
// channelSumsTask) in group order, so the totals do not depend on which
// worker took which group.
// groupPair clears and returns group g's two sums in partial, laid out as
// addGroups reads them (groups × 2·ch).
func groupPair(partial []float64, g, ch int) (s1, s2 []float64) {
	s1, s2 = partial[2*g*ch:(2*g+1)*ch], partial[(2*g+1)*ch:(2*g+2)*ch]
	clear(s1)
	clear(s2)
	return s1, s2
}

func (c *Backend) addGroups(partial []float64, groups, ch int) (s1, s2 []float64) {
	out := grown(&c.bnWork.sums64, 2*ch)
	for j := range out {
		total := 0.0
		for g := range groups {
			total += partial[g*2*ch+j]
		}
		out[j] = total
	}
	return out[:ch], out[ch:]
}

// batchSums returns Σx and Σx² per channel of x (max(x, 0) with relu),
// added up image by image (x's first axis) and then over the images in
// order: the order in which conv2DBatchStats adds up the tiles it writes,
// so both give the same bits. The sums are float64 and a float32 value
// squares exactly in float64, so E[x²]-E[x]² keeps about 1e-14·(1 +
// mean²/variance) of the variance: no shift towards the mean is needed for
// any activation this model produces.
func (c *Backend) batchSums(x backend.Tensor, ch int, relu bool) (s1, s2 []float64) {
	return c.groupedSums(x.Shape()[0], sumMoments, f32(x), nil, nil, ch, relu)
}

// saveBatchStats turns the sums over m values per channel into the saved
// mean and inverse standard deviation and updates the moving statistics
// with the biased variance, as Keras does.
func (c *Backend) saveBatchStats(s1, s2 []float64, m int, saveMean, saveInvStd, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	mean, invStd := f32(saveMean), f32(saveInvStd)
	mm, mv := f32(movingMean), f32(movingVar)
	for j := range mean {
		mu := s1[j] / float64(m)
		// The conversions round each product on its own: the arm64
		// compiler would otherwise fuse it into the add or subtract (FMADD,
		// FNMSUB), and arm64 would keep other statistics than amd64.
		variance := max(s2[j]/float64(m)-float64(mu*mu), 0)
		mean[j] = float32(mu)
		invStd[j] = float32(1 / math.Sqrt(variance+float64(eps)))
		mm[j] = float32(mm[j]*momentum) + float32(float32(mu)*(1-momentum))
		mv[j] = float32(mv[j]*momentum) + float32(float32(variance)*(1-momentum))
	}
}

func (c *Backend) BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	c.batchNormTrain("batchnorm train", y, saveMean, saveInvStd, x, nil, gamma, beta, movingMean, movingVar, momentum, eps, rowSteps{})
}

// reluBatchNormTrain is BatchNormTrain of max(x, 0), which it never stores.
func (c *Backend) reluBatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	c.batchNormTrain("relu batchnorm train", y, saveMean, saveInvStd, x, nil, gamma, beta, movingMean, movingVar, momentum, eps, rowSteps{reluIn: true})
}

// batchNormTrain normalizes x, or max(x, 0) with s.reluIn, with its batch
// statistics; z (nil for none) is added after, and s.reluOut applies last.
func (c *Backend) batchNormTrain(op string, y, saveMean, saveInvStd, x, z, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32, s rowSteps) {
	m, ch, ok := c.bnShape(op, x, saveMean, saveInvStd, gamma, beta, movingMean, movingVar)
	if !ok || !c.sameLen(op, x.Len(), y) || z != nil && !c.sameLen(op, x.Len(), z) {
		return
	}
	s1, s2 := c.batchSums(x, ch, s.reluIn)
	c.saveBatchStats(s1, s2, m, saveMean, saveInvStd, movingMean, movingVar, momentum, eps)
	c.affine(f32(y), f32(x), optional(z), c.normalizing(f32(saveMean), f32(saveInvStd), f32(gamma), f32(beta), s))
}

func (c *Backend) BatchNormInfer(y, x, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	c.batchNormInfer("batchnorm infer", y, x, nil, gamma, beta, movingMean, movingVar, eps, rowSteps{})
}

// reluBatchNormInfer is BatchNormInfer of max(x, 0); it may run in place.
func (c *Backend) reluBatchNormInfer(y, x, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	c.batchNormInfer("relu batchnorm infer", y, x, nil, gamma, beta, movingMean, movingVar, eps, rowSteps{reluIn: true})
}

func (c *Backend) batchNormInfer(op string, y, x, z, gamma, beta, movingMean, movingVar backend.Tensor, eps float32, s rowSteps) {
	_, ch, ok := c.bnShape(op, x, gamma, beta, movingMean, movingVar)
	if !ok || !c.sameLen(op, x.Len(), y) || z != nil && !c.sameLen(op, x.Len(), z) {
		return
	}
	c.affine(f32(y), f32(x), optional(z), c.inferenceMap(ch, gamma, beta, movingMean, movingVar, eps, s))
}

// inferenceMap is BatchNormInfer's map with steps s, in reused buffers.
func (c *Backend) inferenceMap(ch int, gamma, beta, movingMean, movingVar backend.Tensor, eps float32, s rowSteps) affineMap {
	mean, invStd := c.perChannel(ch)
	mv := f32(movingVar)
	copy(mean, f32(movingMean))
	for j := range invStd {
		invStd[j] = float32(1 / math.Sqrt(float64(mv[j])+float64(eps)))
	}
	return c.normalizing(mean, invStd, f32(gamma), f32(beta), s)
}

// optional is t's elements, nil for a nil t.
func optional(t backend.Tensor) []float32 {
	if t == nil {
		return nil
	}
	return f32(t)
}

// affineMap is y = ka·(x-m) + kb·z + kc per channel (no z: kb·z is 0),
// then steps: the element-wise map of every batch-norm pass (normalizing
// in training and inference, the input gradient), whether it runs as a
// pass of its own (affine) or on rows another pass is writing.
type affineMap struct {
	ka, m, kb, kc []float32
	steps         rowSteps
}

// rows applies f to rows × ch values of x (and z, nil for none) into y.
func (f *affineMap) rows(y, x, z []float32, rows, ch int) {
	affineRows(y, x, z, rows, ch, f.ka, f.m, f.kb, f.kc, f.steps)
}

// affineTask applies f; items are rows.
type affineTask struct {
	y, x, z []float32
	f       affineMap
}

func (t *affineTask) run(_, lo, hi int) {
	ch := len(t.f.ka)
	var z []float32
	if t.z != nil {
		z = t.z[lo*ch : hi*ch]
	}
	t.f.rows(t.y[lo*ch:hi*ch], t.x[lo*ch:hi*ch], z, hi-lo, ch)
}

// affine writes y = f(x, z) in a pass of its own.
func (c *Backend) affine(y, x, z []float32, f affineMap) {
	c.bnWork.affine = affineTask{y, x, z, f}
	c.pool.dynamic(len(x)/len(f.ka), 1024, &c.bnWork.affine)
}

// coefficients hands out three reusable per-channel buffers.
func (c *Backend) coefficients(ch int) (ka, kb, kc []float32) {
	all := grown(&c.bnWork.coeff32, 3*ch)
	return all[:ch], all[ch : 2*ch], all[2*ch:]
}

// normalizing is the map y = (x-mean)·(invStd·gamma) + beta + z with steps
// s, its coefficients in reused buffers.
func (c *Backend) normalizing(mean, invStd, gamma, beta []float32, s rowSteps) affineMap {
	ka, kb, _ := c.coefficients(len(mean))
	for j := range ka {
		ka[j], kb[j] = invStd[j]*gamma[j], 1
	}
	return affineMap{ka: ka, m: mean, kb: kb, kc: beta, steps: s}
}

// BatchNormBackward is the training-mode gradient, where mean and variance
// depend on x: dx = γ·invStd·(dy - mean(dy) - x̂·mean(dy·x̂)), x̂ =
// (x-mean)·invStd, written as the affine map ka·(x-mean) + kb·dy + kc.
func (c *Backend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	c.batchNormBackward("batchnorm backward", dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd, rowSteps{})
}

// reluBatchNormBackward is the gradient of reluBatchNormTrain: that of
// BatchNormBackward at max(x, 0), passed back where x > 0.
func (c *Backend) reluBatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor) {
	c.batchNormBackward("relu batchnorm backward", dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd, rowSteps{reluIn: true, maskOut: true})
}

func (c *Backend) batchNormBackward(op string, dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd backend.Tensor, s rowSteps) {
	_, ch, ok := c.bnShape(op, x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok || !c.sameLen(op, x.Len(), dx, dy) {
		return
	}
	sumDy, sumDyXc := c.groupedSums(x.Shape()[0], sumDots, f32(x), f32(dy), f32(saveMean), ch, s.reluIn)
	c.saveBackwardSums(sumDy, sumDyXc, dgamma, dbeta, saveInvStd)
	c.backwardAffine(dx, dy, x, gamma, saveMean, saveInvStd, dgamma, dbeta, s)
}

// saveBackwardSums writes dbeta = Σdy and dgamma = Σdy·x̂ = invStd·Σdy·(x-mean)
// from the float64 sums, added up per image (the order conv2DBackwardBN
// adds its tiles in).
func (c *Backend) saveBackwardSums(sumDy, sumDyXc []float64, dgamma, dbeta, saveInvStd backend.Tensor) {
	db, dg, invStd := f32(dbeta), f32(dgamma), f32(saveInvStd)
	for j := range db {
		db[j], dg[j] = float32(sumDy[j]), float32(sumDyXc[j]*float64(invStd[j]))
	}
}

// backwardAffine writes dx = γ·invStd·(dy - mean(dy) - x̂·mean(dy·x̂)) as the
// affine map ka·(x-mean) + kb·dy + kc, its coefficients from the float32
// dgamma and dbeta: that is all the batch norm's gradient needs once its
// sums are known, whoever added them up.
func (c *Backend) backwardAffine(dx, dy, x, gamma, saveMean, saveInvStd, dgamma, dbeta backend.Tensor, s rowSteps) {
	ka, kb, kc := c.coefficients(gamma.Len())
	c.affine(f32(dx), f32(x), f32(dy), backwardMap(ka, kb, kc, x.Len()/gamma.Len(), gamma, saveMean, saveInvStd, dgamma, dbeta, s))
}

// backwardMap fills ka, kb, kc with backwardAffine's coefficients for m
// values per channel and returns the map (steps s).
func backwardMap(ka, kb, kc []float32, m int, gamma, saveMean, saveInvStd, dgamma, dbeta backend.Tensor, s rowSteps) affineMap {
	gs, invStd, db, dg := f32(gamma), f32(saveInvStd), f32(dbeta), f32(dgamma)
	for j := range ka {
		is := float64(invStd[j])
		g := float64(gs[j]) * is
		ka[j], kb[j] = float32(-g*is*float64(dg[j])/float64(m)), float32(g)
		kc[j] = float32(-g * float64(db[j]) / float64(m))
	}
	return affineMap{ka: ka, m: f32(saveMean), kb: kb, kc: kc, steps: s}
}

// perChannel hands out two reusable per-channel buffers.
func (c *Backend) perChannel(n int) (a, b []float32) {
	both := grown(&c.bnWork.channel32, 2*n)
	return both[:n], both[n:]
}
