package backend

import (
	"math"
	"testing"
)

func TestAdamStepSize(t *testing.T) {
	// Step 1: sqrt(1-0.999)/(1-0.9) = 0.316227766...
	if got, want := AdamStepSize(1e-3, 0.9, 0.999, 1), 1e-3*math.Sqrt(0.001)/0.1; math.Abs(float64(got)-want) > 1e-10 {
		t.Errorf("step 1: %g, want %g", got, want)
	}
	// Late steps: both corrections vanish.
	if got := AdamStepSize(1e-3, 0.9, 0.999, 100000); math.Abs(float64(got)-1e-3) > 1e-9 {
		t.Errorf("step 1e5: %g, want 1e-3", got)
	}
}
