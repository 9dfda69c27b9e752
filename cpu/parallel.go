package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// task is one parallel loop: run handles items [lo, hi) as worker number
// `worker`. Ops keep their task structs inside the Backend and pass
// pointers, so starting a loop allocates nothing: a closure handed to
// another goroutine would be a heap allocation per call.
type task interface {
	run(worker, lo, hi int)
}

// workerPool runs tasks on long-lived goroutines, one per GOMAXPROCS, the
// calling goroutine taking the first range itself.
type workerPool struct {
	size      int
	jobs      chan job
	done      chan struct{}
	closeOnce sync.Once
	// unclaimed is the range of a dynamic loop's items not yet claimed:
	// the first in the low 32 bits, the end in the high 32 bits.
	unclaimed atomic.Uint64
}

// job is a range [lo, hi) of t's items, or with grain > 0 a share of a
// dynamic loop over [0, hi).
type job struct {
	t                     task
	worker, lo, hi, grain int
}

func newWorkerPool() *workerPool { return newWorkerPoolOf(runtime.GOMAXPROCS(0)) }

func newWorkerPoolOf(size int) *workerPool {
	p := &workerPool{size: max(size, 1)}
	p.jobs = make(chan job, p.size)
	p.done = make(chan struct{}, p.size)
	for range p.size - 1 {
		go func() {
			for {
				j, ok := receive(p.jobs)
				if !ok {
					return
				}
				if j.grain > 0 {
					p.claim(j.t, j.worker, j.hi, j.grain)
				} else {
					j.t.run(j.worker, j.lo, j.hi)
				}
				p.done <- struct{}{}
			}
		}()
	}
	return p
}

// spinFor is how long a worker or a waiting caller polls its channel
// before it blocks. The ops of a training step follow each other within
// microseconds, while waking a parked thread costs tens of microseconds on
// a virtual machine; an op of 0.3 ms split over two cores ran slower than
// on one until the hand-offs stopped parking.
const spinFor = 200 * time.Microsecond

// receive takes the next value from ch, polling for up to spinFor before
// blocking.
func receive[T any](ch chan T) (T, bool) {
	var start time.Time
	for i := 0; ; i++ {
		select {
		case v, ok := <-ch:
			return v, ok
		default:
		}
		if i%64 == 0 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				break
			}
		}
	}
	v, ok := <-ch
	return v, ok
}

func (p *workerPool) close() { p.closeOnce.Do(func() { close(p.jobs) }) }

// parallel splits [0, n) into one contiguous range per worker (ranges below
// minChunk items are not worth a hand-off) and returns how many ranges ran.
func (p *workerPool) parallel(n, minChunk int, t task) int {
	workers := min(p.size, n/max(minChunk, 1))
	if workers <= 1 {
		t.run(0, 0, n)
		return 1
	}
	chunk := (n + workers - 1) / workers
	handed := 0
	for lo := chunk; lo < n; lo += chunk {
		handed++
		p.jobs <- job{t: t, worker: handed, lo: lo, hi: min(lo+chunk, n)}
	}
	t.run(0, 0, chunk)
	for range handed {
		receive(p.done)
	}
	return handed + 1
}

// dynamic runs [0, n) in chunks of grain items that the workers claim as
// they go, so a worker that is slowed down (the cores are shared) takes
// fewer. A task's run may be called several times per worker; tasks that
// keep per-worker state must allow for that. Returns how many workers took
// part (each has a worker number below that).
func (p *workerPool) dynamic(n, grain int, t task) int {
	grain = max(grain, 1)
	workers := min(p.size, (n+grain-1)/grain)
	// unclaimed packs the range into 32-bit halves; a loop of 2³² items
	// or more (16 GiB of float32) runs on the calling goroutine alone.
	if workers <= 1 || uint64(n) >= 1<<32 {
		t.run(0, 0, n)
		return 1
	}
	p.unclaimed.Store(uint64(n) << 32)
	for w := 1; w < workers; w++ {
		p.jobs <- job{t: t, worker: w, hi: n, grain: grain}
	}
	p.claim(t, 0, n, grain)
	for w := 1; w < workers; w++ {
		receive(p.done)
	}
	return workers
}

// claim runs chunks of grain items until none is left. Worker 0 takes
// them from the front, the others from the back, so that across the
// consecutive loops of a training step each worker tends to get the same
// images (only the chunks where they meet change hands), whose
// activations its core's caches may still hold where the scheduler keeps
// it on that core. Back chunks keep the front's grain boundaries.
func (p *workerPool) claim(t task, worker, n, grain int) {
	for {
		state := p.unclaimed.Load()
		first, end := int(state&(1<<32-1)), int(state>>32)
		if first >= end {
			return
		}
		lo, hi := first, min(first+grain, end)
		if worker > 0 {
			lo, hi = max((end-1)/grain*grain, first), end
		}
		next := uint64(hi)
		if worker > 0 {
			next = uint64(first) | uint64(lo)<<32
		} else {
			next |= uint64(end) << 32
		}
		if p.unclaimed.CompareAndSwap(state, next) {
			t.run(worker, lo, hi)
		}
	}
}
