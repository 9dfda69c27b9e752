// Package benchreport aggregates the runs of a kernel × seed grid: per-kernel
// statistics over seeds, the test of whether two kernels differ by more than
// the seed-to-seed spread, and the grid's outputs (bench.md, bench.csv,
// runs.csv and three figures), each written atomically.
package benchreport

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
)

// Run is what one finished training run of the grid measured. Metrics that
// were not measured (e.g. the training-set pass with --skip-train-eval) are NaN.
type Run struct {
	Kernel int
	Seed   uint64
	Dir    string // the run's folder, relative to the bench folder
	Status string // as in its summary.json; only "completed" runs are aggregated

	TestLoss, TestAcc   float64
	TrainLoss, TrainAcc float64
	ClassAcc            [metrics.NumClasses]float64

	Epochs                                int
	TotalS, TrainS, TestEvalS, FinalEvalS float64
	ImagesPerS                            float64
	Steps                                 []metrics.Step
}

// EpochS is the time of one epoch: training plus the periodic test passes
// (--test-every), as Keras' fit with validation data times it, without the
// final passes over the whole test and training sets.
func (r Run) EpochS() float64 { return (r.TrainS + r.TestEvalS) / float64(max(r.Epochs, 1)) }

// EvalShare is the fraction of the run spent evaluating (periodic and final passes).
func (r Run) EvalShare() float64 {
	if r.TotalS <= 0 {
		return math.NaN()
	}
	return (r.TestEvalS + r.FinalEvalS) / r.TotalS
}

// Stat is a mean, sample standard deviation, median and range over seeds.
// With one value SD is NaN; with none every field is NaN and N is 0.
type Stat struct {
	N                int
	Mean, SD         float64
	Median, Min, Max float64
}

// Describe summarizes xs, leaving out NaNs (metrics a run did not measure).
func Describe(xs []float64) Stat {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	nan := math.NaN()
	s := Stat{N: len(v), Mean: nan, SD: nan, Median: nan, Min: nan, Max: nan}
	if len(v) == 0 {
		return s
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(len(v))
	s.Min, s.Max = v[0], v[len(v)-1]
	if n := len(v); n%2 == 1 {
		s.Median = v[n/2]
	} else {
		s.Median = (v[n/2-1] + v[n/2]) / 2
	}
	if len(v) > 1 {
		ss := 0.0
		for _, x := range v {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(v)-1))
	}
	return s
}

// Kernel is the statistics over the completed seeds of one kernel size.
type Kernel struct {
	Kernel int
	Seeds  []uint64
	Runs   []Run

	EpochS, TrainEpochS, ImagesPerS, EvalShare Stat
	TestAcc, TestLoss, TrainAcc, TrainLoss     Stat
	ClassAcc                                   [metrics.NumClasses]Stat
}

// Summarize groups the completed runs by kernel, in the order of kernels;
// a kernel without completed runs gets an entry with N = 0.
func Summarize(kernels []int, runs []Run) []Kernel {
	out := make([]Kernel, 0, len(kernels))
	for _, k := range kernels {
		s := Kernel{Kernel: k}
		var epoch, trainEpoch, ips, share, tacc, tloss, racc, rloss []float64
		var class [metrics.NumClasses][]float64
		for _, r := range runs {
			if r.Kernel != k || r.Status != "completed" {
				continue
			}
			s.Seeds = append(s.Seeds, r.Seed)
			s.Runs = append(s.Runs, r)
			epoch = append(epoch, r.EpochS())
			trainEpoch = append(trainEpoch, r.TrainS/float64(max(r.Epochs, 1)))
			ips = append(ips, r.ImagesPerS)
			share = append(share, r.EvalShare())
			tacc, tloss = append(tacc, r.TestAcc), append(tloss, r.TestLoss)
			racc, rloss = append(racc, r.TrainAcc), append(rloss, r.TrainLoss)
			for c, a := range r.ClassAcc {
				class[c] = append(class[c], a)
			}
		}
		s.EpochS, s.TrainEpochS, s.ImagesPerS, s.EvalShare = Describe(epoch), Describe(trainEpoch), Describe(ips), Describe(share)
		s.TestAcc, s.TestLoss, s.TrainAcc, s.TrainLoss = Describe(tacc), Describe(tloss), Describe(racc), Describe(rloss)
		for c := range class {
			s.ClassAcc[c] = Describe(class[c])
		}
		out = append(out, s)
	}
	return out
}

// Comparison is the test of whether the mean test accuracies of two kernels
// differ by more than their seed-to-seed spread.
//
// The rule is Welch's two-sided t-test at the 5% level: the difference of the
// means Δ = mean_B − mean_A, its standard error SE = √(sd_A²/n_A + sd_B²/n_B),
// t = Δ/SE, the fractional degrees of freedom of the Welch–Satterthwaite
// formula, and the difference exceeds the spread when |t| is above Student's
// 97.5% quantile for those degrees of freedom (2.78 for 3 seeds per kernel
// with equal spreads, 4.30 for 2; fewer when one kernel's spread dominates).
// It needs at least two seeds per kernel.
type Comparison struct {
	A, B      int // kernel sizes
	Delta, SE float64
	T         float64
	DF        float64 // Welch–Satterthwaite, not rounded
	Critical  float64 // Student's t 97.5% quantile for DF
	P         float64 // two-sided p-value of T
	Decided   bool    // false when a kernel has fewer than two seeds
	Exceeds   bool
}

// Compare applies the rule to the test accuracies of a and b.
func Compare(a, b Kernel) Comparison {
	nan := math.NaN()
	c := Comparison{A: a.Kernel, B: b.Kernel, Delta: b.TestAcc.Mean - a.TestAcc.Mean,
		SE: nan, T: nan, DF: nan, Critical: nan, P: nan}
	na, nb := float64(a.TestAcc.N), float64(b.TestAcc.N)
	if na < 2 || nb < 2 {
		return c
	}
	c.Decided = true
	va, vb := a.TestAcc.SD*a.TestAcc.SD/na, b.TestAcc.SD*b.TestAcc.SD/nb
	c.SE = math.Sqrt(va + vb)
	if c.SE == 0 {
		// No spread at all (deterministic runs): any difference is beyond it.
		c.Exceeds = c.Delta != 0
		c.DF = na + nb - 2
		return c
	}
	c.T = c.Delta / c.SE
	c.DF = (va + vb) * (va + vb) / (va*va/(na-1) + vb*vb/(nb-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: c.DF}
	c.Critical = t.Quantile(0.975)
	c.P = 2 * t.Survival(math.Abs(c.T))
	c.Exceeds = math.Abs(c.T) > c.Critical
	return c
}
