package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/benchreport"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// BenchCmd trains a kernel × seed grid and compares the kernels.
type BenchCmd struct {
	Kernels   string `short:"k" default:"3,5" placeholder:"LIST" help:"Kernel sizes to compare, comma-separated (each odd, 1–25, no repeats)."`
	Seeds     int    `default:"3" placeholder:"N" help:"Seeds per kernel: the runs use seeds first-seed … first-seed+N-1."`
	FirstSeed uint64 `name:"first-seed" default:"1" placeholder:"N" help:"The first seed of each kernel's runs."`
	trainFlags
	Out       string `short:"o" type:"path" placeholder:"DIR" help:"Output folder (default: a new runs/<timestamp>-bench-<device>); each run goes to <out>/k<K>-seed<S>/. An existing one must be empty."`
	Overwrite bool   `help:"Replace an --out folder that holds a previous bench's outputs (whole, once this bench has written; a bench that fails first leaves it)."`
	dataDirFlag

	kernels []int // --kernels, parsed by Validate
}

func (c *BenchCmd) Help() string {
	return `Trains the model once per kernel size and seed, exactly as train does (every run's folder, e.g.
<out>/k3-seed1/, holds what train writes), then compares the kernels in <out>: bench.md and
bench.csv (per kernel: time per epoch, images/s, evaluation share, test and train accuracy and loss
as mean ± sd over seeds, per-class accuracy, device and settings, and whether the accuracy difference
exceeds the seed-to-seed spread by Welch's t-test at 5%), runs.csv (one row per run),
loss_curves.png, class_accuracy.png and time.png. The grid runs seed by seed (k3-seed1, k5-seed1,
k3-seed2, ...) so that a stopped grid still compares the kernels. Ctrl-C stops the current run as
train does, keeps the finished runs and writes the report from them, marked partial (exit 130).
The training flags (--device, --epochs, --batch-size, --test-every, --limit-train, ...) apply to every run.`
}

// maxSeeds bounds --seeds: the grid, its report and its per-run records are
// held in memory, and a thousand seeds per kernel are days of training
// already; more is a mistyped number, not a benchmark.
const maxSeeds = 1000

// Validate refuses a bad grid before any work starts.
func (c *BenchCmd) Validate() error {
	kernels, err := parseKernels(c.Kernels)
	if err != nil {
		return err
	}
	c.kernels = kernels
	if c.Seeds < 1 || c.Seeds > maxSeeds {
		return fmt.Errorf("--seeds %d: must be 1 to %d (runs per kernel)", c.Seeds, maxSeeds)
	}
	if c.FirstSeed > math.MaxUint64-uint64(c.Seeds-1) {
		return fmt.Errorf("--first-seed %d: the last seed would overflow", c.FirstSeed)
	}
	return c.trainFlags.check()
}

// parseKernels reads --kernels: a comma-separated list of distinct valid
// kernel sizes.
func parseKernels(list string) ([]int, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("--kernels %q: empty list, want kernel sizes such as 3,5", list)
	}
	var kernels []int
	for _, f := range strings.Split(list, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--kernels %q: %q is not a kernel size (want a comma-separated list such as 3,5)", list, f)
		}
		if err := (model.Config{Kernel: k}).Validate(); err != nil {
			return nil, fmt.Errorf("--kernels %q: %w", list, err)
		}
		if slices.Contains(kernels, k) {
			return nil, fmt.Errorf("--kernels %q: kernel size %d is listed twice", list, k)
		}
		kernels = append(kernels, k)
	}
	return kernels, nil
}

// grid is the runs in order: seed by seed, every kernel per seed.
func (c *BenchCmd) grid(out string) []TrainCmd {
	var runs []TrainCmd
	for i := range c.Seeds {
		for _, k := range c.kernels {
			seed := c.FirstSeed + uint64(i)
			runs = append(runs, TrainCmd{trainFlags: c.trainFlags, Kernel: k, Seed: seed,
				Out: filepath.Join(out, runDir(k, seed)), dataDirFlag: c.dataDirFlag})
		}
	}
	return runs
}

func runDir(kernel int, seed uint64) string { return fmt.Sprintf("k%d-seed%d", kernel, seed) }

func (c *BenchCmd) Run(ctx context.Context) error {
	b, err := openBackend(c.Device)
	if err != nil {
		return err
	}
	device := b.Name() // later runs open this backend again, not "auto"
	dir, err := prepareOut(c.Out, defaultRunName(time.Now(), "bench-"+device), c.Overwrite)
	if err != nil {
		b.Close()
		return err
	}
	defer dir.release()
	out := dir.path
	done := showStatus(os.Stderr, "loading MNIST (reading and checking the four files)…")
	trainSet, testSet, err := loadData(ctx, c.dataDirFlag)
	done()
	if err != nil {
		b.Close()
		return err
	}

	grid := c.grid(out)
	rep := &benchreport.Report{Planned: len(grid)}
	for i := range c.Seeds {
		rep.Seeds = append(rep.Seeds, c.FirstSeed+uint64(i))
	}
	rep.Kernels = c.kernels
	clock := &gridClock{start: time.Now(), took: map[int][]time.Duration{}, grid: grid}
	var runErr error
	for i := range grid {
		tc := &grid[i]
		if ctx.Err() != nil { // Ctrl-C between two runs
			rep.Stopped, runErr = "interrupted by Ctrl-C", interrupted{}
			break
		}
		fmt.Fprintln(os.Stderr, clock.startLine(i))
		// Each run gets a fresh backend, as a train command would, so that
		// no run inherits another's device memory or state.
		if b == nil {
			if b, _, err = backend.Open(device); err != nil {
				runErr = err
				rep.Stopped = fmt.Sprintf("run %s could not start: %v", runDir(tc.Kernel, tc.Seed), err)
				break
			}
		}
		runStart := time.Now()
		var rec *runRecord
		runOut, err := prepareOut(tc.Out, "", false)
		if err == nil {
			rec, err = tc.run(ctx, b, trainSet, testSet, clock.view(i), os.Stderr)
			runOut.release()
		}
		b.Close()
		b = nil
		if rec != nil {
			rep.Runs = append(rep.Runs, benchRun(rec, runDir(tc.Kernel, tc.Seed)))
			settings(&rep.Settings, rec)
		}
		if err != nil {
			runErr = err
			rep.Stopped = fmt.Sprintf("run %s failed: %v", runDir(tc.Kernel, tc.Seed), err)
			if errors.As(err, new(interrupted)) {
				rep.Stopped = "interrupted by Ctrl-C"
			}
			break
		}
		clock.took[tc.Kernel] = append(clock.took[tc.Kernel], time.Since(runStart))
	}
	if b != nil {
		b.Close()
	}
	if len(rep.Runs) == 0 {
		// Nothing was measured, so there are no settings to report either.
		return runErr
	}
	rep.Finished = time.Now().Format(time.RFC3339)
	release := holdInterrupts(ctx)
	err = benchreport.Write(out, rep)
	release()
	// The comparison reaches the terminal even when its files could not
	// be written.
	printBench(rep, out)
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("writing the bench report into %s: %w", out, err))
	}
	if errors.As(runErr, new(interrupted)) {
		return interrupted{}
	}
	return runErr
}

// settings fills what every run shares from a run's record.
func settings(s *benchreport.Settings, rec *runRecord) {
	sum := rec.summary()
	s.Device, s.DeviceName = sum.Device, sum.DeviceName
	s.Epochs, s.BatchSize, s.LR = sum.Epochs, sum.BatchSize, sum.LR
	s.TestEvery, s.EvalBatch = sum.TestEvery, sum.EvalBatch
	s.TrainImages, s.TestImages = sum.TrainImages, sum.TestImages
	s.GoVersion, s.Threads = runtime.Version(), runtime.GOMAXPROCS(0)
}

// benchRun is what the report needs of a run; unmeasured values are NaN.
func benchRun(rec *runRecord, dir string) benchreport.Run {
	s := rec.summary()
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	r := benchreport.Run{Kernel: s.Kernel, Seed: s.Seed, Dir: dir, Status: s.Status,
		TestLoss: val(s.TestLoss), TestAcc: val(s.TestAcc), TrainLoss: val(s.TrainLoss), TrainAcc: val(s.TrainAcc),
		Epochs: s.Epochs, TotalS: s.TotalS, TrainS: s.TrainS, TestEvalS: s.TestEvalS, FinalEvalS: s.FinalEvalS,
		ImagesPerS: s.ImagesPerS, Steps: rec.res.Steps}
	for c := range r.ClassAcc {
		r.ClassAcc[c] = math.NaN()
	}
	if rec.res.Test != nil {
		r.ClassAcc = rec.res.Test.Confusion.ClassAccuracy()
	}
	return r
}

// printBench shows the comparison on the terminal.
func printBench(rep *benchreport.Report, out string) {
	kernels := benchreport.Summarize(rep.Kernels, rep.Runs)
	if rep.Partial() {
		fmt.Printf("bench stopped early (%s): the report covers the completed runs only\n", rep.Stopped)
	}
	for _, k := range kernels {
		if k.TestAcc.N == 0 {
			fmt.Printf("k=%d: no completed run\n", k.Kernel)
			continue
		}
		fmt.Printf("k=%d: test accuracy %.2f%%", k.Kernel, 100*k.TestAcc.Mean)
		if k.TestAcc.N > 1 {
			fmt.Printf(" ± %.2f", 100*k.TestAcc.SD)
		}
		fmt.Printf(" over %d seed(s), %.1f s per epoch (median), %.0f images/s\n", k.TestAcc.N, k.EpochS.Median, k.ImagesPerS.Median)
	}
	for _, k := range kernels[min(1, len(kernels)):] {
		fmt.Println(benchreport.Verdict(benchreport.Compare(kernels[0], k)))
	}
	fmt.Printf("bench outputs: %s\n", out)
}

// gridClock estimates the time left in the grid: a run not yet started is
// expected to take as long as the finished runs of its kernel took on
// average (else all finished runs, else the current run's own pace).
type gridClock struct {
	start time.Time
	took  map[int][]time.Duration // finished runs' wall time by kernel
	grid  []TrainCmd
}

// eta is the time left from run i on, given that run i has been going for
// elapsed and, by its own pace, has runLeft to go (both 0 before it starts).
func (g *gridClock) eta(i int, elapsed, runLeft time.Duration) time.Duration {
	left := runLeft
	if d := g.took[g.grid[i].Kernel]; len(d) > 0 {
		// The pace leaves out the final evaluation passes; finished runs do not.
		left = max(mean(d)-elapsed, runLeft)
	} else if elapsed == 0 {
		left = g.expect(g.grid[i].Kernel, 0)
	}
	for _, tc := range g.grid[i+1:] {
		left += g.expect(tc.Kernel, elapsed+runLeft)
	}
	return left
}

// expect is how long a run of kernel k should take, or fallback when no
// run has finished yet.
func (g *gridClock) expect(k int, fallback time.Duration) time.Duration {
	if d := g.took[k]; len(d) > 0 {
		return mean(d)
	}
	var all []time.Duration
	for _, d := range g.took {
		all = append(all, d...)
	}
	if len(all) > 0 {
		return mean(all)
	}
	return fallback
}

// startLine announces run i with the grid's progress.
func (g *gridClock) startLine(i int) string {
	tc := g.grid[i]
	eta := "ETA after the first run"
	if len(g.took) > 0 {
		eta = "ETA " + g.eta(i, 0, 0).Round(time.Second).String()
	}
	return fmt.Sprintf("bench run %d/%d: k=%d seed %d → %s (grid elapsed %s, %s)", i+1, len(g.grid), tc.Kernel, tc.Seed,
		tc.Out, time.Since(g.start).Round(time.Second), eta)
}

// view makes run i's progress view, which also shows the grid's ETA.
func (g *gridClock) view(i int) newView {
	return func(epochs, perEpoch int, out *os.File) *progressView {
		runStart := time.Now()
		tc := g.grid[i]
		return newProgressView(epochs, perEpoch, out, &gridPosition{run: i + 1, runs: len(g.grid), kernel: tc.Kernel, seed: tc.Seed,
			eta: func(p train.Progress) time.Duration {
				runLeft := time.Duration(0)
				if p.Done > 0 {
					runLeft = time.Duration(float64(p.Elapsed) / float64(p.Done) * float64(p.Total-p.Done))
				}
				return g.eta(i, time.Since(runStart), runLeft)
			}})
	}
}

func mean(ds []time.Duration) time.Duration {
	sum := time.Duration(0)
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
