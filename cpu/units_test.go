package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// chainUnit is one conv unit of a test chain: its kernel size, output
// channels and, unless -1, the unit whose output is its shortcut z.
type chainUnit struct {
	u        backend.Conv
	k, cout  int
	shortcut int
}

// chainCase is a chain of conv units on an (n, h, w, cin) input.
type chainCase struct {
	name        string
	n, h, w, ci int
	units       []chainUnit
}

var unitBN = backend.BatchNorm{Momentum: bnMomentum, Eps: bnEps}

// chainCases are the model's conv units at small sizes (the 32-channel
// direct path, 'same' padding 1 and 2), the GEMM path with odd channel
// counts and odd maps (the pool leaves a row and a column out), and last
// units without a pool, whose output backward pass takes its own sums.
var chainCases = []chainCase{
	{"model k3", 2, 10, 9, 1, []chainUnit{
		{backend.Conv{PreReLU: true, BN: unitBN}, 3, 32, -1},
		{backend.Conv{Pad: 1, PostReLU: true, BN: unitBN}, 3, 32, -1},
		{backend.Conv{Pad: 1, PostReLU: true, BN: unitBN}, 3, 32, 0},
		{backend.Conv{PreReLU: true, Pool: true, BN: unitBN}, 3, 64, -1},
	}},
	{"model k5", 2, 11, 12, 1, []chainUnit{
		{backend.Conv{PreReLU: true, BN: unitBN}, 3, 32, -1},
		{backend.Conv{Pad: 2, PostReLU: true, BN: unitBN}, 5, 32, -1},
		{backend.Conv{Pad: 2, PostReLU: true, BN: unitBN}, 5, 32, 0},
		{backend.Conv{PreReLU: true, Pool: true, BN: unitBN}, 3, 64, -1},
	}},
	{"gemm path, odd", 3, 9, 10, 3, []chainUnit{
		{backend.Conv{PreReLU: true, BN: unitBN}, 3, 5, -1},
		{backend.Conv{Pad: 1, PostReLU: true, BN: unitBN}, 3, 5, 0},
		{backend.Conv{PreReLU: true, Pool: true, BN: unitBN}, 3, 7, -1},
	}},
	{"no pool, shortcut last", 2, 8, 8, 1, []chainUnit{
		{backend.Conv{PreReLU: true, BN: unitBN}, 3, 32, -1},
		{backend.Conv{Pad: 1, PostReLU: true, BN: unitBN}, 3, 32, 0},
	}},
	{"no pool, ReLU before last", 2, 7, 9, 2, []chainUnit{
		{backend.Conv{PostReLU: true, BN: unitBN}, 1, 16, -1},
		{backend.Conv{Pad: 1, PreReLU: true, BN: unitBN}, 3, 16, -1},
	}},
}

// TestConvUnitsMatchComposed runs each chain forward in training, back
// through every unit, and forward in inference, with the CPU's own units
// (fused, on padded activations where the direct convolution runs) and
// with backend.Composed over the CPU's plain ops: every output, saved and
// moving statistic, gradient and input gradient must be the same bits, on
// the assembly and the portable direct kernels.
func TestConvUnitsMatchComposed(t *testing.T) {
	forEachDirectKernel(func(isa string, c *Backend) {
		for i, tc := range chainCases {
			t.Run(fmt.Sprintf("%s/%s", isa, tc.name), func(t *testing.T) {
				seed := uint64(2100 + i)
				native := runChain(t, c, c, tc, seed)
				composed := runChain(t, c, backend.Composed{Ops: c}, tc, seed)
				if len(native) != len(composed) {
					t.Fatalf("%d results, composed %d", len(native), len(composed))
				}
				for j, r := range composed {
					checkClose(t, r.what, native[j].v, r.v, 0, 0)
				}
			})
		}
	})
}

type result struct {
	what string
	v    []float64
}

// runChain runs tc on be (whose tensors are c's) from the inputs that
// seed draws and returns what the units wrote.
func runChain(t *testing.T, c *Backend, be backend.Backend, tc chainCase, seed uint64) []result {
	t.Helper()
	r := newRand(seed)
	type unitRun struct {
		l              backend.Layer
		s              backend.ConvState
		x, y, g, dy    backend.Tensor
		conv, out      []int // the convolution's output shape and the unit's
		inferY, inferS backend.Tensor
	}
	units := make([]unitRun, len(tc.units))
	xv := randVals(r, tc.n*tc.h*tc.w*tc.ci, 1)
	x := upload(t, c, xv, tc.n, tc.h, tc.w, tc.ci)
	h, w, ci := tc.h, tc.w, tc.ci
	for i, cu := range tc.units {
		u := &units[i]
		oh, ow := h+2*cu.u.Pad-cu.k+1, w+2*cu.u.Pad-cu.k+1
		u.conv = []int{tc.n, oh, ow, cu.cout}
		u.out = u.conv
		if cu.u.Pool {
			u.out = []int{tc.n, oh / 2, ow / 2, cu.cout}
		}
		bn := newBNInputs(r, cu.cout)
		p := bn.upload(t, c)
		fan := cu.k * cu.k * ci
		u.l = backend.Layer{
			W: upload(t, c, randVals(r, fan*cu.cout, math.Sqrt(3/float64(fan))), cu.k, cu.k, ci, cu.cout),
			B: upload(t, c, randVals(r, cu.cout, 0.1), cu.cout), Gamma: p.gamma, Beta: p.beta,
			MovingMean: p.movMean, MovingVar: p.movVar, Mean: p.saveMean, InvStd: p.saveInvStd,
			DW: garbage(c, cu.k, cu.k, ci, cu.cout), DB: garbage(c, cu.cout), DGamma: garbage(c, cu.cout), DBeta: garbage(c, cu.cout),
		}
		u.s = be.AllocConvState(cu.u, tc.n, oh, ow, cu.cout, true)
		u.g, u.dy = garbage(c, u.conv...), garbage(c, u.conv...)
		h, w, ci = u.out[1], u.out[2], cu.cout
	}
	// Outputs are laid out for the unit that reads them.
	for i := range units {
		pad := 0
		if i+1 < len(units) {
			pad = tc.units[i+1].u.Pad
		}
		o := units[i].out
		units[i].y = be.AllocActivation(pad, o[0], o[1], o[2], o[3], true)
		units[i].inferY = be.AllocActivation(pad, o[0], o[1], o[2], o[3], false)
		units[i].inferS = be.AllocConvState(tc.units[i].u, tc.n, units[i].conv[1], units[i].conv[2], units[i].conv[3], false).Pre
	}
	z := func(i int, y func(*unitRun) backend.Tensor) backend.Tensor {
		if j := tc.units[i].shortcut; j >= 0 {
			return y(&units[j])
		}
		return nil
	}
	in := x
	for i, cu := range tc.units {
		u := &units[i]
		u.x = in
		be.ConvUnitForward(u.y, in, z(i, func(u *unitRun) backend.Tensor { return u.y }), cu.u, &u.l, u.s, true)
		in = u.y
	}
	last := len(units) - 1
	dy := upload(t, c, randVals(r, units[last].y.Len(), 1), units[last].out...)
	be.ConvUnitOutputBackward(units[last].g, dy, units[last].y, tc.units[last].u, &units[last].l, units[last].s)
	for i := last; i >= 0; i-- {
		u := &units[i]
		if i == 0 {
			be.ConvUnitBackward(nil, u.dy, u.g, u.x, tc.units[i].u, &u.l, u.s, nil)
			continue
		}
		prev := &backend.ConvInput{Unit: tc.units[i-1].u, Layer: &units[i-1].l, State: units[i-1].s, Y: units[i-1].y}
		for j := i; j <= last; j++ {
			if tc.units[j].shortcut == i-1 {
				prev.Addend = units[j].g
			}
		}
		be.ConvUnitBackward(units[i-1].g, u.dy, u.g, u.x, tc.units[i].u, &u.l, u.s, prev)
	}
	in = x
	for i, cu := range tc.units {
		u := &units[i]
		be.ConvUnitForward(u.inferY, in, z(i, func(u *unitRun) backend.Tensor { return u.inferY }), cu.u, &u.l,
			backend.ConvState{Pre: u.inferS}, false)
		in = u.inferY
	}
	mustSync(t, c)
	var out []result
	add := func(i int, what string, x backend.Tensor) {
		out = append(out, result{fmt.Sprintf("unit %d %s", i, what), download(t, c, x)})
	}
	for i := range units {
		u := &units[i]
		add(i, "y", u.y)
		add(i, "saved mean", u.l.Mean)
		add(i, "saved invstd", u.l.InvStd)
		add(i, "moving mean", u.l.MovingMean)
		add(i, "moving var", u.l.MovingVar)
		add(i, "dw", u.l.DW)
		add(i, "db", u.l.DB)
		add(i, "dgamma", u.l.DGamma)
		add(i, "dbeta", u.l.DBeta)
		add(i, "inference y", u.inferY)
		if i < last {
			add(i, "gradient at the batch-norm output", u.g)
		}
	}
	return out
}

// TestDenseUnitMatchesComposed compares the CPU's dense unit (one fused
// ReLU and batch norm pass each way) with the composed one, to the bit.
func TestDenseUnitMatchesComposed(t *testing.T) {
	c := New()
	for i, tc := range []struct{ n, in, out int }{{64, 96, 128}, {5, 7, 3}} {
		t.Run(fmt.Sprintf("%dx%d→%d", tc.n, tc.in, tc.out), func(t *testing.T) {
			run := func(be backend.Backend) []result {
				r := newRand(uint64(2200 + i))
				p := newBNInputs(r, tc.out).upload(t, c)
				l := backend.Layer{
					W: upload(t, c, randVals(r, tc.in*tc.out, 0.2), tc.in, tc.out), B: upload(t, c, randVals(r, tc.out, 0.1), tc.out),
					Gamma: p.gamma, Beta: p.beta, MovingMean: p.movMean, MovingVar: p.movVar, Mean: p.saveMean, InvStd: p.saveInvStd,
					DW: garbage(c, tc.in, tc.out), DB: garbage(c, tc.out), DGamma: garbage(c, tc.out), DBeta: garbage(c, tc.out),
				}
				x := upload(t, c, randVals(r, tc.n*tc.in, 1), tc.n, tc.in)
				dy := upload(t, c, randVals(r, tc.n*tc.out, 1), tc.n, tc.out)
				y, pre, dx, dpre := garbage(c, tc.n, tc.out), garbage(c, tc.n, tc.out), garbage(c, tc.n, tc.in), garbage(c, tc.n, tc.out)
				u := backend.Dense{BN: unitBN}
				be.DenseUnitForward(y, pre, x, u, &l, true)
				be.DenseUnitBackward(dx, dpre, dy, pre, x, u, &l)
				yInfer := garbage(c, tc.n, tc.out)
				be.DenseUnitForward(yInfer, nil, x, u, &l, false)
				mustSync(t, c)
				var out []result
				for _, r := range []struct {
					what string
					t    backend.Tensor
				}{{"y", y}, {"saved mean", l.Mean}, {"saved invstd", l.InvStd}, {"moving mean", l.MovingMean},
					{"moving var", l.MovingVar}, {"dx", dx}, {"dw", l.DW}, {"db", l.DB}, {"dgamma", l.DGamma},
					{"dbeta", l.DBeta}, {"inference y", yInfer}} {
					out = append(out, result{r.what, download(t, c, r.t)})
				}
				return out
			}
			native, composed := run(c), run(backend.Composed{Ops: c})
			for j, r := range composed {
				checkClose(t, r.what, native[j].v, r.v, 0, 0)
			}
		})
	}
}

// TestConvUnitWithoutKernel: a conv unit the fused passes do not compute
// is refused with an error that names it, at allocation, not computed
// wrongly.
func TestConvUnitWithoutKernel(t *testing.T) {
	for _, u := range []backend.Conv{
		{PreReLU: true, PostReLU: true, BN: unitBN},
		{BN: unitBN},
		{PostReLU: true, Pool: true, BN: unitBN},
	} {
		c := New()
		c.AllocConvState(u, 1, 4, 4, 32, true)
		if err := c.Sync(); err == nil {
			t.Errorf("%+v: allocated without an error", u)
		}
	}
	c := New()
	c.ConvUnitForward(c.Alloc(1, 4, 4, 32), c.Alloc(1, 6, 6, 1), c.Alloc(1, 4, 4, 32), backend.Conv{PreReLU: true, BN: unitBN}, &backend.Layer{}, backend.ConvState{}, true)
	if err := c.Sync(); err == nil {
		t.Error("a shortcut after a ReLU-then-batch-norm unit ran without an error")
	}
}
