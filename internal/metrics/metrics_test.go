package metrics

import (
	"math"
	"testing"
)

func TestConfusion(t *testing.T) {
	var c Confusion
	if c.Accuracy() != 0 || c.Total() != 0 {
		t.Fatalf("empty matrix: accuracy %v, total %d", c.Accuracy(), c.Total())
	}
	c.Counts[0][0] = 8
	c.Counts[0][1] = 2
	c.Counts[1][1] = 5
	c.Counts[2][1] = 5
	if c.Total() != 20 {
		t.Errorf("total %d, want 20", c.Total())
	}
	if c.Accuracy() != 13.0/20 {
		t.Errorf("accuracy %v, want 0.65", c.Accuracy())
	}
	acc := c.ClassAccuracy()
	if acc[0] != 0.8 || acc[1] != 1 || acc[2] != 0 {
		t.Errorf("class accuracy %v, want 0.8, 1, 0 for classes 0-2", acc[:3])
	}
	if !math.IsNaN(acc[3]) {
		t.Errorf("class without examples: %v, want NaN", acc[3])
	}
}

func TestStepHasTest(t *testing.T) {
	if (Step{TestLoss: math.NaN()}).HasTest() || !(Step{TestLoss: 0.1}).HasTest() {
		t.Error("HasTest must be true exactly when TestLoss is a number")
	}
}
