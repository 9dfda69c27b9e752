package cpu

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// countTask counts how often each item runs and checks that worker
// numbers stay below the pool's size.
type countTask struct {
	hits      []atomic.Int32
	workers   int
	badWorker atomic.Int32 // a worker number out of range, plus one
}

func (t *countTask) run(worker, lo, hi int) {
	if worker < 0 || worker >= t.workers {
		t.badWorker.Store(int32(worker) + 1)
	}
	for i := lo; i < hi; i++ {
		t.hits[i].Add(1)
	}
}

// TestPoolRunsEachItemOnce: parallel and dynamic must run every item of
// [0, n) exactly once, with worker numbers below the pool's size, for
// sizes that do and do not divide evenly, grains larger than n and pools
// larger than the work, with the cores loaded so that the workers claim
// in other orders; many loops in a row, as a training step makes them.
// Run under -race it also checks the hand-offs.
func TestPoolRunsEachItemOnce(t *testing.T) {
	defer loadCPU()()
	const loops = 5
	for _, size := range []int{1, 2, 3, 8} {
		p := newWorkerPoolOf(size)
		for _, n := range []int{0, 1, 2, 7, 64, 1000} {
			for _, grain := range []int{1, 3, 16, 2000} {
				for _, dyn := range []bool{false, true} {
					name := fmt.Sprintf("size %d, n %d, grain %d, dynamic %t", size, n, grain, dyn)
					task := &countTask{hits: make([]atomic.Int32, n), workers: size}
					for range loops {
						if dyn {
							p.dynamic(n, grain, task)
						} else {
							p.parallel(n, grain, task)
						}
					}
					if w := task.badWorker.Load(); w != 0 {
						t.Fatalf("%s: worker number %d from a pool of %d", name, w-1, size)
					}
					for i := range task.hits {
						if got := task.hits[i].Load(); got != loops {
							t.Fatalf("%s: item %d ran %d times in %d loops", name, i, got, loops)
						}
					}
				}
			}
		}
		p.close()
	}
}
