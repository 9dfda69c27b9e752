package backend

import "math"

// AdamStepSize is the learning rate of Adam step t (1-based) with both bias
// corrections folded in, lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ), computed in double precision
// so that every backend applies the same float32 value.
func AdamStepSize(lr, beta1, beta2 float32, step int) float32 {
	t := float64(step)
	return float32(float64(lr) * math.Sqrt(1-math.Pow(float64(beta2), t)) / (1 - math.Pow(float64(beta1), t)))
}
