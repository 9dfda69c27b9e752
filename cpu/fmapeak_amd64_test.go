//go:build amd64 && !purego

package cpu

import (
	"fmt"
	"sync"
	"testing"
)

// The FMA peak: loops of independent FMAs on registers only (no loads, no
// dependency chains shorter than the FMA latency), one loop per core, in
// fmapeak_amd64.s. It is the yardstick the direct convolution's GFLOP/s is
// read against on the same machine in the same run (make bench-torch-cpu).

//go:noescape
func fmaPeakAVX2(n int)

//go:noescape
func fmaPeakAVX512(n int)

// BenchmarkFMAPeak reports the GFLOP/s of the FMA loops on one core and on
// as many goroutines as the backend's pool has workers.
func BenchmarkFMAPeak(b *testing.B) {
	if !hasAVX2 {
		b.Skip("no AVX2/FMA on this CPU")
	}
	const rounds = 1 << 20
	kinds := []struct {
		name  string
		run   func(int)
		flops float64 // per round
	}{{"avx2", fmaPeakAVX2, 12 * 8 * 2}}
	if hasAVX512 {
		kinds = append(kinds, struct {
			name  string
			run   func(int)
			flops float64
		}{"avx512", fmaPeakAVX512, 24 * 16 * 2})
	}
	for _, k := range kinds {
		for _, threads := range []int{1, New().pool.size} {
			b.Run(fmt.Sprintf("%s/threads=%d", k.name, threads), func(b *testing.B) {
				for b.Loop() {
					var wg sync.WaitGroup
					for range threads {
						wg.Add(1)
						go func() { defer wg.Done(); k.run(rounds) }()
					}
					wg.Wait()
				}
				b.ReportMetric(k.flops*rounds*float64(threads)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
