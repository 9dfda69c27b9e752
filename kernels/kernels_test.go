package kernels

import (
	"regexp"
	"slices"
	"testing"
)

// Every name the backend looks up must be an extern "C" kernel in Source,
// and every kernel in Source must be looked up (no dead kernels).
func TestNamesMatchSource(t *testing.T) {
	if len(Source) == 0 {
		t.Fatal("the kernel sources are not embedded")
	}
	declared := regexp.MustCompile(`extern "C" __global__ void (\w+)\(`).FindAllStringSubmatch(Source, -1)
	var found []string
	for _, m := range declared {
		found = append(found, m[1])
	}
	for _, name := range Names {
		if !slices.Contains(found, name) {
			t.Errorf("kernel %q is looked up but not declared extern \"C\" __global__ in kernels/*.cu", name)
		}
	}
	for _, name := range found {
		if !slices.Contains(Names, name) {
			t.Errorf("kernel %q is declared in kernels/*.cu but not listed in Names", name)
		}
	}
}

func TestHashFollowsSource(t *testing.T) {
	h := Hash()
	if len(h) != 64 {
		t.Fatalf("Hash() = %q, want 64 hex digits", h)
	}
	saved := Source
	defer func() { Source = saved }()
	Source += "\n"
	if Hash() == h {
		t.Error("Hash() did not change with the source")
	}
}
