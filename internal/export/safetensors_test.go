package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// randomValues fills every parameter of spec with distinct random values,
// so that any misplaced element shows.
func randomValues(t *testing.T, k int) (*model.Spec, map[string][]float32) {
	t.Helper()
	spec, err := model.Declare(model.Config{Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(k)))
	values := map[string][]float32{}
	for _, p := range spec.Params {
		v := make([]float32, p.Size())
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		if p.Init == model.Ones { // variances stay positive
			for i := range v {
				v[i] = 0.5 + v[i]*v[i]
			}
		}
		values[p.Name] = v
	}
	return spec, values
}

// TestSafetensorsRoundTrip writes a file, reads it back with the
// safetensors library and checks every tensor to the bit, the names
// torch_ref.py's state_dict has, and a header a plain JSON parser accepts.
func TestSafetensorsRoundTrip(t *testing.T) {
	spec, values := randomValues(t, 3)
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, spec, values, map[string]string{"seed": "7"}); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	st, err := safetensors.Deserialize(file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := TorchTensors(spec, values)
	if err != nil {
		t.Fatal(err)
	}
	// The state_dict of torch_ref.build(3): 11 modules with parameters,
	// five of them batch norms with two buffers.
	if got, n := st.Len(), len(want); got != n || n != 2*6+4*5 {
		t.Errorf("%d tensors, want %d: %v", got, n, st.Names())
	}
	for _, w := range want {
		view, ok := st.Tensor(w.Name)
		if !ok {
			t.Fatalf("tensor %s missing; have %v", w.Name, st.Names())
		}
		if view.DType() != safetensors.F32 || !equalDims(view.Shape(), w.Shape) {
			t.Fatalf("%s: %s %v, want F32 %v", w.Name, view.DType(), view.Shape(), w.Shape)
		}
		data := view.Data()
		for i, v := range w.Data {
			if got := binary.LittleEndian.Uint32(data[4*i:]); got != math.Float32bits(v) {
				t.Fatalf("%s[%d]: bits %#x, want %#x", w.Name, i, got, math.Float32bits(v))
			}
		}
	}
	for _, name := range []string{"0.weight", "3.conv2.weight", "9.weight", "11.running_var", "12.bias"} {
		if _, ok := st.Tensor(name); !ok {
			t.Errorf("no %s: PyTorch could not load it into torch_ref's network", name)
		}
	}

	// The header on its own, as any reader sees it.
	n := binary.LittleEndian.Uint64(file)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(file[8:8+n], &header); err != nil {
		t.Fatalf("header is not JSON: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	if meta["layout"] != Layout || meta["seed"] != "7" || meta["kernel"] != "3" {
		t.Errorf("metadata %v", meta)
	}
	var info struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(header["9.weight"], &info); err != nil {
		t.Fatal(err)
	}
	if info.DType != "F32" || !equalInts(info.Shape, []int{128, 9216}) || info.DataOffsets[1]-info.DataOffsets[0] != 4*128*9216 {
		t.Errorf("9.weight header %+v", info)
	}
}

// TestTorchLayoutComputesTheSame checks the layouts by what they compute:
// a convolution output and the first dense layer on a random activation
// give the same numbers in our layout (NHWC, HWIO, (in, out)) and in
// PyTorch's (NCHW, OIHW, (out, in)).
func TestTorchLayoutComputesTheSame(t *testing.T) {
	spec, values := randomValues(t, 5)
	tensors, err := TorchTensors(spec, values)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Tensor{}
	for _, x := range tensors {
		byName[x.Name] = x
	}
	rng := rand.New(rand.NewPCG(2, 2))

	// resblock_conv_a: 5x5, 32 -> 32, one output pixel at (oy, ox) = (0, 0)
	// over an input patch, valid part only.
	const k, c = 5, 32
	patch := make([]float64, k*k*c) // (y, x, ci) NHWC
	for i := range patch {
		patch[i] = rng.Float64()
	}
	ours, theirs := values["resblock_conv_a/kernel"], byName["3.conv1.weight"]
	for o := range c {
		var a, b float64
		for y := range k {
			for x := range k {
				for i := range c {
					in := patch[(y*k+x)*c+i]
					a += in * float64(ours[((y*k+x)*c+i)*c+o])
					b += in * float64(theirs.Data[((o*c+i)*k+y)*k+x])
				}
			}
		}
		if a != b {
			t.Fatalf("conv output channel %d: %v ours, %v PyTorch layout", o, a, b)
		}
	}

	// dense on the pooled (12, 12, 64) map, flattened HWC for us and CHW for PyTorch.
	const h, w, ch, units = 12, 12, 64, 128
	act := make([]float64, h*w*ch) // HWC
	for i := range act {
		act[i] = rng.Float64()
	}
	kern, weight := values["dense/kernel"], byName["9.weight"]
	for o := range units {
		var a, b float64
		for y := range h {
			for x := range w {
				for cc := range ch {
					v := act[(y*w+x)*ch+cc]
					a += v * float64(kern[((y*w+x)*ch+cc)*units+o])
					b += v * float64(weight.Data[o*h*w*ch+(cc*h+y)*w+x])
				}
			}
		}
		if a != b {
			t.Fatalf("dense unit %d: %v ours, %v PyTorch layout", o, a, b)
		}
	}
	if got := byName["12.weight"].Shape; !equalInts(got, []int{10, 128}) {
		t.Errorf("12.weight shape %v, want (10, 128)", got)
	}
}

func equalDims(d []uint64, s []int) bool {
	if len(d) != len(s) {
		return false
	}
	for i := range d {
		if d[i] != uint64(s[i]) {
			return false
		}
	}
	return true
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
