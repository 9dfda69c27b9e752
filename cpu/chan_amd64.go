//go:build amd64 && !purego

package cpu

//go:noescape
func sumsAVX512(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)

//go:noescape
func dotsAVX512(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)

//go:noescape
func affineAVX512(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32)

//go:noescape
func reluAVX512(y, x *float32, n int)

//go:noescape
func reluBackwardAVX512(dx, dy, y *float32, n int)

//go:noescape
func addAVX512(y, a, b *float32, n int)

//go:noescape
func prefetchAVX512(p *float32, n int)

//go:noescape
func maxPoolRowAVX512(y, top, bottom *float32, ow, ch int)

//go:noescape
func maxPoolBackwardRowAVX512(dtop, dbottom, dy, top, bottom *float32, ow, ch int)

//go:noescape
func adamAVX512(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32)

// prefetch asks for x's cache lines to be loaded into L1 ahead of use.
func prefetch(x []float32) {
	if hasVector() && len(x) > 0 {
		prefetchAVX512(&x[0], len(x))
	}
}
