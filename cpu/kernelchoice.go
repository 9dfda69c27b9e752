package cpu

import (
	"fmt"
	"os"
	"strings"
)

// KernelEnv names the environment variable that picks the CPU kernels
// below the best this CPU runs, so that one machine can run, and test, the
// paths other CPUs take (Device says which runs):
//
//	avx512     the AVX-512 strided kernel for the direct convolution, AVX-512 row loops
//	avx2       the AVX2/FMA strided kernel and row loops: what an AVX2-only CPU runs
//	avx2-gemm  the packed GEMM on the AVX2/FMA 6x16 micro-kernel in place of the
//	           direct convolution: the AVX2 path before the AVX2 strided kernel
//	portable   plain Go everywhere, as -tags purego builds
//	"" or auto the best the CPU has
const KernelEnv = "MNISTGPU_CPU_KERNEL"

// kernelSet is which kernels run: the AVX2 and AVX-512 assembly, and the
// direct convolution (else the packed GEMM).
type kernelSet struct{ avx2, avx512, direct bool }

// kernelNames are the sets KernelEnv names, best first.
var kernelNames = []struct {
	name string
	set  kernelSet
}{
	{"avx512", kernelSet{avx2: true, avx512: true, direct: true}},
	{"avx2", kernelSet{avx2: true, direct: true}},
	{"avx2-gemm", kernelSet{avx2: true}},
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
		if !runs(have, k.set) {
			return have, fmt.Errorf("cpu: %s=%s: this CPU or build does not run the %s kernels (it runs %q)", KernelEnv, value, value, kernelSetName(have))
		}
		return k.set, nil
	}
	return have, fmt.Errorf("cpu: %s=%q: unknown kernel set (known: auto, %s)", KernelEnv, value, strings.Join(known, ", "))
}

// runs says whether a CPU that runs `have` can run s.
func runs(have, s kernelSet) bool {
	return (have.avx2 || !s.avx2) && (have.avx512 || !s.avx512) && (have.direct || !s.direct)
}

// kernelSetName is KernelEnv's name for s.
func kernelSetName(s kernelSet) string {
	for _, k := range kernelNames {
		if k.set == s {
			return k.name
		}
	}
	return fmt.Sprintf("%+v", s)
}

// kernelChoiceErr is why KernelEnv's value could not be followed (the
// backend then refuses to open); nil when it was.
var kernelChoiceErr error

func init() {
	var set kernelSet
	set, kernelChoiceErr = chooseKernels(os.Getenv(KernelEnv), kernelSet{hasAVX2, hasAVX512, directConv})
	hasAVX2, hasAVX512, directConv = set.avx2, set.avx512, set.direct
}
