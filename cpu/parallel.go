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
	next      atomic.Int64 // the next unclaimed item of a dynamic loop
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
	if workers <= 1 {
		t.run(0, 0, n)
		return 1
	}
	p.next.Store(0)
	for w := 1; w < workers; w++ {
		p.jobs <- job{t: t, worker: w, hi: n, grain: grain}
	}
	p.claim(t, 0, n, grain)
	for w := 1; w < workers; w++ {
		receive(p.done)
	}
	return workers
}

func (p *workerPool) claim(t task, worker, n, grain int) {
	for {
		lo := int(p.next.Add(int64(grain))) - grain
		if lo >= n {
			return
		}
		t.run(worker, lo, min(lo+grain, n))
	}
}

// partials returns per-worker float64 scratch of `width` values per worker,
// grown once and reused.
func (c *Backend) partials(width int) []float64 {
	return grown(&c.scratch, c.pool.size*width)
}
