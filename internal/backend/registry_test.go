package backend

import (
	"errors"
	"strings"
	"testing"
)

// fake is a Backend that only knows its name; the registry never calls ops.
type fake struct {
	Backend
	name string
}

func (f fake) Name() string { return f.name }

// withRegistry runs f against a registry holding only the given openers.
func withRegistry(t *testing.T, openers map[string]Opener, f func()) {
	t.Helper()
	registryMu.Lock()
	saved := registry
	registry = openers
	registryMu.Unlock()
	defer func() {
		registryMu.Lock()
		registry = saved
		registryMu.Unlock()
	}()
	f()
}

func TestOpen(t *testing.T) {
	cpu := func() (Backend, error) { return fake{name: "cpu"}, nil }
	noGPU := func() (Backend, error) { return nil, errors.New("cuda: libcuda.so.1 not found") }

	withRegistry(t, map[string]Opener{"cpu": cpu}, func() {
		if _, _, err := Open("cuda"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not available in this build") {
			t.Errorf("cuda without a cuda backend: %v", err)
		}
		if _, _, err := Open("tpu"); err == nil || !strings.Contains(err.Error(), `unknown device "tpu"`) || !strings.Contains(err.Error(), "cpu") {
			t.Errorf("unknown device: %v", err)
		}
		b, note, err := Open("auto")
		if err != nil || b.Name() != "cpu" || !strings.Contains(note, "using cpu") || !strings.Contains(note, "not available in this build") {
			t.Errorf("auto without cuda: %v, note %q, err %v", b, note, err)
		}
		if b, note, err := Open("cpu"); err != nil || b.Name() != "cpu" || note != "" {
			t.Errorf("cpu: %v, %q, %v", b, note, err)
		}
	})
	withRegistry(t, map[string]Opener{"cpu": cpu, "cuda": noGPU}, func() {
		b, note, err := Open("auto")
		if err != nil || b.Name() != "cpu" || !strings.Contains(note, "libcuda.so.1 not found") {
			t.Errorf("auto with a failing cuda: %v, note %q, err %v", b, note, err)
		}
	})
	withRegistry(t, map[string]Opener{"cpu": cpu, "cuda": func() (Backend, error) { return fake{name: "cuda"}, nil }}, func() {
		if b, note, err := Open("auto"); err != nil || b.Name() != "cuda" || note != "device auto: using cuda" {
			t.Errorf("auto with a working cuda: %v, note %q, err %v", b, note, err)
		}
	})
	withRegistry(t, map[string]Opener{"cuda": noGPU}, func() {
		if _, _, err := Open("auto"); err == nil || !strings.Contains(err.Error(), "no backend could start") {
			t.Errorf("auto with nothing usable: %v", err)
		}
	})
}

func TestNames(t *testing.T) {
	withRegistry(t, map[string]Opener{"cuda": nil, "cpu": nil}, func() {
		if got := strings.Join(Names(), ","); got != "cpu,cuda" {
			t.Errorf("Names() = %s", got)
		}
	})
}
