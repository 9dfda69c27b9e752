package cuda

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeEnv answers Getenv from vars, Glob from a fixed list of paths (a
// directory tree held in memory), LookPath from python and Resolve from
// links.
func fakeEnv(vars map[string]string, paths []string, python string, links map[string]string) SearchEnv {
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
		LookPath: func(name string) (string, error) {
			if name != "python3" || python == "" {
				return "", os.ErrNotExist
			}
			return python, nil
		},
		Resolve: func(p string) (string, error) {
			if l, ok := links[p]; ok {
				return l, nil
			}
			return p, nil
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
		}, "", nil)
	got := Candidates(&CuDNN, env)
	want := []string{
		// The user's folders first, every release in each.
		"/opt/a/libcudnn.so.9", "/opt/a/libcudnn.so.8", "/opt/b/libcudnn.so.9", "/opt/b/libcudnn.so.8",
		// Then cuDNN 9 everywhere before cuDNN 8 anywhere.
		"libcudnn.so.9", "/cuda-home/lib64/libcudnn.so.9",
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
	// Every cuDNN 9 candidate comes before the first cuDNN 8 one outside the user's folders.
	last9 := slices.IndexFunc(got[4:], func(p string) bool { return strings.HasSuffix(p, ".so.8") })
	for _, p := range got[4+last9:] {
		if strings.HasSuffix(p, ".so.9") {
			t.Errorf("%s comes after a cuDNN 8 candidate", p)
		}
	}
}

// The machine the GPU checks run on: python3 on PATH is a virtualenv's,
// not activated (no VIRTUAL_ENV), whose link points to the system's Python,
// and its CUDA 13 wheels share site-packages/nvidia/cu13/lib. An older
// cuBLAS 12 sits in $CUDA_HOME, a folder searched before site-packages:
// cuBLAS 13 must still win, so that cuBLAS and NVRTC are of one CUDA major.
func TestCandidatesFindUnactivatedVenv(t *testing.T) {
	venv := "/opt/torch/.venv/lib/python3.12/site-packages"
	tree := []string{
		venv, venv + "/nvidia/cu13/lib", venv + "/nvidia/cudnn/lib",
		// Earlier in the search than the venv (CUDA_HOME): an old cuBLAS 12.
		"/cuda-home/lib64",
		"/usr/lib/python3.12/site-packages",
	}
	files := map[string]bool{
		venv + "/nvidia/cu13/lib/libcublas.so.13": true,
		venv + "/nvidia/cu13/lib/libnvrtc.so.13":  true,
		venv + "/nvidia/cudnn/lib/libcudnn.so.9":  true,
		"/cuda-home/lib64/libcublas.so.12":        true,
	}
	env := fakeEnv(map[string]string{"CUDA_HOME": "/cuda-home"}, tree, "/opt/torch/.venv/bin/python3",
		map[string]string{"/opt/torch/.venv/bin/python3": "/usr/bin/python3.12"})
	for lib, want := range map[*Library]string{
		&CuBLAS: venv + "/nvidia/cu13/lib/libcublas.so.13",
		&NVRTC:  venv + "/nvidia/cu13/lib/libnvrtc.so.13",
		&CuDNN:  venv + "/nvidia/cudnn/lib/libcudnn.so.9",
	} {
		got := ""
		for _, c := range Candidates(lib, env) {
			if files[c] {
				got = c
				break
			}
		}
		if got != want {
			t.Errorf("%s: first existing candidate %q, want %q", lib.Name, got, want)
		}
	}
	// The system Python the link points to is searched after the venv.
	sites := sitePackages(env)
	iv, is := slices.Index(sites, venv), slices.Index(sites, "/usr/lib/python3.12/site-packages")
	if iv < 0 || is < 0 || iv > is {
		t.Errorf("site-packages %q: venv at %d, system at %d", sites, iv, is)
	}
}

// The same on a real directory tree, with the real glob, PATH lookup and
// link resolution: a venv whose bin/python3 links elsewhere.
func TestCandidatesOnDisk(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv")
	site := filepath.Join(venv, "lib", "python3.12", "site-packages")
	lib := filepath.Join(site, "nvidia", "cu13", "lib")
	for _, d := range []string{lib, filepath.Join(venv, "bin"), filepath.Join(root, "sys", "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	python := filepath.Join(root, "sys", "bin", "python3.12")
	if err := os.WriteFile(python, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(python, filepath.Join(venv, "bin", "python3")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Join(venv, "bin"))
	env := OSEnv()
	env.Getenv = func(string) string { return "" }
	env.Home = ""
	want := filepath.Join(lib, "libnvrtc.so.13")
	if got := Candidates(&NVRTC, env); !slices.Contains(got, want) {
		t.Errorf("candidates lack %s:\n%q", want, got)
	}
	if sites := sitePackages(env); len(sites) == 0 || sites[0] != site {
		t.Errorf("site-packages %q, want %s first", sites, site)
	}
}

// The driver ships with the kernel module: only the loader's search, the
// explicit folders and the folders where containers and WSL mount it are
// tried, never toolkit or pip folders.
func TestDriverCandidates(t *testing.T) {
	env := fakeEnv(map[string]string{"CUDA_HOME": "/cuda-home", "VIRTUAL_ENV": "/venv"},
		[]string{"/usr/local/cuda-12.4", "/venv/lib/python3.12/site-packages/nvidia/cu13/lib"}, "", nil)
	got := Candidates(&Driver, env)
	want := []string{"libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/local/nvidia/lib/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1"}
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
