//go:build (!amd64 && !arm64) || purego

package cpu

func sumsBlock(x []float32, rows, ch int, mu []float32, s1, s2 []float64, reluX bool) {
	sumsBlockGo(x, rows, ch, mu, s1, s2, reluX)
}

func dotsBlock(a, b []float32, rows, ch int, mu []float32, s1, s2 []float64, reluB bool) {
	dotsBlockGo(a, b, rows, ch, mu, s1, s2, reluB)
}

func affineRows(y, x, z []float32, rows, ch int, ka, m, kb, kc []float32, s rowSteps) {
	affineRowsGo(y, x, z, rows, ch, ka, m, kb, kc, s)
}

func relu(y, x []float32)              { reluGo(y, x) }
func reluBackward(dx, dy, y []float32) { reluBackwardGo(dx, dy, y) }
func add(y, a, b []float32)            { addGo(y, a, b) }

func maxPoolRow(y, top, bottom []float32, ow, ch int) { maxPoolRowGo(y, top, bottom, ow, ch) }

func maxPoolBackwardRow(dtop, dbottom, dy, top, bottom []float32, ow, ch int) {
	maxPoolBackwardRowGo(dtop, dbottom, dy, top, bottom, ow, ch)
}

func adamUpdate(p, g, m, v []float32, alpha, beta1, beta2, eps float32) {
	adamGo(p, g, m, v, alpha, beta1, beta2, eps)
}

func prefetch([]float32) {}
