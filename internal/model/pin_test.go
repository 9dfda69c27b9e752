package model_test

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// TestTrainingPinned pins four training steps on the CPU backend to the bit:
// each step's loss sum and correct count, and a hash of every parameter and
// moving statistic afterwards and of an inference pass's logits. The values were recorded before the graph
// was rewritten in layer units, so a refactor that changes one rounding
// anywhere in the forward pass, the backward pass or Adam fails here. They
// hold for the AVX-512 kernels, for the AVX2 ones and for arm64's NEON
// ones, which give the same bits (the strided kernel and the row loops run
// the same operations in the same order, fused where the AVX-512 ones
// fuse); the portable path (the packed GEMM, the Go loops) rounds
// differently and skips with the reason.
func TestTrainingPinned(t *testing.T) {
	if d := cpu.New().Device(); !strings.Contains(d, "strided") && !strings.Contains(d, "neon direct") {
		t.Skipf("pinned on the AVX-512, AVX2 and NEON kernels; this CPU runs another path, which rounds differently (%s)", d)
	}
	for _, tc := range []struct {
		kernel int
		losses []uint32 // float32 bits: loss sum, correct count, per step
		values uint64   // FNV-1a of every parameter's float32 bits in table order, then the logits'
	}{
		{3, []uint32{0x42422e4b, 0x3f800000, 0x42329381, 0x3f800000, 0x422d41fa, 0x40000000, 0x4221b63e, 0x3f800000}, 0x8760735ebcdb454b},
		{5, []uint32{0x424bc57d, 0x0, 0x423b1ba5, 0x3f800000, 0x42456b31, 0x40000000, 0x4234bc08, 0x40000000}, 0xe303915c9560cadd},
	} {
		t.Run(fmt.Sprintf("k=%d", tc.kernel), func(t *testing.T) {
			losses, values := pinnedRun(t, tc.kernel)
			if !slices.Equal(losses, tc.losses) || values != tc.values {
				t.Errorf("losses %#x, values hash %#x; pinned %#x, %#x", losses, values, tc.losses, tc.values)
			}
		})
	}
}

// pinnedRun trains four steps on batches of 16 (each different) and returns the float32
// bits of each step's statistics and a hash of the parameters after and
// of the logits of an inference pass over the first batch.
func pinnedRun(t *testing.T, kernel int) ([]uint32, uint64) {
	t.Helper()
	be := cpu.New()
	m := newModel(t, be, kernel)
	const n, steps = 16, 4
	ds, perm := randomDataset(t, be, n*steps, 31)
	k, err := m.NewBatch(n, true)
	if err != nil {
		t.Fatal(err)
	}
	stats := be.Alloc(2 * steps)
	for s := range steps {
		be.GatherBatch(k.X, k.Labels, ds, perm, s*n)
		m.TrainStep(k, stats, s, model.DefaultLR)
	}
	got := make([]float32, 2*steps)
	if err := be.Download(got, stats); err != nil {
		t.Fatal(err)
	}
	values, err := m.Values()
	if err != nil {
		t.Fatal(err)
	}
	// Then an inference pass over the first batch, whose logits go into the hash too.
	logits := inferenceLogits(t, be, m, ds, perm, n)
	h := fnv.New64a()
	var word [4]byte
	hash := func(vs []float32) {
		for _, v := range vs {
			b := math.Float32bits(v)
			word[0], word[1], word[2], word[3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
			h.Write(word[:])
		}
	}
	for _, p := range m.Spec.Params {
		hash(values[p.Name])
	}
	hash(logits)
	bits := make([]uint32, len(got))
	for i, v := range got {
		bits[i] = math.Float32bits(v)
	}
	return bits, h.Sum64()
}
