//go:build arm64 && !purego

package cpu

// The row loops on arm64 (chan_neon_arm64.s): each gives the AVX-512 and
// AVX2 loops' bits (the same operations, fused where those fuse and
// rounded apart where those round apart), so arm64 trains as amd64 does.
// hasNEON off (as tests set it) runs the portable loops.

// hasVector says whether an assembly row loop runs.
func hasVector() bool { return hasNEON }

//go:noescape
func sumsNEON(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)

//go:noescape
func dotsNEON(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)

//go:noescape
func affineNEON(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32)

//go:noescape
func reluNEON(y, x *float32, n int)

//go:noescape
func reluBackwardNEON(dx, dy, y *float32, n int)

//go:noescape
func addNEON(y, a, b *float32, n int)

//go:noescape
func maxPoolRowNEON(y, top, bottom *float32, ow, ch int)

//go:noescape
func maxPoolBackwardRowNEON(dtop, dbottom, dy, top, bottom *float32, ow, ch int)

//go:noescape
func adamNEON(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32)

func sumsVec(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32) {
	sumsNEON(x, rows, ch, mu, s1, s2, lo)
}

func dotsVec(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32) {
	dotsNEON(a, b, rows, ch, mu, s1, s2, lo)
}

func affineVec(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32) {
	affineNEON(y, x, z, rows, ch, ka, m, kb, kc, lo, floor, cut)
}

func reluVec(y, x *float32, n int)              { reluNEON(y, x, n) }
func reluBackwardVec(dx, dy, y *float32, n int) { reluBackwardNEON(dx, dy, y, n) }
func addVec(y, a, b *float32, n int)            { addNEON(y, a, b, n) }

func maxPoolRowVec(y, top, bottom *float32, ow, ch int) { maxPoolRowNEON(y, top, bottom, ow, ch) }

func maxPoolBackwardRowVec(dtop, dbottom, dy, top, bottom *float32, ow, ch int) {
	maxPoolBackwardRowNEON(dtop, dbottom, dy, top, bottom, ow, ch)
}

func adamVec(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32) {
	adamNEON(p, grad, m, v, n, alpha, c1, c2, eps)
}

// prefetch does nothing on arm64: the loads it would start are the
// hardware prefetcher's job there.
func prefetch([]float32) {}
