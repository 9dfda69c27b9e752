package main

import (
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

func TestFlagValidation(t *testing.T) {
	cases := []struct {
		args []string
		want []string // what the one error line must mention
	}{
		{[]string{"train", "--kernel", "4"}, []string{"--kernel", "kernel size 4", "odd"}},
		{[]string{"train", "--kernel", "0"}, []string{"--kernel", "kernel size 0"}},
		{[]string{"train", "--kernel", "-3"}, []string{"--kernel", "-3"}},
		{[]string{"train", "--kernel=-3"}, []string{"--kernel", "kernel size -3"}},
		{[]string{"train", "--kernel", "27"}, []string{"--kernel", "at most 25"}},
		{[]string{"train", "--epochs", "0"}, []string{"--epochs 0", "1 to 10000"}},
		{[]string{"train", "--batch-size", "0"}, []string{"--batch-size 0", "≥ 1"}},
		{[]string{"train", "--lr", "0"}, []string{"--lr 0", "> 0"}},
		{[]string{"train", "--lr", "-1"}, []string{"--lr", "-1"}},
		{[]string{"train", "--lr=-1"}, []string{"--lr -1", "> 0"}},
		{[]string{"train", "--lr", "nan"}, []string{"--lr NaN", "> 0"}},
		{[]string{"train", "--lr", "inf"}, []string{"--lr +Inf"}},
		// Once out of memory, a panic, or a failure after loading the data.
		{[]string{"train", "--epochs", "1099511627776"}, []string{"--epochs 1099511627776", "1 to 10000"}},
		{[]string{"train", "--epochs", "9223372036854775807"}, []string{"--epochs 9223372036854775807", "1 to 10000"}},
		{[]string{"bench", "--epochs", "1099511627776"}, []string{"--epochs 1099511627776", "1 to 10000"}},
		{[]string{"bench", "--seeds", "200000000"}, []string{"--seeds 200000000", "1 to 1000"}},
		{[]string{"train", "--lr", "1e39"}, []string{"--lr 1e+39", "float32"}},
		{[]string{"train", "--lr", "1e-50"}, []string{"--lr 1e-50", "float32"}},
		{[]string{"bench", "--lr", "1e39"}, []string{"--lr 1e+39", "float32"}},
		{[]string{"train", "--test-every", "-2"}, []string{"--test-every", "-2"}},
		{[]string{"train", "--test-every=-2"}, []string{"--test-every", "-2", "≥ 0"}},
		{[]string{"train", "--test-every", "abc"}, []string{"--test-every", "abc", "auto or an integer"}},
		{[]string{"train", "--eval-batch", "0"}, []string{"--eval-batch", `"0"`, "≥ 1"}},
		{[]string{"train", "--device", "tpu"}, []string{"--device", "tpu", "auto", "cpu", "cuda"}},
		{[]string{"train", "--limit-train", "-1"}, []string{"--limit-train", "-1"}},
		{[]string{"train", "--limit-train=-1"}, []string{"--limit-train", "≥ 0"}},
		{[]string{"train", "--limit-test=-5"}, []string{"--limit-test", "≥ 0"}},
		{[]string{"train", "--epochs", "abc"}, []string{"--epochs", "abc"}},
		{[]string{"train", "--no-such-flag"}, []string{"--no-such-flag"}},
		{[]string{"eval", "--checkpoint", "/nonexistent/model.ckpt"}, []string{"--checkpoint", "/nonexistent/model.ckpt"}},
		{[]string{"eval"}, []string{"--checkpoint"}},
		{[]string{"summary", "--kernel", "4"}, []string{"--kernel", "kernel size 4"}},
		{[]string{"fly"}, []string{"fly"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			r := mnistgpu(t, nil, work, c.args...)
			wantOneError(t, r, c.want...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d for a usage error", r.code, exitUsage)
			}
			// A rejected flag must stop everything before any work starts.
			if names := testfiles.Names(t, work); len(names) != 0 {
				t.Errorf("a rejected command created %d entries in its working directory: %v", len(names), names)
			}
		})
	}
}

// Checks in Validate cover flags that need the checkpoint file to exist, so
// eval's own flags get a real file to get past kong's existingfile check.
func TestEvalFlagValidation(t *testing.T) {
	ckpt := writeCheckpoint(t, 3)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--eval-batch", "0"}, []string{"--eval-batch", `"0"`, "≥ 1"}},
		{[]string{"--eval-batch", "lots"}, []string{"--eval-batch", "lots"}},
		{[]string{"--limit-test=-1"}, []string{"--limit-test -1", "≥ 0"}},
		{[]string{"--device", "gpu"}, []string{"--device", "gpu"}},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := mnistgpu(t, nil, "", append([]string{"eval", "--checkpoint", ckpt}, c.args...)...)
			wantOneError(t, r, c.want...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d for a usage error", r.code, exitUsage)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	for _, c := range []struct {
		kernel string
		want   []string
		block  string // parameters of each ResNet block convolution: k*k*32*32 + 32
	}{
		{"3", []string{`Model: "mnist_resnet_k3"`, "Total params: 1,219,530", "Trainable params: 1,218,954", "Non-trainable params: 576"}, "9,248"},
		{"5", []string{`Model: "mnist_resnet_k5"`, "Total params: 1,252,298", "Trainable params: 1,251,722", "Non-trainable params: 576"}, "25,632"},
	} {
		t.Run("k"+c.kernel, func(t *testing.T) {
			r := mnistgpu(t, nil, "", "summary", "--kernel", c.kernel)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("want exit 0 and no stderr:\n%v", r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("summary --kernel %s lacks %q:\n%s", c.kernel, w, r.stdout)
				}
			}
			for _, layer := range []string{"resblock_conv_a (Conv2D)", "resblock_conv_b (Conv2D)"} {
				line := lineWith(r.stdout, layer)
				if !strings.HasSuffix(line, " "+c.block) {
					t.Errorf("summary row of %s is %q, want it to end in %s params", layer, line, c.block)
				}
			}
		})
	}
}

// lineWith returns the first line of text that contains s, or "".
func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimRight(l, " ")
		}
	}
	return ""
}

// A bare invocation is a request for help, not a mistake.
func TestBareInvocationShowsHelp(t *testing.T) {
	r := mnistgpu(t, nil, "")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want exit 0 and nothing on stderr:\n%v", r)
	}
	for _, w := range []string{"Usage: mnistgpu <command>", "train", "bench", "devices", "--version"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("help lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-V"} {
		r := mnistgpu(t, nil, "", flag)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "mnistgpu ") || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("%s: want exit 0 and one line \"mnistgpu <version>\":\n%v", flag, r)
		}
	}
}

// Help shows every default, `auto` included, and names each value by its
// kind (N, DIR, FILE...) rather than its Go type.
func TestHelpConventions(t *testing.T) {
	r := mnistgpu(t, nil, "", "train", "--help")
	if r.code != 0 {
		t.Fatalf("train --help:\n%v", r)
	}
	help := strings.Join(strings.Fields(r.stdout), " ") // undo the wrapping
	for _, w := range []string{"-k, --kernel=N", "-e, --epochs=N", "-o, --out=DIR", "-d, --device=NAME", "--data-dir=DIR",
		"--test-every=N", "(default: auto)", "(default: 3)", "(default: 64)"} {
		if !strings.Contains(help, w) {
			t.Errorf("train --help lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range []string{"=STRING", "=INT", "=UINT"} {
		if strings.Contains(help, w) {
			t.Errorf("train --help shows a Go type placeholder %q:\n%s", w, r.stdout)
		}
	}
}
