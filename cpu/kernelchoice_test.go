package cpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// TestChooseKernels: KernelEnv's values, what each picks on CPUs with and
// without AVX2 and AVX-512, and one clear error for a set the CPU lacks
// or a name it does not know.
func TestChooseKernels(t *testing.T) {
	all, avx2, gemm, none := kernelSet{true, true, true}, kernelSet{avx2: true, direct: true}, kernelSet{avx2: true}, kernelSet{}
	for _, tc := range []struct {
		value   string
		have    kernelSet
		want    kernelSet
		wantErr string
	}{
		{"", all, all, ""},
		{"auto", avx2, avx2, ""},
		{"avx512", all, all, ""},
		{" AVX2 ", all, avx2, ""},
		{"portable", all, none, ""},
		{"portable", none, none, ""},
		{"avx2", avx2, avx2, ""},
		{"avx2-gemm", avx2, gemm, ""},
		{"avx2-gemm", all, gemm, ""},
		{"avx512", avx2, avx2, `MNISTGPU_CPU_KERNEL=avx512: this CPU or build does not run the avx512 kernels (it runs "avx2")`},
		{"avx2", none, none, `does not run the avx2 kernels (it runs "portable")`},
		{"avx2", gemm, gemm, `does not run the avx2 kernels (it runs "avx2-gemm")`},
		{"sse", all, all, `MNISTGPU_CPU_KERNEL="sse": unknown kernel set (known: auto, avx512, avx2, avx2-gemm, portable)`},
	} {
		t.Run(fmt.Sprintf("%q on %s", tc.value, kernelSetName(tc.have)), func(t *testing.T) {
			got, err := chooseKernels(tc.value, tc.have)
			if got != tc.want {
				t.Errorf("set %+v, want %+v", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestOpenRefusesBadKernelChoice: a KernelEnv value that cannot be
// followed makes the registered backend refuse to open with that one
// line, rather than run other kernels than asked.
func TestOpenRefusesBadKernelChoice(t *testing.T) {
	saved := kernelChoiceErr
	defer func() { kernelChoiceErr = saved }()
	_, kernelChoiceErr = chooseKernels("avx2", kernelSet{})
	b, _, err := backend.Open("cpu")
	if err == nil {
		b.Close()
		t.Fatal("cpu opened with an unsupported MNISTGPU_CPU_KERNEL")
	}
	if want := "MNISTGPU_CPU_KERNEL=avx2: this CPU or build does not run the avx2 kernels"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want one containing %q", err, want)
	}
}
