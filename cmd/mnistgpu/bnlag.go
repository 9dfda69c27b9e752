package main

import (
	"fmt"
	"math"

	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// bnLagPoints is how far (in accuracy points) the inference-mode test
// accuracy may sit below the running training accuracy before a run says
// why. Seed-to-seed spread after one MNIST epoch is about 2 points and
// overfitting a small set rarely costs 20; the lag of a short run (the
// moving averages still near their initial mean 0 and variance 1) costs
// 40 and more: Fashion-MNIST after 200 steps, 83% running, 42% test.
const bnLagPoints = 20

// bnLagNote is one line explaining a test accuracy far below the running
// training accuracy by batch norm's lagging moving averages, or "" when
// there is no such gap. With precise set, the run already has the remedy.
func bnLagNote(res *train.Result, precise bool) string {
	if res == nil || res.Test == nil || len(res.Steps) == 0 {
		return ""
	}
	running, test := res.Steps[len(res.Steps)-1].RunningAcc, res.Test.Accuracy
	if math.IsNaN(running) || 100*(running-test) <= bnLagPoints {
		return ""
	}
	steps := len(res.Steps)
	momentum := math.Round(float64(model.BNMomentum)*1e6) / 1e6 // 0.99, not float32's 0.99000001
	// After s steps the initial value weighs momentum^s in the average.
	weight := math.Pow(momentum, float64(steps))
	needed := int(math.Ceil(math.Log(0.01) / math.Log(momentum)))
	remedy := fmt.Sprintf("train for more steps (more --epochs, or a smaller --batch-size), or add --precise-bn %d", min(100, max(10, steps)))
	if precise {
		remedy = "the precise-BN result above does not have this lag"
	}
	return fmt.Sprintf("mnistgpu: note: the inference-mode test accuracy %.1f%% is %.0f points below the running training accuracy %.1f%%: "+
		"batch norm's moving averages (momentum %g) are still converging — after %d steps their initial values still weigh %g^%d = %.0f%%, "+
		"under 1%% only after %d steps; %s",
		100*test, 100*(running-test), 100*running, momentum, steps, momentum, steps, 100*weight, needed, remedy)
}
