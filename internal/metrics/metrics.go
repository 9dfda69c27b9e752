// Package metrics holds the numbers a training run measures: one record per
// mini-batch and the confusion matrix of an evaluation. Reports and the
// training loop both speak these types, so neither imports the other.
package metrics

import "math"

// NumClasses is the number of MNIST digit classes.
const NumClasses = 10

// Step is what one mini-batch of training measured.
type Step struct {
	Step        int     // 1-based global mini-batch index
	Epoch       int     // 1-based epoch
	BatchLoss   float64 // mean cross-entropy of this mini-batch (training mode)
	RunningLoss float64 // Keras' logged `loss`: mean of the batch losses so far this epoch, weighted by batch size
	RunningAcc  float64 // Keras' logged `accuracy`: fraction correct so far this epoch
	TestLoss    float64 // test-set loss after this step in inference mode; NaN where not evaluated
	TestAcc     float64 // test-set accuracy of the same pass; NaN where not evaluated
}

// HasTest reports whether the test set was evaluated after this step.
func (s Step) HasTest() bool { return !math.IsNaN(s.TestLoss) }

// Confusion counts predictions: Counts[true][predicted].
type Confusion struct {
	Counts [NumClasses][NumClasses]int
}

// Total is the number of examples counted.
func (c *Confusion) Total() int {
	n := 0
	for i := range c.Counts {
		for j := range c.Counts[i] {
			n += c.Counts[i][j]
		}
	}
	return n
}

// Accuracy is the fraction of examples on the diagonal; 0 for an empty matrix.
func (c *Confusion) Accuracy() float64 {
	total := c.Total()
	if total == 0 {
		return 0
	}
	correct := 0
	for i := range c.Counts {
		correct += c.Counts[i][i]
	}
	return float64(correct) / float64(total)
}

// ClassAccuracy is, per true class, the fraction predicted correctly (recall),
// as the seed's class_accuracy.csv reports it. A class with no examples is NaN.
func (c *Confusion) ClassAccuracy() [NumClasses]float64 {
	var acc [NumClasses]float64
	for i := range c.Counts {
		n := 0
		for j := range c.Counts[i] {
			n += c.Counts[i][j]
		}
		if n == 0 {
			acc[i] = math.NaN()
			continue
		}
		acc[i] = float64(c.Counts[i][i]) / float64(n)
	}
	return acc
}
