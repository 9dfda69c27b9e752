package cpu

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// forEachKernelSet calls run once per kernel set this CPU runs (KernelEnv's
// names: portable, and avx2-gemm, avx2 and avx512 where the CPU has them),
// with the package's kernel switches set to it, and restores the CPU's own
// choice after.
func forEachKernelSet(t *testing.T, run func(t *testing.T)) {
	saved := kernelSet{hasAVX2, hasAVX512, directConv}
	defer func() { hasAVX2, hasAVX512, directConv = saved.avx2, saved.avx512, saved.direct }()
	for i := len(kernelNames) - 1; i >= 0; i-- {
		k := kernelNames[i]
		if !runs(saved, k.set) {
			t.Logf("%s: not run, this CPU (or this build) runs %s at most", k.name, kernelSetName(saved))
			continue
		}
		hasAVX2, hasAVX512, directConv = k.set.avx2, k.set.avx512, k.set.direct
		t.Run(k.name, run)
	}
}

// loadCPU keeps every core busy with a spinning goroutine per GOMAXPROCS
// until the returned stop is called, so that the pool's workers are
// descheduled at arbitrary points: the claiming of work and the spinning
// hand-offs then take other orders than on an idle machine.
func loadCPU() (stop func()) {
	var quit atomic.Bool
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 1.0
			for i := 0; !quit.Load(); i++ {
				x = math.Sqrt(x + float64(i))
				if i%1024 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	return func() { quit.Store(true); wg.Wait() }
}

// dirtyScratch fills every float scratch buffer of c's engines, to its full
// capacity, with NaN: an op that reads scratch it did not write this call
// (a tail past what it wrote, sums it did not clear) then gives NaN or
// other bits than on a fresh backend.
func dirtyScratch(c *Backend) (buffers int) {
	for _, work := range []any{&c.directWork, &c.gemmWork, &c.bnWork, &c.poolWork, &c.convWork, &c.elementWork} {
		buffers += dirtyFields(reflect.ValueOf(work).Elem())
	}
	return buffers
}

// dirtyFields fills the []float32, []float64 and [][]float32 fields of the
// struct v (unexported ones included) with NaN; it does not descend into
// the task structs, whose slices point at tensors.
func dirtyFields(v reflect.Value) (buffers int) {
	nan32, nan64 := float32(math.NaN()), math.NaN()
	for i := range v.NumField() {
		f := v.Field(i)
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
		switch p := f.Addr().Interface().(type) {
		case *[]float32:
			fillAll(*p, nan32)
			buffers++
		case *[]float64:
			fillAll(*p, nan64)
			buffers++
		case *[][]float32:
			for _, s := range *p {
				fillAll(s, nan32)
				buffers++
			}
		case *gemmBuffers:
			buffers += dirtyFields(f)
		}
	}
	return buffers
}

func fillAll[T float32 | float64](s []T, v T) {
	s = s[:cap(s)]
	for i := range s {
		s[i] = v
	}
}

// trainingCondition is how one run of trainingBits is disturbed.
type trainingCondition struct {
	name    string
	workers int
	load    bool // a spinning goroutine per core competes with the workers
	dirty   bool // every scratch buffer is filled with NaN before each op sequence
}

// trainingBits trains the real model a few steps on c the way a run does
// (batches of 8, the last one short, a larger inference batch in between
// that grows the scratch buffers, as a test pass does) and returns a hash
// of every step's loss and hits, the parameters and moving statistics,
// and the logits of both inference passes.
func trainingBits(t *testing.T, kernel int, cond trainingCondition) uint64 {
	t.Helper()
	c := newWithPool(newWorkerPoolOf(cond.workers))
	defer c.Close()
	spec, err := model.Declare(model.Config{Kernel: kernel})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(c, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(7); err != nil {
		t.Fatal(err)
	}
	const batch, steps, last, evalN = 8, 3, 3, 20
	rng := rand.New(rand.NewPCG(19, 1))
	n := batch*steps + last
	pixels, labels := make([]uint8, n*model.ImageSize*model.ImageSize), make([]uint8, n)
	for i := range pixels {
		pixels[i] = uint8(rng.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(rng.IntN(model.NumClasses))
	}
	ds, err := c.UploadDataset(pixels, labels, n, model.ImageSize, model.ImageSize)
	if err != nil {
		t.Fatal(err)
	}
	order := rng.Perm(n)
	perm := c.AllocInt32(n)
	perm32 := make([]int32, n)
	for i, v := range order {
		perm32[i] = int32(v)
	}
	if err := c.UploadInt32(perm, perm32); err != nil {
		t.Fatal(err)
	}
	full, err := m.NewBatch(batch, true)
	if err != nil {
		t.Fatal(err)
	}
	short, err := m.NewBatch(last, true)
	if err != nil {
		t.Fatal(err)
	}
	eval, err := m.NewBatch(evalN, false)
	if err != nil {
		t.Fatal(err)
	}
	stats := c.Alloc(2 * (steps + 2))
	h := fnv.New64a()
	hash := func(vs []float32) {
		var word [4]byte
		for _, v := range vs {
			b := math.Float32bits(v)
			word[0], word[1], word[2], word[3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
			h.Write(word[:])
		}
	}
	infer := func() {
		if cond.dirty {
			dirtyScratch(c)
		}
		c.GatherBatch(eval.X, eval.Labels, ds, perm, 0)
		m.Forward(eval)
		logits := make([]float32, eval.Logits.Len())
		if err := c.Download(logits, eval.Logits); err != nil {
			t.Fatal(err)
		}
		hash(logits)
	}
	step := func(k *model.Batch, slot, offset int) {
		if cond.dirty {
			dirtyScratch(c)
		}
		c.GatherBatch(k.X, k.Labels, ds, perm, offset)
		m.TrainStep(k, stats, slot, model.DefaultLR)
	}
	if cond.load {
		defer loadCPU()()
	}
	for s := range steps - 1 {
		step(full, s, s*batch)
	}
	infer() // grows the scratch past the training batch's needs, as a test pass does
	step(full, steps-1, (steps-1)*batch)
	step(short, steps, steps*batch)
	infer()
	mustSync(t, c)
	got := make([]float32, stats.Len())
	if err := c.Download(got, stats); err != nil {
		t.Fatal(err)
	}
	hash(got)
	values, err := m.Values()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range spec.Params {
		hash(values[p.Name])
	}
	return h.Sum64()
}

// TestTrainingRepeatsUnderAnyCondition is the reproducibility claim on the
// real model, for each kernel set this CPU runs (so the AVX2 packed-GEMM
// path that AVX2-only CPUs take is covered on an AVX-512 machine too):
// training steps, a larger inference batch between them and a short last
// batch must give the same bits with 1, 2, 3 and 8 workers, with every
// core loaded by competing goroutines, and with every scratch buffer
// filled with NaN before each step. A race in an op, work whose result
// depends on which worker claimed it, or scratch read before it is
// written would each change the bits of some condition.
func TestTrainingRepeatsUnderAnyCondition(t *testing.T) {
	conditions := []trainingCondition{
		{name: "2 workers, under load", workers: 2, load: true},
		{name: "3 workers, dirty scratch", workers: 3, dirty: true},
		{name: "8 workers, under load, dirty scratch", workers: 8, load: true, dirty: true},
	}
	if !testing.Short() {
		conditions = append(conditions, trainingCondition{name: "2 workers", workers: 2})
	}
	forEachKernelSet(t, func(t *testing.T) {
		conds, kernels := conditions, []int{3, 5}
		if !hasAVX2 {
			// The portable kernels are slow; they share the pool and the
			// ops' code with the others, so the hardest condition on one
			// model will do.
			conds, kernels = conditions[2:3], []int{3}
		}
		for _, kernel := range kernels {
			want := trainingBits(t, kernel, trainingCondition{name: "1 worker", workers: 1})
			for _, cond := range conds {
				if got := trainingBits(t, kernel, cond); got != want {
					t.Errorf("k=%d, %s: training hash %#x, with 1 worker on an idle backend %#x", kernel, cond.name, got, want)
				}
			}
		}
	})
}

// TestDirtyScratchReachesBuffers checks dirtyScratch itself: after a
// training step has grown the buffers, it must find and fill some of each
// kind, or the dirty-scratch conditions above would test nothing.
func TestDirtyScratchReachesBuffers(t *testing.T) {
	c := New()
	defer c.Close()
	trainOneStep(t, c)
	if n := dirtyScratch(c); n < 5 {
		t.Fatalf("dirtyScratch filled %d buffers after a training step, want several", n)
	}
	if len(c.bnWork.groupSums) == 0 || !math.IsNaN(c.bnWork.groupSums[0]) {
		t.Fatalf("bnWork.groupSums not filled with NaN: %v", c.bnWork.groupSums[:min(4, len(c.bnWork.groupSums))])
	}
}

// trainOneStep runs one training step of the k=3 model on c.
func trainOneStep(t *testing.T, c *Backend) {
	t.Helper()
	spec, err := model.Declare(model.Config{Kernel: 3})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(c, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(1); err != nil {
		t.Fatal(err)
	}
	k, err := m.NewBatch(8, true)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.UploadDataset(make([]uint8, 8*model.ImageSize*model.ImageSize), make([]uint8, 8), 8, model.ImageSize, model.ImageSize)
	if err != nil {
		t.Fatal(err)
	}
	perm := c.AllocInt32(8)
	if err := c.UploadInt32(perm, []int32{0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	c.GatherBatch(k.X, k.Labels, ds, perm, 0)
	m.TrainStep(k, c.Alloc(2), 0, model.DefaultLR)
	mustSync(t, c)
}
