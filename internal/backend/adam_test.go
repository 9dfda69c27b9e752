package backend

import (
	"math"
	"testing"
)

func TestAdamStepSize(t *testing.T) {
	// Step 1: lr·sqrt(1-β₂)/(1-β₁), with the float32 betas the model passes.
	b1, b2, lr := float64(float32(0.9)), float64(float32(0.999)), float64(float32(1e-3))
	if got, want := AdamStepSize(1e-3, 0.9, 0.999, 1), lr*math.Sqrt(1-b2)/(1-b1); math.Abs(float64(got)-want) > 1e-7*want {
		t.Errorf("step 1: %g, want %g", got, want)
	}
	// Late steps: both corrections vanish.
	if got := AdamStepSize(1e-3, 0.9, 0.999, 100000); math.Abs(float64(got)-1e-3) > 1e-9 {
		t.Errorf("step 1e5: %g, want 1e-3", got)
	}
}
