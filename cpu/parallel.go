package cpu

import (
	"runtime"
	"sync"
)

// parallelFor splits [0, n) into one contiguous range per worker and runs
// body on each; ranges below minChunk items run on the calling goroutine,
// where starting a goroutine would cost more than it saves.
func parallelFor(n, minChunk int, body func(lo, hi int)) {
	parallelChunks(n, minChunk, func(_, lo, hi int) { body(lo, hi) })
}

// parallelChunks is parallelFor that also tells each range its worker index
// (0 ≤ worker < the returned count), for per-worker partial results.
func parallelChunks(n, minChunk int, body func(worker, lo, hi int)) int {
	workers := min(runtime.GOMAXPROCS(0), n/max(minChunk, 1))
	if workers <= 1 {
		body(0, 0, n)
		return 1
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	count := 0
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			body(worker, lo, hi)
		}(count)
		count++
	}
	wg.Wait()
	return count
}

// partials returns per-worker float64 scratch of `width` values per worker,
// grown once and reused.
func (c *Backend) partials(width int) []float64 {
	need := runtime.GOMAXPROCS(0) * width
	if len(c.scratch) < need {
		c.scratch = make([]float64, need)
	}
	return c.scratch[:need]
}
