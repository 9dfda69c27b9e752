package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Tolerances. Forward outputs are float32 sums of float32 products, compared
// elementwise with atol + rtol·|ref|. Gradients compare the backend's float32
// analytic values with float64 central differences of the reference.
const (
	fwdAtol  = 1e-5
	fwdRtol  = 1e-4
	gradAtol = 1e-6
	gradRtol = 1e-3
	// fdStep is the central-difference step; in float64 its truncation error
	// (h²) and rounding error (1e-16·|L|/h) are both far below gradRtol.
	fdStep = 1e-6
)

// newRand is a generator with a fixed seed, so every failure reproduces.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d6e697374)) }

// randVals returns n values uniform in [-scale, scale) that are exactly
// representable in float32, so the float64 reference and the float32 op see
// the same numbers.
func randVals(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(float32((2*r.Float64() - 1) * scale))
	}
	return v
}

// randAway is randVals with magnitudes in [lo, scale), for inputs of a kink
// (ReLU) that finite differences must not straddle.
func randAway(r *rand.Rand, n int, lo, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		mag := lo + r.Float64()*(scale-lo)
		if r.IntN(2) == 0 {
			mag = -mag
		}
		v[i] = float64(float32(mag))
	}
	return v
}

// distinctVals is a random order of n distinct values 0.01 apart, so every
// max-pool window has a unique maximum that a step of fdStep cannot change.
func distinctVals(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i, p := range r.Perm(n) {
		v[i] = float64(float32(float64(p-n/2) * 0.01))
	}
	return v
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// upload allocates a float32 tensor of the given shape holding v.
func upload(t testing.TB, c *Backend, v []float64, shape ...int) backend.Tensor {
	t.Helper()
	x := c.Alloc(shape...)
	if err := c.Upload(x, to32(v)); err != nil {
		t.Fatal(err)
	}
	return x
}

func uploadInt32(t testing.TB, c *Backend, v []int32, shape ...int) backend.Tensor {
	t.Helper()
	x := c.AllocInt32(shape...)
	if err := c.UploadInt32(x, v); err != nil {
		t.Fatal(err)
	}
	return x
}

// garbage allocates an output tensor filled with NaN, so an op that leaves
// any element unwritten (or accumulates into it) fails the comparison.
func garbage(c *Backend, shape ...int) backend.Tensor {
	x := c.Alloc(shape...)
	c.Fill(x, float32(math.NaN()))
	return x
}

func download(t testing.TB, c *Backend, x backend.Tensor) []float64 {
	t.Helper()
	out := make([]float32, x.Len())
	if err := c.Download(out, x); err != nil {
		t.Fatal(err)
	}
	return to64(out)
}

// mustSync fails the test if any op since the last Sync recorded an error.
func mustSync(t testing.TB, c *Backend) {
	t.Helper()
	if err := c.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// rmsOf is the root mean square of v.
func rmsOf(v []float64) float64 {
	return math.Sqrt(dot(v, v) / float64(max(len(v), 1)))
}

// numGrad is dL/dp by central differences; loss must read p afresh each call.
func numGrad(p []float64, loss func() float64) []float64 {
	g := make([]float64, len(p))
	for i := range p {
		old := p[i]
		p[i] = old + fdStep
		plus := loss()
		p[i] = old - fdStep
		minus := loss()
		p[i] = old
		g[i] = (plus - minus) / (2 * fdStep)
	}
	return g
}

// errStats is the largest error of a comparison, for the log.
type errStats struct {
	maxAbs, maxRel float64 // largest |got-want| and |got-want|/max(|got|,|want|)
	at             int     // index of maxAbs
	norm           float64 // ‖got-want‖ / ‖want‖
}

func (e errStats) String() string {
	return fmt.Sprintf("max |err| %.3g at %d, max rel err %.3g, ‖err‖/‖ref‖ %.3g", e.maxAbs, e.at, e.maxRel, e.norm)
}

// compare checks got against want element by element with ok, reports the
// first mismatches and the largest error on failure, and logs the largest
// error otherwise.
func compare(t testing.TB, what string, got, want []float64, ok func(g, w float64) bool) errStats {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var e errStats
	var diff2, ref2 float64
	var bad []string
	nbad := 0
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		diff2 += d * d
		ref2 += want[i] * want[i]
		if d > e.maxAbs || i == 0 {
			e.maxAbs, e.at = d, i
		}
		if s := math.Max(math.Abs(got[i]), math.Abs(want[i])); s > 0 {
			e.maxRel = math.Max(e.maxRel, d/s)
		}
		if !ok(got[i], want[i]) {
			nbad++
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("[%d] got %.8g want %.8g (|err| %.3g)", i, got[i], want[i], d))
			}
		}
	}
	e.norm = math.Sqrt(diff2)
	if ref2 > 0 {
		e.norm /= math.Sqrt(ref2)
	}
	if nbad > 0 {
		t.Errorf("%s: %d of %d values differ; first: %s; %v (got %.8g want %.8g)",
			what, nbad, len(got), strings.Join(bad, ", "), e, got[e.at], want[e.at])
	} else {
		t.Logf("%s: %v", what, e)
	}
	return e
}

// checkClose is the forward check: |got-want| ≤ atol + rtol·|want|.
func checkClose(t testing.TB, what string, got, want []float64, atol, rtol float64) errStats {
	t.Helper()
	return compare(t, what, got, want, func(g, w float64) bool {
		return math.Abs(g-w) <= atol+rtol*math.Abs(w)
	})
}

// checkGrad compares an analytic gradient with a numerical one:
// |a-b| ≤ atol + rtol·max(|a|,|b|) per element, where an element that fails
// may still pass when its error is within rtol of the gradient's RMS (entries
// that cancel to near zero carry float32 rounding of the whole sum), and the
// whole gradient must then agree in norm: ‖a-b‖ ≤ rtol·‖b‖ + atol·√n.
func checkGrad(t testing.TB, what string, got, want []float64, atol, rtol float64) errStats {
	t.Helper()
	rms := rmsOf(want)
	e := compare(t, what, got, want, func(g, w float64) bool {
		d := math.Abs(g - w)
		return d <= atol+rtol*math.Max(math.Abs(g), math.Abs(w)) || d <= rtol*rms
	})
	var diff2 float64
	for i := range got {
		diff2 += (got[i] - want[i]) * (got[i] - want[i])
	}
	if lim := rtol*rms*math.Sqrt(float64(len(want))) + atol*math.Sqrt(float64(len(want))); !(math.Sqrt(diff2) <= lim) {
		t.Errorf("%s: ‖err‖ %.3g exceeds %.3g (%v)", what, math.Sqrt(diff2), lim, e)
	}
	return e
}
