package cpu

import (
	"fmt"
	"math"
	"testing"
)

// TestSoftmaxCrossEntropy checks the gradient of the mean loss against
// central differences, and that the summed loss and the number of correct
// predictions are added to stats[2·slot] and stats[2·slot+1] only.
func TestSoftmaxCrossEntropy(t *testing.T) {
	cases := []struct {
		name       string
		n, classes int
		scale      float64
		// rows to overwrite, each {label, logits...}: fixed logits such as ±1000
		fixed [][]float64
		slot  int
	}{
		{"random", 6, 10, 3, nil, 0},
		{"two classes, slot 1", 5, 2, 2, nil, 1},
		{"one row, slot 2", 1, 4, 1, nil, 2},
		{"extreme logits", 4, 3, 1, [][]float64{
			{1, 1000, -1000, 0}, // loss 2000, wrong
			{0, 1000, -1000, 0}, // loss ≈ 0, right
			{2, -1000, -1000, 1000},
			{0, 88, 89, -100}, // exp(89) overflows float32
		}, 1},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(1000 + i))
			zv := randVals(r, tc.n*tc.classes, tc.scale)
			labels := make([]int32, tc.n)
			for j := range labels {
				labels[j] = int32(r.IntN(tc.classes))
				if j%2 == 0 { // make some predictions right
					labels[j] = int32(argmaxRef(zv[j*tc.classes : (j+1)*tc.classes]))
				}
			}
			for j, row := range tc.fixed {
				labels[j] = int32(row[0])
				copy(zv[j*tc.classes:], row[1:])
			}
			lossSum, correct := softmaxCERef(zv, tc.n, tc.classes, labels)
			if math.IsInf(lossSum, 0) || math.IsNaN(lossSum) {
				t.Fatalf("reference loss %v", lossSum)
			}

			z, y := upload(t, c, zv, tc.n, tc.classes), uploadInt32(t, c, labels, tc.n)
			before := []float64{1, 2, 3, 4, 5, 6}
			stats := upload(t, c, before, len(before))
			dz := garbage(c, tc.n, tc.classes)
			c.SoftmaxCrossEntropy(dz, stats, tc.slot, z, y)
			mustSync(t, c)
			grad := numGrad(zv, func() float64 {
				s, _ := softmaxCERef(zv, tc.n, tc.classes, labels)
				return s / float64(tc.n)
			})
			checkGrad(t, "dlogits", download(t, c, dz), grad, gradAtol, gradRtol)

			// A second call without dlogits accumulates the same again.
			c.SoftmaxCrossEntropy(nil, stats, tc.slot, z, y)
			mustSync(t, c)
			want := append([]float64(nil), before...)
			want[2*tc.slot] += 2 * lossSum
			want[2*tc.slot+1] += 2 * float64(correct)
			checkClose(t, fmt.Sprintf("stats (loss sum %.6g, %d correct)", lossSum, correct), download(t, c, stats), want, 0, 1e-6)
		})
	}
}

// TestConfusion checks that each example adds one count at [label][argmax],
// with ties going to the first maximum, on top of what counts held.
func TestConfusion(t *testing.T) {
	const n, classes = 40, 4
	r := newRand(1100)
	zv := randVals(r, n*classes, 2)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(classes))
	}
	copy(zv[0:], []float64{1, 3, 3, 0}) // a tie: argmax 1
	copy(zv[classes:], []float64{2, 2, 2, 2})
	c := New()
	counts := upload(t, c, make([]float64, classes*classes), classes, classes)
	c.Fill(counts, 1)
	z, y := upload(t, c, zv, n, classes), uploadInt32(t, c, labels, n)
	c.Confusion(counts, z, y)
	mustSync(t, c)
	want := make([]float64, classes*classes)
	for i := range want {
		want[i] = 1
	}
	for i := 0; i < n; i++ {
		want[int(labels[i])*classes+argmaxRef(zv[i*classes:(i+1)*classes])]++
	}
	checkClose(t, "counts", download(t, c, counts), want, 0, 0)
}
