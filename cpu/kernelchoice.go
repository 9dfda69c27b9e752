package cpu

import (
	"fmt"
	"os"
	"strings"
)

// KernelEnv names the environment variable that picks the CPU kernels
// below the best this CPU runs: "avx512" (the AVX-512 strided kernel and
// direct convolution, the AVX-512 row loops and the AVX2 micro-kernel),
// "avx2" (the packed GEMM on the AVX2/FMA micro-kernel, portable row
// loops: what an AVX2-only CPU runs), "portable" (plain Go everywhere, as
// -tags purego builds), or "" / "auto" for the best the CPU has. It lets
// one machine run, and test, the paths that other CPUs take; Device says
// which runs.
const KernelEnv = "MNISTGPU_CPU_KERNEL"

// kernelSet is which assembly kernels run.
type kernelSet struct{ avx2, avx512 bool }

// kernelNames are the sets KernelEnv names, best first.
var kernelNames = []struct {
	name string
	set  kernelSet
}{
	{"avx512", kernelSet{avx2: true, avx512: true}},
	{"avx2", kernelSet{avx2: true}},
	{"portable", kernelSet{}},
}

// chooseKernels is the set that KernelEnv's value asks for on a CPU that
// runs at most `have`, or an error naming what is wrong.
func chooseKernels(value string, have kernelSet) (kernelSet, error) {
	value = strings.ToLower(strings.TrimSpace(value))
	if value == "" || value == "auto" {
		return have, nil
	}
	var known []string
	for _, k := range kernelNames {
		known = append(known, k.name)
		if k.name != value {
			continue
		}
		if k.set.avx2 && !have.avx2 || k.set.avx512 && !have.avx512 {
			return have, fmt.Errorf("cpu: %s=%s: this CPU or build does not run the %s kernels (it runs %q)", KernelEnv, value, value, kernelSetName(have))
		}
		return k.set, nil
	}
	return have, fmt.Errorf("cpu: %s=%q: unknown kernel set (known: auto, %s)", KernelEnv, value, strings.Join(known, ", "))
}

// kernelSetName is KernelEnv's name for s.
func kernelSetName(s kernelSet) string {
	for _, k := range kernelNames {
		if k.set == s {
			return k.name
		}
	}
	return "portable"
}

// kernelChoiceErr is why KernelEnv's value could not be followed (the
// backend then refuses to open); nil when it was.
var kernelChoiceErr error

func init() {
	var set kernelSet
	set, kernelChoiceErr = chooseKernels(os.Getenv(KernelEnv), kernelSet{hasAVX2, hasAVX512})
	hasAVX2, hasAVX512, directConv = set.avx2, set.avx512, set.avx512
}
