//go:build amd64 && !purego

package cpu

// The row loops of chan_amd64.go on CPUs with AVX2/FMA but no AVX-512
// (chan_avx2_amd64.s): each gives the AVX-512 loop's bits, so the two
// paths train alike. The *Vec functions pick one; chan_amd64.go calls them
// where hasVector holds.

// hasVector says whether an assembly row loop runs: AVX-512 or AVX2.
func hasVector() bool { return hasAVX512 || hasAVX2 }

//go:noescape
func sumsAVX2(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)

//go:noescape
func dotsAVX2(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)

//go:noescape
func affineAVX2(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32)

//go:noescape
func reluAVX2(y, x *float32, n int)

//go:noescape
func reluBackwardAVX2(dx, dy, y *float32, n int)

//go:noescape
func addAVX2(y, a, b *float32, n int)

//go:noescape
func maxPoolRowAVX2(y, top, bottom *float32, ow, ch int)

//go:noescape
func maxPoolBackwardRowAVX2(dtop, dbottom, dy, top, bottom *float32, ow, ch int)

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32)

func sumsVec(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32) {
	if hasAVX512 {
		sumsAVX512(x, rows, ch, mu, s1, s2, lo)
	} else {
		sumsAVX2(x, rows, ch, mu, s1, s2, lo)
	}
}

func dotsVec(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32) {
	if hasAVX512 {
		dotsAVX512(a, b, rows, ch, mu, s1, s2, lo)
	} else {
		dotsAVX2(a, b, rows, ch, mu, s1, s2, lo)
	}
}

func affineVec(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32) {
	if hasAVX512 {
		affineAVX512(y, x, z, rows, ch, ka, m, kb, kc, lo, floor, cut)
	} else {
		affineAVX2(y, x, z, rows, ch, ka, m, kb, kc, lo, floor, cut)
	}
}

func reluVec(y, x *float32, n int) {
	if hasAVX512 {
		reluAVX512(y, x, n)
	} else {
		reluAVX2(y, x, n)
	}
}

func reluBackwardVec(dx, dy, y *float32, n int) {
	if hasAVX512 {
		reluBackwardAVX512(dx, dy, y, n)
	} else {
		reluBackwardAVX2(dx, dy, y, n)
	}
}

func addVec(y, a, b *float32, n int) {
	if hasAVX512 {
		addAVX512(y, a, b, n)
	} else {
		addAVX2(y, a, b, n)
	}
}

func maxPoolRowVec(y, top, bottom *float32, ow, ch int) {
	if hasAVX512 {
		maxPoolRowAVX512(y, top, bottom, ow, ch)
	} else {
		maxPoolRowAVX2(y, top, bottom, ow, ch)
	}
}

func maxPoolBackwardRowVec(dtop, dbottom, dy, top, bottom *float32, ow, ch int) {
	if hasAVX512 {
		maxPoolBackwardRowAVX512(dtop, dbottom, dy, top, bottom, ow, ch)
	} else {
		maxPoolBackwardRowAVX2(dtop, dbottom, dy, top, bottom, ow, ch)
	}
}

func adamVec(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32) {
	if hasAVX512 {
		adamAVX512(p, grad, m, v, n, alpha, c1, c2, eps)
	} else {
		adamAVX2(p, grad, m, v, n, alpha, c1, c2, eps)
	}
}
