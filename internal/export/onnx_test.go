package export

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx"
	"github.com/advancedclimatesystems/gonnx/onnx"
	"gorgonia.org/tensor"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// TestONNXMatchesOurInference executes the exported file with gonnx, a
// pure-Go ONNX runtime, and compares its logits with those of our own
// inference pass (eval's: GatherBatch, Forward in inference mode) within
// 1e-4. The images are the first MNIST test images when the data cache
// holds MNIST, else deterministic random images (the log says which). Two
// ops of the export are missing from gonnx 1.1.0 (it knows opset 13 only),
// so lowerForGonnx rewrites them into ops it has, by their ONNX definitions:
// BatchNormalization into Mul and Add, MaxPool into four strided Slices and
// max(a, b) = a + Relu(b − a). Everything else, the layouts above all, is
// gonnx's reading of the file as written.
func TestONNXMatchesOurInference(t *testing.T) {
	for _, k := range []int{3, 5} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) { testONNX(t, k) })
	}
}

func testONNX(t *testing.T, k int) {
	const n = 4
	spec, values := plausibleValues(t, k)
	pixels, source := testImages(t, n)
	t.Logf("images: %s", source)

	var buf bytes.Buffer
	if err := WriteONNX(&buf, spec, values, map[string]string{"kernel": fmt.Sprint(k)}); err != nil {
		t.Fatal(err)
	}
	mp, err := gonnx.ModelProtoFromBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	checkInterface(t, mp)
	lowerForGonnx(t, mp)
	rt, err := gonnx.NewModel(mp)
	if err != nil {
		t.Fatal(err)
	}
	input := make([]float32, len(pixels))
	for i, p := range pixels {
		input[i] = float32(p) / 255
	}
	out, err := rt.Run(gonnx.Tensors{InputName: tensor.New(tensor.WithShape(n, 1, model.ImageSize, model.ImageSize), tensor.WithBacking(input))})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := out[OutputName].Data().([]float32)
	if !ok || len(got) != n*model.NumClasses {
		t.Fatalf("gonnx output %T of shape %v", out[OutputName].Data(), out[OutputName].Shape())
	}

	want := ourLogits(t, spec, values, pixels, n)
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i] - want[i]))
		if d > 1e-4 || math.IsNaN(d) {
			t.Fatalf("logit %d (image %d, class %d): ONNX %v, ours %v", i, i/10, i%10, got[i], want[i])
		}
		worst = max(worst, d)
	}
	t.Logf("largest logit difference over %d images: %.3g (logits up to %.3g)", n, worst, maxAbs(want))
}

// plausibleValues starts from the Glorot initialisation and gives every
// bias and batch-norm vector distinct non-trivial values, so that each one
// shows in the logits and they stay of order one.
func plausibleValues(t *testing.T, k int) (*model.Spec, map[string][]float32) {
	t.Helper()
	spec, err := model.Declare(model.Config{Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cpu.New(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(uint64(k)); err != nil {
		t.Fatal(err)
	}
	values, err := m.Values()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, uint64(k)))
	for _, p := range spec.Params {
		if len(p.Shape) != 1 {
			continue
		}
		v := values[p.Name]
		for i := range v {
			switch r := rng.Float32(); p.Init {
			case model.Ones:
				v[i] = 0.5 + r // gamma, moving variance
			default:
				v[i] = 0.2 * (r - 0.5) // bias, beta, moving mean
			}
		}
	}
	return spec, values
}

// testImages returns n MNIST test images from the user's data cache, or
// deterministic random ones when it holds none.
func testImages(t *testing.T, n int) ([]uint8, string) {
	if dir, err := mnist.DefaultDir(); err == nil {
		test, err := mnist.LoadSet(context.Background(), filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
		if err == nil {
			return test.Limit(n).Images, "the first MNIST test images from " + dir
		}
	}
	rng := rand.New(rand.NewPCG(4, 4))
	px := make([]uint8, n*model.ImageSize*model.ImageSize)
	for i := range px {
		px[i] = uint8(rng.IntN(256))
	}
	return px, "random images (no MNIST in the data cache)"
}

// ourLogits runs our inference pass on the CPU backend.
func ourLogits(t *testing.T, spec *model.Spec, values map[string][]float32, pixels []uint8, n int) []float32 {
	t.Helper()
	be := cpu.New()
	m, err := model.New(be, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetValues(values); err != nil {
		t.Fatal(err)
	}
	ds, err := be.UploadDataset(pixels, make([]uint8, n), n, model.ImageSize, model.ImageSize)
	if err != nil {
		t.Fatal(err)
	}
	order := be.AllocInt32(n)
	identity := make([]int32, n)
	for i := range identity {
		identity[i] = int32(i)
	}
	if err := be.UploadInt32(order, identity); err != nil {
		t.Fatal(err)
	}
	k, err := m.NewBatch(n, false)
	if err != nil {
		t.Fatal(err)
	}
	be.GatherBatch(k.X, k.Labels, ds, order, 0)
	m.Forward(k)
	logits := make([]float32, n*model.NumClasses)
	if err := be.Download(logits, k.Logits); err != nil {
		t.Fatal(err)
	}
	return logits
}

// checkInterface pins what users rely on: the names, the dynamic batch,
// the opset and Keras' epsilon on each batch norm.
func checkInterface(t *testing.T, mp *onnx.ModelProto) {
	t.Helper()
	if v := mp.GetOpsetImport()[0].GetVersion(); v != Opset {
		t.Errorf("opset %d", v)
	}
	dims := func(vi *onnx.ValueInfoProto) string {
		s := ""
		for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
			if p := d.GetDimParam(); p != "" {
				s += p + " "
			} else {
				s += fmt.Sprint(d.GetDimValue()) + " "
			}
		}
		return vi.GetName() + " " + s
	}
	g := mp.GetGraph()
	if in, out := dims(g.GetInput()[0]), dims(g.GetOutput()[0]); in != "input N 1 28 28 " || out != "logits N 10 " {
		t.Errorf("interface %q -> %q", in, out)
	}
	bns := 0
	for _, node := range g.GetNode() {
		if node.GetOpType() == "BatchNormalization" {
			bns++
			if eps := node.GetAttribute()[0]; eps.GetName() != "epsilon" || eps.GetF() != float32(model.BNEpsilon) {
				t.Errorf("%s: attribute %v", node.GetName(), eps)
			}
		}
	}
	if bns != 5 {
		t.Errorf("%d BatchNormalization nodes, want 5", bns)
	}
}

// lowerForGonnx rewrites the two ops gonnx lacks into ones it has.
func lowerForGonnx(t *testing.T, mp *onnx.ModelProto) {
	t.Helper()
	g := mp.GetGraph()
	init := map[string]*onnx.TensorProto{}
	for _, p := range g.GetInitializer() {
		init[p.GetName()] = p
	}
	addInit := func(name string, dims []int64, f []float32, i []int64) {
		tp := &onnx.TensorProto{Name: name, Dims: dims, FloatData: f, Int64Data: i, DataType: int32(onnx.TensorProto_FLOAT)}
		if i != nil {
			tp.DataType = int32(onnx.TensorProto_INT64)
		}
		g.Initializer = append(g.Initializer, tp)
	}
	node := func(op, name string, out string, in ...string) *onnx.NodeProto {
		return &onnx.NodeProto{OpType: op, Name: name, Input: in, Output: []string{out}}
	}
	var nodes []*onnx.NodeProto
	for _, nd := range g.GetNode() {
		name, in, out := nd.GetName(), nd.GetInput(), nd.GetOutput()[0]
		switch nd.GetOpType() {
		case "BatchNormalization":
			gamma, beta, mean, variance := init[in[1]].FloatData, init[in[2]].FloatData, init[in[3]].FloatData, init[in[4]].FloatData
			eps := float64(nd.GetAttribute()[0].GetF())
			c := len(gamma)
			scale, shift := make([]float32, c), make([]float32, c)
			for i := range c {
				s := float64(gamma[i]) / math.Sqrt(float64(variance[i])+eps)
				scale[i], shift[i] = float32(s), float32(float64(beta[i])-float64(mean[i])*s)
			}
			dims := []int64{int64(c), 1, 1} // per channel of (N, C, H, W)
			if name == "batch_normalization_2" {
				dims = []int64{int64(c)} // of (N, C)
			}
			addInit(name+"/scale", dims, scale, nil)
			addInit(name+"/shift", dims, shift, nil)
			nodes = append(nodes, node("Mul", name+"/mul", name+"/scaled", in[0], name+"/scale"),
				node("Add", name+"/add", out, name+"/scaled", name+"/shift"))
		case "MaxPool":
			addInit(name+"/ends", []int64{2}, nil, []int64{1 << 30, 1 << 30})
			addInit(name+"/axes", []int64{2}, nil, []int64{2, 3})
			addInit(name+"/steps", []int64{2}, nil, []int64{2, 2})
			var corners []string
			for _, s := range [][]int64{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
				c := fmt.Sprintf("%s/%d%d", name, s[0], s[1])
				addInit(c+"/starts", []int64{2}, nil, s)
				nodes = append(nodes, node("Slice", c, c, in[0], c+"/starts", name+"/ends", name+"/axes", name+"/steps"))
				corners = append(corners, c)
			}
			maxOf := func(a, b, o string) { // a + relu(b - a)
				nodes = append(nodes, node("Sub", o+"/d", o+"/d", b, a), node("Relu", o+"/r", o+"/r", o+"/d"), node("Add", o, o, a, o+"/r"))
			}
			maxOf(corners[0], corners[1], name+"/top")
			maxOf(corners[2], corners[3], name+"/bottom")
			maxOf(name+"/top", name+"/bottom", out)
		default:
			nodes = append(nodes, nd)
		}
	}
	g.Node = nodes
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}
