// Package checkpoint stores a model's parameters, BN moving statistics and
// configuration in a versioned binary format:
//
//	magic "MNISTGPU" | uint32 version | uint32 header length | header (JSON)
//	| tensors as little-endian float32, in header order | uint32 CRC-32 (IEEE) of all before
//
// The JSON header makes a checkpoint self-describing; the CRC catches
// truncation and bit rot before any value reaches a model.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

const (
	magic = "MNISTGPU"
	// Version is the format this build writes and the newest it reads.
	Version = 1
	// maxHeader bounds the JSON header so a corrupt length cannot make us
	// allocate gigabytes.
	maxHeader = 1 << 20
)

// ErrFormat marks a file that is not a readable checkpoint.
var ErrFormat = errors.New("not a valid checkpoint")

// Header describes the contents.
type Header struct {
	Config  model.Config   `json:"config"`
	Meta    map[string]any `json:"meta,omitempty"` // free-form: device, steps, seed, accuracy...
	Tensors []TensorInfo   `json:"tensors"`
}

// TensorInfo names one stored tensor.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Write stores values (every parameter of spec, by name) to w.
func Write(w io.Writer, spec *model.Spec, values map[string][]float32, meta map[string]any) error {
	h := Header{Config: spec.Config, Meta: meta}
	for _, p := range spec.Params {
		if len(values[p.Name]) != p.Size() {
			return fmt.Errorf("checkpoint: parameter %s has %d values, want %d", p.Name, len(values[p.Name]), p.Size())
		}
		h.Tensors = append(h.Tensors, TensorInfo{Name: p.Name, Shape: p.Shape})
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
	return binary.Write(w, binary.LittleEndian, crc.Sum32())
}

// Read parses a checkpoint and returns its header and values by name.
func Read(r io.Reader) (*Header, map[string][]float32, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	if len(data) < len(magic)+12 || string(data[:len(magic)]) != magic {
		return nil, nil, bad("missing the %q signature", magic)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	version := binary.LittleEndian.Uint32(data[8:])
	if version == 0 || version > Version {
		return nil, nil, bad("format version %d; this build reads versions 1 to %d", version, Version)
	}
	if crc32.ChecksumIEEE(body) != sum {
		return nil, nil, bad("checksum mismatch (file truncated or corrupted)")
	}
	size := binary.LittleEndian.Uint32(data[12:])
	if size > maxHeader || 16+int(size) > len(body) {
		return nil, nil, bad("header length %d does not fit the file", size)
	}
	var h Header
	if err := json.Unmarshal(body[16:16+size], &h); err != nil {
		return nil, nil, bad("header: %v", err)
	}
	payload := body[16+size:]
	values := map[string][]float32{}
	for _, t := range h.Tensors {
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, nil, bad("tensor %s has shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if 4*n > len(payload) {
			return nil, nil, bad("tensor %s needs %d bytes, %d left", t.Name, 4*n, len(payload))
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[4*i:]))
		}
		values[t.Name] = v
		payload = payload[4*n:]
	}
	if len(payload) != 0 {
		return nil, nil, bad("%d bytes after the last tensor", len(payload))
	}
	return &h, values, nil
}

// Check confirms that a header matches the parameter table of its own config.
func Check(h *Header) (*model.Spec, error) {
	spec, err := model.Declare(h.Config)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(h.Tensors) != len(spec.Params) {
		return nil, fmt.Errorf("%w: %d tensors, the model has %d parameters", ErrFormat, len(h.Tensors), len(spec.Params))
	}
	for i, p := range spec.Params {
		if t := h.Tensors[i]; t.Name != p.Name || !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("%w: tensor %d is %s %v, the model expects %s %v", ErrFormat, i, t.Name, t.Shape, p.Name, p.Shape)
		}
	}
	return spec, nil
}
