//go:build cgo

package gpu

import "testing"

func TestCompileTarget(t *testing.T) {
	supported := []int{75, 80, 86, 89, 90}
	for _, c := range []struct {
		arch           int
		option, target string
		cubin, fails   bool
	}{
		{90, "--gpu-architecture=sm_90", "sm_90", true, false},
		{86, "--gpu-architecture=sm_86", "sm_86", true, false},
		// A GPU newer than this NVRTC: PTX for the newest older architecture.
		{100, "--gpu-architecture=compute_90", "compute_90", false, false},
		{87, "--gpu-architecture=compute_86", "compute_86", false, false},
		{70, "", "", false, true},
	} {
		option, target, cubin, err := compileTarget(c.arch, supported)
		if (err != nil) != c.fails || option != c.option || target != c.target || cubin != c.cubin {
			t.Errorf("arch %d: got %q %q cubin=%v err=%v", c.arch, option, target, cubin, err)
		}
	}
}

func TestCuDNNVersionText(t *testing.T) {
	for v, want := range map[int]string{91900: "9.19.0", 90100: "9.1.0", 8907: "8.9.7", 8500: "8.5.0"} {
		if got := cudnnVersionText(v); got != want {
			t.Errorf("cudnnVersionText(%d) = %q, want %q", v, got, want)
		}
	}
}
