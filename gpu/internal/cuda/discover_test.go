package cuda

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeEnv answers Getenv from vars and Glob from a fixed list of paths.
func fakeEnv(vars map[string]string, paths []string) SearchEnv {
	return SearchEnv{
		Getenv: func(k string) string { return vars[k] },
		Glob: func(pattern string) ([]string, error) {
			var out []string
			for _, p := range paths {
				if ok, _ := filepath.Match(pattern, p); ok {
					out = append(out, p)
				}
			}
			return out, nil
		},
		Home: "/home/u",
	}
}

func TestCandidatesOrder(t *testing.T) {
	env := fakeEnv(map[string]string{LibDirsEnv: "/opt/a:/opt/b", "CUDA_HOME": "/cuda-home", "VIRTUAL_ENV": "/venv"},
		[]string{
			"/usr/local/cuda-12.4", "/usr/local/cuda-12.10", "/usr/local/cuda",
			"/venv/lib/python3.12/site-packages",
			"/venv/lib/python3.12/site-packages/nvidia/cudnn/lib",
			"/home/u/.local/lib/python3.11/site-packages",
			"/home/u/.local/lib/python3.11/site-packages/nvidia/cudnn/lib",
		})
	got := Candidates(&CuDNN, env)
	want := []string{
		"/opt/a/libcudnn.so.9", "/opt/a/libcudnn.so.8", "/opt/b/libcudnn.so.9", "/opt/b/libcudnn.so.8",
		"libcudnn.so.9", "libcudnn.so.8",
		"/cuda-home/lib64/libcudnn.so.9",
	}
	if !slices.Equal(got[:len(want)], want) {
		t.Fatalf("first candidates:\n got %q\nwant %q", got[:len(want)], want)
	}
	// Newest toolkit first (12.10 > 12.4 numerically), then the unversioned link.
	i10 := slices.Index(got, "/usr/local/cuda-12.10/lib64/libcudnn.so.9")
	i4 := slices.Index(got, "/usr/local/cuda-12.4/lib64/libcudnn.so.9")
	if i10 < 0 || i4 < 0 || i10 > i4 {
		t.Errorf("toolkit order wrong: cuda-12.10 at %d, cuda-12.4 at %d", i10, i4)
	}
	// The active virtualenv before the per-user site-packages, both after the toolkits.
	iv := slices.Index(got, "/venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9")
	iu := slices.Index(got, "/home/u/.local/lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9")
	if iv < 0 || iu < 0 || iv > iu || iv < i4 {
		t.Errorf("site-packages order wrong: venv %d, user %d, toolkit %d in %q", iv, iu, i4, got)
	}
}

// The driver ships with the kernel module: only the loader's search, the
// explicit folders and WSL's folder are tried, never toolkit or pip folders.
func TestDriverCandidates(t *testing.T) {
	env := fakeEnv(map[string]string{"CUDA_HOME": "/cuda-home"}, []string{"/usr/local/cuda-12.4"})
	got := Candidates(&Driver, env)
	want := []string{"libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1"}
	if !slices.Equal(got, want) {
		t.Errorf("driver candidates %q, want %q", got, want)
	}
}

func TestEveryLibraryHasAHint(t *testing.T) {
	for _, lib := range Libraries {
		if lib.Hint == "" || len(lib.Sonames) == 0 {
			t.Errorf("%s: needs sonames and a hint for users who lack it", lib.Name)
		}
		if !lib.Driver && !strings.Contains(lib.Hint, LibDirsEnv) {
			t.Errorf("%s: hint should name %s", lib.Name, LibDirsEnv)
		}
	}
}

func TestNewestFirst(t *testing.T) {
	got := newestFirst([]string{"/p/python3.9", "/p/python3.12", "/p/python3.10"})
	want := []string{"/p/python3.12", "/p/python3.10", "/p/python3.9"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
