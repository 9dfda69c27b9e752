package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

func declare(t *testing.T, k int) *model.Spec {
	t.Helper()
	spec, err := model.Declare(model.Config{Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// randomValues fills every parameter of spec with random floats, plus the
// values a careless encoder gets wrong (signed zero, infinities, a NaN
// payload, the smallest subnormal) at the start of the first tensor.
func randomValues(spec *model.Spec, seed uint64) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	values := make(map[string][]float32, len(spec.Params))
	for _, p := range spec.Params {
		v := make([]float32, p.Size())
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		values[p.Name] = v
	}
	first := values[spec.Params[0].Name]
	copy(first, []float32{
		float32(math.Copysign(0, -1)),
		float32(math.Inf(1)),
		float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00123),
		math.Float32frombits(1),
		math.MaxFloat32,
	})
	return values
}

func encode(t *testing.T, spec *model.Spec, values map[string][]float32, meta map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, spec, values, meta); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// build lays out a file by the format in the package comment, independently
// of Write, so tests can make files that Write never would.
func build(t *testing.T, version uint32, h Header, values map[string][]float32) []byte {
	t.Helper()
	header, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("MNISTGPU")
	_ = binary.Write(&b, binary.LittleEndian, version)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	b.Write(header)
	for _, ti := range h.Tensors {
		for _, v := range values[ti.Name] {
			_ = binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
		}
	}
	_ = binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes()
}

func headerOf(spec *model.Spec, meta map[string]any) Header {
	h := Header{Config: spec.Config, Meta: meta}
	for _, p := range spec.Params {
		h.Tensors = append(h.Tensors, TensorInfo{Name: p.Name, Shape: p.Shape})
	}
	return h
}

func TestRoundTrip(t *testing.T) {
	for _, k := range []int{3, 5} {
		t.Run(map[int]string{3: "k3", 5: "k5"}[k], func(t *testing.T) {
			spec := declare(t, k)
			values := randomValues(spec, uint64(k))
			meta := map[string]any{"device": "cpu", "steps": 938, "test_acc": 0.9875}
			data := encode(t, spec, values, meta)

			// Write follows the documented layout byte for byte.
			if want := build(t, Version, headerOf(spec, meta), values); !bytes.Equal(data, want) {
				t.Fatalf("Write output (%d bytes) differs from the documented layout (%d bytes)", len(data), len(want))
			}

			h, got, err := Read(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if h.Config.Kernel != k {
				t.Errorf("header kernel = %d, want %d", h.Config.Kernel, k)
			}
			wantMeta := map[string]any{"device": "cpu", "steps": 938.0, "test_acc": 0.9875}
			if !reflect.DeepEqual(h.Meta, wantMeta) {
				t.Errorf("meta = %v, want %v", h.Meta, wantMeta)
			}
			if len(got) != len(spec.Params) {
				t.Fatalf("read %d tensors, want %d", len(got), len(spec.Params))
			}
			for i, p := range spec.Params {
				if h.Tensors[i].Name != p.Name || !reflect.DeepEqual(h.Tensors[i].Shape, p.Shape) {
					t.Errorf("tensor %d = %s %v, want %s %v", i, h.Tensors[i].Name, h.Tensors[i].Shape, p.Name, p.Shape)
				}
				w, g := values[p.Name], got[p.Name]
				if len(g) != len(w) {
					t.Errorf("%s: %d values, want %d", p.Name, len(g), len(w))
					continue
				}
				for j := range w {
					if math.Float32bits(g[j]) != math.Float32bits(w[j]) {
						t.Errorf("%s[%d] = %v (bits %#08x), want %v (bits %#08x)", p.Name, j, g[j], math.Float32bits(g[j]), w[j], math.Float32bits(w[j]))
						break
					}
				}
			}

			checked, err := Check(h)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			gotTotal, _, _ := checked.Counts()
			wantTotal, _, _ := spec.Counts()
			if checked.Config.Kernel != k || gotTotal != wantTotal {
				t.Errorf("Check gave k=%d with %d params, want k=%d with %d", checked.Config.Kernel, gotTotal, k, wantTotal)
			}
		})
	}
}

// readErr reads data and insists on an ErrFormat whose message says why.
func readErr(t *testing.T, data []byte, want string) {
	t.Helper()
	_, _, err := Read(bytes.NewReader(data))
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("Read error = %v, want ErrFormat", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Read error = %q, want it to mention %q", err, want)
	}
}

func TestReadCorruptByte(t *testing.T) {
	spec := declare(t, 3)
	data := encode(t, spec, randomValues(spec, 7), nil)
	headerLen := int(binary.LittleEndian.Uint32(data[12:]))
	// One flipped bit in the header, in the tensors, and in the stored CRC.
	for _, at := range []int{16 + headerLen/2, len(data) / 2, len(data) - 2} {
		bad := bytes.Clone(data)
		bad[at] ^= 0x10
		readErr(t, bad, "checksum mismatch")
	}
}

func TestReadTruncated(t *testing.T) {
	spec := declare(t, 3)
	data := encode(t, spec, randomValues(spec, 8), nil)
	for _, n := range []int{0, 7, 8, 19, 20, 100, len(data) / 2, len(data) - 4, len(data) - 1} {
		_, _, err := Read(bytes.NewReader(data[:n]))
		if !errors.Is(err, ErrFormat) {
			t.Errorf("first %d of %d bytes: error = %v, want ErrFormat", n, len(data), err)
		}
	}
}

func TestReadWrongMagic(t *testing.T) {
	spec := declare(t, 3)
	data := encode(t, spec, randomValues(spec, 9), nil)
	copy(data, "MNISTCPU")
	readErr(t, data, `"MNISTGPU" signature`)
	readErr(t, []byte("step,epoch,batch_loss,running_loss\n1,1,2.3,2.3\n"), "signature")
}

func TestReadVersion(t *testing.T) {
	spec := declare(t, 3)
	values := randomValues(spec, 10)
	h := headerOf(spec, nil)
	// A valid checksum, so that only the version can be the complaint.
	readErr(t, build(t, Version+1, h, values), "format version 3; this build reads versions 1 to 2")
	readErr(t, build(t, 0, h, values), "format version 0")
	// Version 1 files, weights only, as builds before the training state wrote them.
	for _, v := range []uint32{1, Version} {
		if _, _, err := Read(bytes.NewReader(build(t, v, h, values))); err != nil {
			t.Fatalf("the same file at version %d: %v", v, err)
		}
	}
}

func TestReadLayoutErrors(t *testing.T) {
	spec := declare(t, 3)
	values := randomValues(spec, 11)
	h := headerOf(spec, nil)

	// A header that lists a tensor with no data behind it.
	long := h
	long.Tensors = append(append([]TensorInfo(nil), h.Tensors...), TensorInfo{Name: "extra", Shape: []int{4}})
	readErr(t, build(t, Version, long, values), "tensor extra needs 16 bytes, 0 left")

	// Data behind the last tensor the header lists, under a valid checksum.
	body := build(t, Version, h, values)
	body = append(body[:len(body)-4], 1, 2, 3, 4, 5, 6)
	body = binary.LittleEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	readErr(t, body, "6 bytes after the last tensor")

	negative := h
	negative.Tensors = append([]TensorInfo{{Name: "neg", Shape: []int{-1, 3}}}, h.Tensors...)
	readErr(t, build(t, Version, negative, values), "tensor neg has shape [-1 3]")

	// A header length beyond the file, with a checksum that matches.
	data := build(t, Version, h, values)
	binary.LittleEndian.PutUint32(data[12:], uint32(len(data)))
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.ChecksumIEEE(data[:len(data)-4]))
	readErr(t, data, "does not fit the file")
}

func TestCheckMismatch(t *testing.T) {
	k3, k5 := declare(t, 3), declare(t, 5)
	h5 := headerOf(k5, nil)

	// A k=3 header over k=5 shapes: a well-formed file whose header lies.
	lying := h5
	lying.Config = model.Config{Kernel: 3}
	h, values, err := Read(bytes.NewReader(build(t, Version, lying, randomValues(k5, 12))))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(values) != len(k5.Params) {
		t.Fatalf("read %d tensors, want %d", len(values), len(k5.Params))
	}
	_, err = Check(h)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "resblock_conv_a/kernel [5 5 32 32], the model expects resblock_conv_a/kernel [3 3 32 32]") {
		t.Errorf("Check(k=3 header, k=5 shapes) = %v, want ErrFormat naming resblock_conv_a/kernel and both shapes", err)
	}

	cases := []struct {
		name string
		edit func(h *Header)
		want string
	}{
		{"even kernel", func(h *Header) { h.Config.Kernel = 4 }, "kernel size 4"},
		{"missing tensor", func(h *Header) { h.Tensors = h.Tensors[1:] }, "tensors, the model has"},
		{"renamed tensor", func(h *Header) { h.Tensors[0].Name = "conv2d/weights" }, "conv2d/weights"},
		{"swapped order", func(h *Header) { h.Tensors[0], h.Tensors[1] = h.Tensors[1], h.Tensors[0] }, "tensor 0 is conv2d/bias"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := headerOf(k3, nil)
			c.edit(&h)
			_, err := Check(&h)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %v, want ErrFormat mentioning %q", err, c.want)
			}
		})
	}
}

func TestWriteRejectsIncompleteValues(t *testing.T) {
	spec := declare(t, 3)
	missing := randomValues(spec, 13)
	delete(missing, "dense_1/bias")
	short := randomValues(spec, 13)
	short["resblock_bn_a/moving_variance"] = short["resblock_bn_a/moving_variance"][:31]

	for name, c := range map[string]struct {
		values map[string][]float32
		want   string
	}{
		"missing": {missing, "parameter dense_1/bias has 0 values, want 10"},
		"short":   {short, "parameter resblock_bn_a/moving_variance has 31 values, want 32"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, spec, c.values, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Write = %v, want an error mentioning %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing; want nothing", buf.Len())
			}
		})
	}
}

// A shape whose product passes 2^63 once made Read panic in make; each of
// these has a valid checksum, so only the size check can refuse it.
func TestReadHugeShapes(t *testing.T) {
	for _, shape := range [][]int{
		{1<<(strconv.IntSize-3) + 1}, // 2305843009213693953 on 64-bit
		{1 << (strconv.IntSize / 2), 1 << (strconv.IntSize / 2)},
		{maxValues + 1},
		{maxValues / 2, 2, 2},
	} {
		h := Header{Config: model.Config{Kernel: 3}, Tensors: []TensorInfo{{Name: "huge", Shape: shape}}}
		readErr(t, build(t, Version, h, nil), "more values than the limit")
	}
	// Two tensors that fit alone but not together.
	h := Header{Config: model.Config{Kernel: 3}, Tensors: []TensorInfo{{Name: "a", Shape: []int{maxValues}}, {Name: "b", Shape: []int{1}}}}
	readErr(t, build(t, Version, h, nil), "tensor b has shape [1]: more values than the limit")
}

// endless yields prefix, then fill bytes forever, and counts what was read.
// After give bytes it fails, so that a reader that never stops fails the
// test instead of hanging it.
type endless struct {
	prefix     []byte
	fill       byte
	read, give int64
}

var errReadTooFar = errors.New("read far past any checkpoint")

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= e.give {
		return 0, errReadTooFar
	}
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	n = len(p)
	e.read += int64(n)
	return n, nil
}

// A checkpoint path that never ends (a pipe, a device, a growing file) is
// read no further than the largest valid checkpoint could be.
func TestReadEndlessInput(t *testing.T) {
	spec := declare(t, 3)
	good := encode(t, spec, randomValues(spec, 14), nil)
	for name, c := range map[string]struct {
		r    *endless
		want string
	}{
		"garbage":                    {&endless{fill: 'x'}, "signature"},
		"valid prefix, endless tail": {&endless{prefix: good[:len(good)-4]}, "the most a checkpoint can hold"},
		"header length, no header":   {&endless{prefix: good[:16], fill: ' '}, "the most a checkpoint can hold"},
	} {
		t.Run(name, func(t *testing.T) {
			c.r.give = 4 * maxFile
			_, _, err := Read(c.r)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Read = %v, want ErrFormat mentioning %q", err, c.want)
			}
			if c.r.read > maxFile+1<<20 {
				t.Errorf("Read took %d bytes, want at most about %d", c.r.read, maxFile)
			}
		})
	}
}

// Read's memory follows the bytes present, not the header's claims: a
// header that promises the largest allowed tensor over a short file
// allocates about what the file holds.
func TestReadMemoryFollowsData(t *testing.T) {
	h := Header{Config: model.Config{Kernel: 3}, Tensors: []TensorInfo{{Name: "claimed", Shape: []int{maxValues}}}}
	data := build(t, Version, h, map[string][]float32{"claimed": make([]float32, 1000)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Read(bytes.NewReader(data))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("Read = %v, want ErrFormat", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2<<20 {
		t.Errorf("Read of a %d-byte file allocated %d bytes", len(data), got)
	}
}

// FuzzRead feeds arbitrary bytes to Read and Check, as `eval --checkpoint`
// does with a file from elsewhere: the only outcomes are an error or values
// that match the model their header declares, never a panic. The seeds are
// a whole checkpoint and the crafted headers of the tests above.
func FuzzRead(f *testing.F) {
	spec, err := model.Declare(model.Config{Kernel: 3})
	if err != nil {
		f.Fatal(err)
	}
	var whole bytes.Buffer
	if err := Write(&whole, spec, randomValues(spec, 1), map[string]any{"seed": 1}); err != nil {
		f.Fatal(err)
	}
	f.Add(whole.Bytes())
	f.Add(whole.Bytes()[:len(whole.Bytes())/2])
	config, err := json.Marshal(spec.Config)
	if err != nil {
		f.Fatal(err)
	}
	// As JSON text: the first shape overflows a 32-bit int in Go source.
	for _, shape := range []string{"[2305843009213693953]", "[-1]", "[2147483648,2147483648]", "[0]"} {
		header := []byte(`{"config":` + string(config) + `,"tensors":[{"name":"x","shape":` + shape + `}]}`)
		var b bytes.Buffer
		b.WriteString(magic)
		_ = binary.Write(&b, binary.LittleEndian, uint32(Version))
		_ = binary.Write(&b, binary.LittleEndian, uint32(len(header)))
		b.Write(header)
		_ = binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
		f.Add(b.Bytes())
	}
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, values, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		spec, err := Check(h)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Check error %q does not wrap ErrFormat", err)
			}
			return
		}
		for _, p := range spec.Params {
			if len(values[p.Name]) != p.Size() {
				t.Fatalf("accepted checkpoint: %s has %d values, its shape %v wants %d", p.Name, len(values[p.Name]), p.Shape, p.Size())
			}
		}
	})
}

// TestTrainingRoundTrip: a training state comes back to the bit, records
// (NaN test columns included), Adam's moments and step, and the loop's
// position; Check accepts it; a version 1 file may not carry one.
func TestTrainingRoundTrip(t *testing.T) {
	spec := declare(t, 3)
	values := randomValues(spec, 4)
	_, trainable, _ := spec.Counts()
	rng := rand.New(rand.NewPCG(5, 5))
	opt := &model.Optimizer{M: make([]float32, trainable), V: make([]float32, trainable), Step: 17}
	for i := range opt.M {
		opt.M[i], opt.V[i] = float32(rng.NormFloat64()), float32(rng.Float64())
	}
	steps := make([]metrics.Step, 17)
	for i := range steps {
		steps[i] = metrics.Step{Step: i + 1, Epoch: 1 + i/9, BatchLoss: rng.Float64(), RunningLoss: rng.Float64(), RunningAcc: rng.Float64(), TestLoss: math.NaN(), TestAcc: math.NaN()}
	}
	steps[8].TestLoss, steps[8].TestAcc = 0.1+rng.Float64(), 1.0/3
	tr := &Training{
		Settings: map[string]string{"batch_size": "16", "lr": "0.001"},
		Loop:     train.State{Step: 17, Epoch: 2, Offset: 128, Shuffler: []byte{1, 2, 3, 250}, LossSum: 12.345678901234567, Correct: 77, Seen: 128, TestPending: true, Steps: steps},
	}
	var buf bytes.Buffer
	if err := WriteTraining(&buf, spec, values, map[string]any{"status": "interrupted"}, tr, opt); err != nil {
		t.Fatal(err)
	}
	h, got, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(h); err != nil {
		t.Fatal(err)
	}
	g := h.Training
	if g == nil || g.AdamStep != 17 || g.Records != 17 || g.Settings["batch_size"] != "16" {
		t.Fatalf("training state %+v", g)
	}
	l := g.Loop
	if l.Step != 17 || l.Epoch != 2 || l.Offset != 128 || !bytes.Equal(l.Shuffler, tr.Loop.Shuffler) || l.LossSum != tr.Loop.LossSum || l.Correct != 77 || l.Seen != 128 || !l.TestPending {
		t.Errorf("loop state %+v, want %+v", l, tr.Loop)
	}
	for i, s := range l.Steps {
		if bitsOf(s) != bitsOf(steps[i]) {
			t.Fatalf("record %d: %+v, want %+v", i, s, steps[i])
		}
	}
	for name, want := range map[string][]float32{AdamM: opt.M, AdamV: opt.V, spec.Params[0].Name: values[spec.Params[0].Name]} {
		if !reflect.DeepEqual(bits32(got[name]), bits32(want)) {
			t.Errorf("%s differs", name)
		}
	}
	// The same header in a version 1 file is refused.
	var v1 bytes.Buffer
	v1.Write(buf.Bytes())
	data := v1.Bytes()
	binary.LittleEndian.PutUint32(data[8:], 1)
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.ChecksumIEEE(data[:len(data)-4]))
	readErr(t, data, "training state in a version 1 file")
	// Records the file does not hold.
	binary.LittleEndian.PutUint32(data[8:], 2)
	cut := bytes.Clone(data[:len(data)-4-8*recordFields])
	readErr(t, binary.LittleEndian.AppendUint32(cut, crc32.ChecksumIEEE(cut)), "17 step records do not fit the file")
}

func bitsOf(s metrics.Step) [recordFields]uint64 {
	var b [recordFields]uint64
	for i, v := range recordValues(s) {
		b[i] = math.Float64bits(v)
	}
	return b
}

func bits32(v []float32) []uint32 {
	b := make([]uint32, len(v))
	for i, x := range v {
		b[i] = math.Float32bits(x)
	}
	return b
}
