package cpu

import "math"

// Float64 references for the CPU ops, written as direct nested loops from the
// contracts in internal/backend and sharing no code with this package, so a
// bug in an op cannot hide in its own reference. Finite differences run on
// these functions, never on the float32 ops.

// nhwc is the shape of an image batch.
type nhwc struct{ n, h, w, c int }

func (s nhwc) len() int { return s.n * s.h * s.w * s.c }

// at is the flat index of element (img, y, x, ch).
func (s nhwc) at(img, y, x, ch int) int { return ((img*s.h+y)*s.w+x)*s.c + ch }

// kernel is the shape of a convolution kernel (KH, KW, Cin, Cout).
type kernel struct{ kh, kw, cin, cout int }

func (k kernel) len() int { return k.kh * k.kw * k.cin * k.cout }

func (k kernel) at(ky, kx, ci, co int) int { return ((ky*k.kw+kx)*k.cin+ci)*k.cout + co }

// convOut is the output shape of a stride-1 convolution with pad zeros each side.
func convOut(xs nhwc, k kernel, pad int) nhwc {
	return nhwc{xs.n, xs.h + 2*pad - k.kh + 1, xs.w + 2*pad - k.kw + 1, k.cout}
}

// convRef is y = conv(x, w) + b, stride 1, zero padding.
func convRef(x []float64, xs nhwc, w []float64, k kernel, b []float64, pad int) []float64 {
	ys := convOut(xs, k, pad)
	y := make([]float64, ys.len())
	for img := 0; img < ys.n; img++ {
		for oy := 0; oy < ys.h; oy++ {
			for ox := 0; ox < ys.w; ox++ {
				for co := 0; co < k.cout; co++ {
					s := b[co]
					for ky := 0; ky < k.kh; ky++ {
						iy := oy + ky - pad
						if iy < 0 || iy >= xs.h {
							continue
						}
						for kx := 0; kx < k.kw; kx++ {
							ix := ox + kx - pad
							if ix < 0 || ix >= xs.w {
								continue
							}
							for ci := 0; ci < xs.c; ci++ {
								s += x[xs.at(img, iy, ix, ci)] * w[k.at(ky, kx, ci, co)]
							}
						}
					}
					y[ys.at(img, oy, ox, co)] = s
				}
			}
		}
	}
	return y
}

// convBackwardRef is the analytic gradient of Σ dy·conv(x, w), for shapes too
// large for finite differences (TestConv2DLarge); the small shapes check it
// against finite differences too.
func convBackwardRef(dy, x []float64, xs nhwc, w []float64, k kernel, pad int) (dx, dw, db []float64) {
	ys := convOut(xs, k, pad)
	dx, dw, db = make([]float64, xs.len()), make([]float64, k.len()), make([]float64, k.cout)
	for img := 0; img < ys.n; img++ {
		for oy := 0; oy < ys.h; oy++ {
			for ox := 0; ox < ys.w; ox++ {
				for co := 0; co < k.cout; co++ {
					g := dy[ys.at(img, oy, ox, co)]
					db[co] += g
					for ky := 0; ky < k.kh; ky++ {
						iy := oy + ky - pad
						if iy < 0 || iy >= xs.h {
							continue
						}
						for kx := 0; kx < k.kw; kx++ {
							ix := ox + kx - pad
							if ix < 0 || ix >= xs.w {
								continue
							}
							for ci := 0; ci < xs.c; ci++ {
								dx[xs.at(img, iy, ix, ci)] += g * w[k.at(ky, kx, ci, co)]
								dw[k.at(ky, kx, ci, co)] += g * x[xs.at(img, iy, ix, ci)]
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

// bnTrainRef normalizes x viewed as (M, ch) with the batch mean and biased
// batch variance; it also returns those statistics.
func bnTrainRef(x []float64, ch int, gamma, beta []float64, eps float64) (y, mean, variance []float64) {
	m := len(x) / ch
	mean, variance = make([]float64, ch), make([]float64, ch)
	for r := 0; r < m; r++ {
		for j := 0; j < ch; j++ {
			mean[j] += x[r*ch+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(m)
	}
	for r := 0; r < m; r++ {
		for j := 0; j < ch; j++ {
			d := x[r*ch+j] - mean[j]
			variance[j] += d * d
		}
	}
	for j := range variance {
		variance[j] /= float64(m)
	}
	return bnInferRef(x, ch, gamma, beta, mean, variance, eps), mean, variance
}

// bnInferRef normalizes x (M, ch) with given statistics.
func bnInferRef(x []float64, ch int, gamma, beta, mean, variance []float64, eps float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		j := i % ch
		y[i] = (v-mean[j])/math.Sqrt(variance[j]+eps)*gamma[j] + beta[j]
	}
	return y
}

func reluRef(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		if v > 0 {
			y[i] = v
		}
	}
	return y
}

func addRef(a, b []float64) []float64 {
	y := make([]float64, len(a))
	for i := range a {
		y[i] = a[i] + b[i]
	}
	return y
}

// maxPoolRef is 2x2 max pooling with stride 2, dropping an odd last row or column.
func maxPoolRef(x []float64, xs nhwc) ([]float64, nhwc) {
	ys := nhwc{xs.n, xs.h / 2, xs.w / 2, xs.c}
	y := make([]float64, ys.len())
	for img := 0; img < ys.n; img++ {
		for oy := 0; oy < ys.h; oy++ {
			for ox := 0; ox < ys.w; ox++ {
				for ch := 0; ch < ys.c; ch++ {
					best := math.Inf(-1)
					for dy := 0; dy < 2; dy++ {
						for dx := 0; dx < 2; dx++ {
							best = math.Max(best, x[xs.at(img, 2*oy+dy, 2*ox+dx, ch)])
						}
					}
					y[ys.at(img, oy, ox, ch)] = best
				}
			}
		}
	}
	return y, ys
}

// denseRef is y = x w + b with x (n, in), w (in, out).
func denseRef(x []float64, n, in int, w []float64, out int, b []float64) []float64 {
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			s := b[o]
			for k := 0; k < in; k++ {
				s += x[i*in+k] * w[k*out+o]
			}
			y[i*out+o] = s
		}
	}
	return y
}

// argmaxRef is the index of the first largest value, as numpy and Keras count it.
func argmaxRef(row []float64) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// softmaxCERef scores logits (n, classes): the summed cross-entropy loss (the
// op's loss is its mean) and the number of rows whose argmax is the label.
func softmaxCERef(z []float64, n, classes int, labels []int32) (lossSum float64, correct int) {
	for i := 0; i < n; i++ {
		row := z[i*classes : (i+1)*classes]
		top := row[argmaxRef(row)]
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(v - top)
		}
		lossSum += top + math.Log(sum) - row[labels[i]]
		if argmaxRef(row) == int(labels[i]) {
			correct++
		}
	}
	return lossSum, correct
}

// adamRef is one Keras Adam step on float64 state, step t ≥ 1.
func adamRef(p, g, m, v []float64, t int, lr, beta1, beta2, eps float64) {
	alpha := lr * math.Sqrt(1-math.Pow(beta2, float64(t))) / (1 - math.Pow(beta1, float64(t)))
	for i := range p {
		m[i] += (g[i] - m[i]) * (1 - beta1)
		v[i] += (g[i]*g[i] - v[i]) * (1 - beta2)
		p[i] -= alpha * m[i] / (math.Sqrt(v[i]) + eps)
	}
}
