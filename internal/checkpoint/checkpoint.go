// Package checkpoint stores a model's parameters, BN moving statistics and
// configuration in a versioned binary format:
//
//	magic "MNISTGPU" | uint32 version | uint32 header length | header (JSON)
//	| tensors as little-endian float32, in header order
//	| version 2 with a training state: its records, 7 little-endian float64 each
//	| uint32 CRC-32 (IEEE) of all before
//
// The JSON header makes a checkpoint self-describing; the CRC catches
// truncation and bit rot before any value reaches a model. Version 2 adds
// what a run needs to continue (Training): Adam's moments as two more
// tensors, the loop's position and the metrics so far. Version 1 files
// (weights only) still read.
package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

const (
	magic = "MNISTGPU"
	// Version is the format this build writes and the newest it reads.
	Version = 2
	// maxHeader bounds the JSON header so a corrupt length cannot make us
	// allocate gigabytes.
	maxHeader = 1 << 20
	// MaxRecords bounds the metrics records of a training state (56 MiB
	// of them): about 1,100 epochs of the full MNIST at batch 64.
	MaxRecords   = 1 << 20
	recordFields = 7

	// The names of Adam's moments, after the parameters.
	AdamM = "optimizer/adam_m"
	AdamV = "optimizer/adam_v"
)

var (
	// maxValues bounds the float32s of one file: the largest model's
	// parameters and, for a training state, Adam's two moments of each
	// trainable one. A header may not claim more.
	maxValues = largestFile()
	// maxFile is the most Read takes from its input, whatever it holds.
	maxFile = int64(16 + maxHeader + 4*maxValues + 8*recordFields*MaxRecords + 4)
)

func largestFile() int {
	spec, err := model.Declare(model.Config{Kernel: model.MaxKernel})
	if err != nil {
		panic(err) // the table's own bound: a programming error
	}
	total, trainable, _ := spec.Counts()
	return total + 2*trainable
}

// ErrFormat marks a file that is not a readable checkpoint.
var ErrFormat = errors.New("not a valid checkpoint")

// Header describes the contents.
type Header struct {
	Config   model.Config   `json:"config"`
	Meta     map[string]any `json:"meta,omitempty"` // free-form: device, steps, seed, accuracy...
	Tensors  []TensorInfo   `json:"tensors"`
	Training *Training      `json:"training,omitempty"` // version 2: present when the run can continue
}

// Training is what a stopped run needs to continue exactly: the settings
// that shape it (resuming requires the same), Adam's step count (its
// moments are the AdamM and AdamV tensors) and the loop's state, whose
// records follow the tensors.
type Training struct {
	Settings map[string]string `json:"settings"`
	AdamStep int               `json:"adam_step"`
	Loop     train.State       `json:"loop"`
	Records  int               `json:"records"`
}

// TensorInfo names one stored tensor.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Write stores values (every parameter of spec, by name) to w.
func Write(w io.Writer, spec *model.Spec, values map[string][]float32, meta map[string]any) error {
	return WriteTraining(w, spec, values, meta, nil, nil)
}

// WriteTraining stores values and, with tr set, a training state: Adam's
// state opt and tr.Loop's records.
func WriteTraining(w io.Writer, spec *model.Spec, values map[string][]float32, meta map[string]any, tr *Training, opt *model.Optimizer) error {
	h := Header{Config: spec.Config, Meta: meta}
	for _, p := range spec.Params {
		if len(values[p.Name]) != p.Size() {
			return fmt.Errorf("checkpoint: parameter %s has %d values, want %d", p.Name, len(values[p.Name]), p.Size())
		}
		h.Tensors = append(h.Tensors, TensorInfo{Name: p.Name, Shape: p.Shape})
	}
	if tr != nil {
		_, trainable, _ := spec.Counts()
		if opt == nil || len(opt.M) != trainable || len(opt.V) != trainable {
			return fmt.Errorf("checkpoint: a training state needs Adam's moments of the %d trainable values", trainable)
		}
		if len(tr.Loop.Steps) > MaxRecords {
			return fmt.Errorf("checkpoint: %d step records, more than the %d a checkpoint holds", len(tr.Loop.Steps), MaxRecords)
		}
		values = maps.Clone(values)
		values[AdamM], values[AdamV] = opt.M, opt.V
		h.Tensors = append(h.Tensors, TensorInfo{Name: AdamM, Shape: []int{trainable}}, TensorInfo{Name: AdamV, Shape: []int{trainable}})
		t := *tr
		t.AdamStep, t.Records = opt.Step, len(tr.Loop.Steps)
		h.Training = &t
	}
	header, err := json.Marshal(h)
	if err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	out := io.MultiWriter(w, crc)
	var buf bytes.Buffer
	buf.WriteString(magic)
	binary.Write(&buf, binary.LittleEndian, uint32(Version))
	binary.Write(&buf, binary.LittleEndian, uint32(len(header)))
	buf.Write(header)
	if _, err := out.Write(buf.Bytes()); err != nil {
		return err
	}
	for _, t := range h.Tensors {
		raw := make([]byte, 4*len(values[t.Name]))
		for i, v := range values[t.Name] {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		if _, err := out.Write(raw); err != nil {
			return err
		}
	}
	if h.Training != nil {
		raw := make([]byte, 0, 8*recordFields*len(h.Training.Loop.Steps))
		for _, r := range h.Training.Loop.Steps {
			for _, v := range recordValues(r) {
				raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(v))
			}
		}
		if _, err := out.Write(raw); err != nil {
			return err
		}
	}
	return binary.Write(w, binary.LittleEndian, crc.Sum32())
}

// recordValues lays a record out as the file stores it.
func recordValues(r metrics.Step) [recordFields]float64 {
	return [recordFields]float64{float64(r.Step), float64(r.Epoch), r.BatchLoss, r.RunningLoss, r.RunningAcc, r.TestLoss, r.TestAcc}
}

// Read parses a checkpoint and returns its header and values by name.
//
// It streams: memory grows with the bytes actually present, never with what
// a header claims, and no more than maxFile bytes are read from r, so a
// crafted header or an endless input costs a bounded amount. As when the
// whole file was checked first, a file whose checksum fails is reported as
// corrupted rather than by whichever field the damage happened to hit.
func Read(r io.Reader) (*Header, map[string][]float32, error) {
	in := newTrailerReader(r, maxFile)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	// fail prefers the checksum's diagnosis to a layout error: it reads the
	// rest (bounded) to learn whether the file is intact.
	fail := func(layout error) (*Header, map[string][]float32, error) {
		intact, err := in.verify()
		switch {
		case err != nil:
			return nil, nil, err
		case !intact:
			return nil, nil, bad("checksum mismatch (file truncated or corrupted)")
		}
		return nil, nil, layout
	}

	var prefix [len(magic) + 8]byte
	if _, err := io.ReadFull(in, prefix[:]); err != nil || string(prefix[:len(magic)]) != magic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, err
		}
		return nil, nil, bad("missing the %q signature", magic)
	}
	version := binary.LittleEndian.Uint32(prefix[8:])
	if version == 0 || version > Version {
		return nil, nil, bad("format version %d; this build reads versions 1 to %d", version, Version)
	}
	size := binary.LittleEndian.Uint32(prefix[12:])
	if size > maxHeader {
		return fail(bad("header length %d does not fit the file (the limit is %d)", size, maxHeader))
	}
	header := make([]byte, size)
	if _, err := io.ReadFull(in, header); err != nil {
		if in.readErr != nil {
			return nil, nil, in.readErr
		}
		return fail(bad("header length %d does not fit the file", size))
	}
	var h Header
	if err := json.Unmarshal(header, &h); err != nil {
		return fail(bad("header: %v", err))
	}
	if h.Training != nil && version < 2 {
		return fail(bad("a training state in a version %d file", version))
	}
	if h.Training != nil && (h.Training.Records < 0 || h.Training.Records > MaxRecords) {
		return fail(bad("%d step records; a checkpoint holds 0 to %d", h.Training.Records, MaxRecords))
	}
	// Every size is checked before anything is allocated for it: the
	// product of a shape can overflow, and their sum must fit maxValues.
	sizes := make([]int, len(h.Tensors))
	total := 0
	for i, t := range h.Tensors {
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fail(bad("tensor %s has shape %v", t.Name, t.Shape))
			}
			if d != 0 && n > (maxValues-total)/d {
				return fail(bad("tensor %s has shape %v: more values than the limit of %d for the whole file", t.Name, t.Shape, maxValues))
			}
			n *= d
		}
		sizes[i] = n
		total += n
	}
	values := make(map[string][]float32, len(h.Tensors))
	for i, t := range h.Tensors {
		start := in.read
		v, err := readFloats(in, sizes[i])
		if err != nil {
			if in.readErr != nil {
				return nil, nil, in.readErr
			}
			return fail(bad("tensor %s needs %d bytes, %d left", t.Name, 4*sizes[i], in.read-start))
		}
		values[t.Name] = v
	}
	if h.Training != nil {
		steps, err := readRecords(in, h.Training.Records)
		if err != nil {
			if in.readErr != nil {
				return nil, nil, in.readErr
			}
			return fail(bad("%d step records do not fit the file", h.Training.Records))
		}
		h.Training.Loop.Steps = steps
	}
	extra, err := io.Copy(io.Discard, in)
	if err != nil {
		return nil, nil, err
	}
	if extra > 0 {
		return fail(bad("%d bytes after the last tensor", extra))
	}
	switch intact, err := in.verify(); {
	case err != nil:
		return nil, nil, err
	case !intact:
		return nil, nil, bad("checksum mismatch (file truncated or corrupted)")
	}
	return &h, values, nil
}

// readFloats reads n little-endian float32s. Its slice grows with the data
// that arrives, so a header that claims more than the file holds costs only
// what is there. On a short read it returns what it got and an error.
func readFloats(r io.Reader, n int) ([]float32, error) {
	const chunk = 16 << 10 // values per read
	v := make([]float32, 0, min(n, chunk))
	buf := make([]byte, 4*min(n, chunk))
	for len(v) < n {
		k := min(n-len(v), chunk)
		if _, err := io.ReadFull(r, buf[:4*k]); err != nil {
			return v, err
		}
		for i := range k {
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
	return v, nil
}

// readRecords reads n records, growing with the data that arrives.
func readRecords(r io.Reader, n int) ([]metrics.Step, error) {
	steps := make([]metrics.Step, 0, min(n, 4096))
	var buf [8 * recordFields]byte
	for range n {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, err
		}
		var f [recordFields]float64
		for i := range f {
			f[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
		}
		steps = append(steps, metrics.Step{Step: int(f[0]), Epoch: int(f[1]), BatchLoss: f[2], RunningLoss: f[3], RunningAcc: f[4], TestLoss: f[5], TestAcc: f[6]})
	}
	return steps, nil
}

// trailerReader yields every byte of r except the last four, which it holds
// back as the stored CRC, and computes the CRC of what it yields. It stops
// with an error once more than limit bytes have been read.
type trailerReader struct {
	br      *bufio.Reader
	crc     hash.Hash32
	tail    []byte // the last bytes, once the end is reached
	done    bool
	read    int64
	limit   int64
	readErr error // an I/O failure (not the end of the data), kept for the caller
}

func newTrailerReader(r io.Reader, limit int64) *trailerReader {
	return &trailerReader{br: bufio.NewReaderSize(r, 64<<10), crc: crc32.NewIEEE(), limit: limit}
}

func (t *trailerReader) Read(p []byte) (int, error) {
	if t.done {
		return 0, io.EOF
	}
	if t.readErr != nil {
		return 0, t.readErr
	}
	want := min(len(p), t.br.Size()-4)
	peek, err := t.br.Peek(want + 4)
	avail := len(peek) - 4
	if avail <= 0 {
		if err == io.EOF {
			t.tail, t.done = append([]byte(nil), peek...), true
			return 0, io.EOF
		}
		t.readErr = fmt.Errorf("checkpoint: %w", err)
		return 0, t.readErr
	}
	n := copy(p, peek[:avail])
	t.crc.Write(p[:n])
	t.br.Discard(n)
	if t.read += int64(n); t.read > t.limit {
		t.readErr = fmt.Errorf("%w: more than %d bytes, the most a checkpoint can hold", ErrFormat, t.limit)
		return n, t.readErr
	}
	return n, nil
}

// verify reads whatever is left (within the limit) and reports whether the
// stored CRC matches the bytes before it.
func (t *trailerReader) verify() (bool, error) {
	if _, err := io.Copy(io.Discard, t); err != nil {
		return false, err
	}
	return len(t.tail) == 4 && binary.LittleEndian.Uint32(t.tail) == t.crc.Sum32(), nil
}

// Check confirms that a header matches the parameter table of its own config.
func Check(h *Header) (*model.Spec, error) {
	spec, err := model.Declare(h.Config)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	want := len(spec.Params)
	if h.Training != nil {
		want += 2 // Adam's moments
	}
	if len(h.Tensors) != want {
		return nil, fmt.Errorf("%w: %d tensors, the model has %d parameters", ErrFormat, len(h.Tensors), len(spec.Params))
	}
	if h.Training != nil {
		_, trainable, _ := spec.Counts()
		for i, name := range []string{AdamM, AdamV} {
			if t := h.Tensors[len(spec.Params)+i]; t.Name != name || !slices.Equal(t.Shape, []int{trainable}) {
				return nil, fmt.Errorf("%w: tensor %d is %s %v, want %s [%d]", ErrFormat, len(spec.Params)+i, t.Name, t.Shape, name, trainable)
			}
		}
	}
	for i, p := range spec.Params {
		if t := h.Tensors[i]; t.Name != p.Name || !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("%w: tensor %d is %s %v, the model expects %s %v", ErrFormat, i, t.Name, t.Shape, p.Name, p.Shape)
		}
	}
	return spec, nil
}
