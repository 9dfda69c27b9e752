//go:build (amd64 || arm64) && !purego

package cpu

import "math"

// The row loops' entry points where assembly exists (AVX-512 or AVX2 on
// amd64, NEON on arm64): each checks the sizes the assembly takes and
// hands the rest to the portable loop of chan.go; hasVector and the *Vec
// functions (chan_avx2_amd64.go, chan_neon_arm64.go) pick the instruction
// set.

// vectorChannels says whether the assembly takes rows of ch channels.
func vectorChannels(ch int) bool { return hasVector() && ch > 0 && ch%16 == 0 }

func sumsBlock(x []float32, rows, ch int, mu []float32, s1, s2 []float64, reluX bool) {
	if !vectorChannels(ch) || rows == 0 {
		sumsBlockGo(x, rows, ch, mu, s1, s2, reluX)
		return
	}
	_, _, _, _ = x[rows*ch-1], mu[ch-1], s1[ch-1], s2[ch-1]
	sumsVec(&x[0], rows, ch, &mu[0], &s1[0], &s2[0], reluFloor(reluX))
}

func dotsBlock(a, b []float32, rows, ch int, mu []float32, s1, s2 []float64, reluB bool) {
	if !vectorChannels(ch) || rows == 0 {
		dotsBlockGo(a, b, rows, ch, mu, s1, s2, reluB)
		return
	}
	_, _, _, _, _ = a[rows*ch-1], b[rows*ch-1], mu[ch-1], s1[ch-1], s2[ch-1]
	dotsVec(&a[0], &b[0], rows, ch, &mu[0], &s1[0], &s2[0], reluFloor(reluB))
}

// reluFloor is the lower bound the assembly applies: 0 for a ReLU, -Inf
// (which changes nothing) otherwise.
func reluFloor(relu bool) float32 {
	if relu {
		return 0
	}
	return float32(math.Inf(-1))
}

func affineRows(y, x, z []float32, rows, ch int, ka, m, kb, kc []float32, s rowSteps) {
	if !vectorChannels(ch) || rows == 0 {
		affineRowsGo(y, x, z, rows, ch, ka, m, kb, kc, s)
		return
	}
	_, _ = y[rows*ch-1], x[rows*ch-1]
	_, _, _, _ = ka[ch-1], m[ch-1], kb[ch-1], kc[ch-1]
	var zp *float32
	if z != nil {
		_ = z[rows*ch-1]
		zp = &z[0]
	}
	cut := float32(math.NaN())
	if s.maskOut {
		cut = 0
	}
	affineVec(&y[0], &x[0], zp, rows, ch, &ka[0], &m[0], &kb[0], &kc[0], reluFloor(s.reluIn), reluFloor(s.reluOut), cut)
}

// vectorPart is how many leading elements of an n-element slice the
// assembly handles (a multiple of 16); the rest goes to the Go loop.
func vectorPart(n int) int {
	if !hasVector() {
		return 0
	}
	return n &^ 15
}

func relu(y, x []float32) {
	v := vectorPart(len(x))
	if v > 0 {
		_ = y[len(x)-1]
		reluVec(&y[0], &x[0], v)
	}
	reluGo(y[v:], x[v:])
}

func reluBackward(dx, dy, y []float32) {
	v := vectorPart(len(y))
	if v > 0 {
		_, _ = dx[len(y)-1], dy[len(y)-1]
		reluBackwardVec(&dx[0], &dy[0], &y[0], v)
	}
	reluBackwardGo(dx[v:], dy[v:], y[v:])
}

func add(y, a, b []float32) {
	v := vectorPart(len(a))
	if v > 0 {
		_, _ = y[len(a)-1], b[len(a)-1]
		addVec(&y[0], &a[0], &b[0], v)
	}
	addGo(y[v:], a[v:], b[v:])
}

func maxPoolRow(y, top, bottom []float32, ow, ch int) {
	if !vectorChannels(ch) || ow == 0 {
		maxPoolRowGo(y, top, bottom, ow, ch)
		return
	}
	_, _, _ = y[ow*ch-1], top[2*ow*ch-1], bottom[2*ow*ch-1]
	maxPoolRowVec(&y[0], &top[0], &bottom[0], ow, ch)
}

func maxPoolBackwardRow(dtop, dbottom, dy, top, bottom []float32, ow, ch int) {
	if !vectorChannels(ch) || ow == 0 {
		maxPoolBackwardRowGo(dtop, dbottom, dy, top, bottom, ow, ch)
		return
	}
	_, _, _ = dtop[2*ow*ch-1], dbottom[2*ow*ch-1], dy[ow*ch-1]
	_, _ = top[2*ow*ch-1], bottom[2*ow*ch-1]
	maxPoolBackwardRowVec(&dtop[0], &dbottom[0], &dy[0], &top[0], &bottom[0], ow, ch)
}

func adamUpdate(p, g, m, v []float32, alpha, beta1, beta2, eps float32) {
	n := vectorPart(len(p))
	if n > 0 {
		_, _, _ = g[len(p)-1], m[len(p)-1], v[len(p)-1]
		adamVec(&p[0], &g[0], &m[0], &v[0], n, alpha, 1-beta1, 1-beta2, eps)
	}
	adamGo(p[n:], g[n:], m[n:], v[n:], alpha, beta1, beta2, eps)
}
