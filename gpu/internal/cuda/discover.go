// Package cuda is the raw layer of the GPU backend: it finds the NVIDIA
// libraries at run time, opens them with dlopen, resolves the few functions
// mnistgpu uses with dlsym and calls them through small C wrappers. Nothing
// is linked at build time and no CUDA header is needed: the types, enum
// values and signatures are declared here from the vendors' API references.
// Every failing call becomes an *Error naming the call and carrying the
// library's own message.
package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// LibDirsEnv names folders searched before anything else, separated by ':'.
const LibDirsEnv = "MNISTGPU_CUDA_LIBS"

// RequireEnv set to 1 turns the GPU tests' skips (no library found, no GPU)
// into failures: on the GPU machine a skipped parity test would read as a
// pass.
const RequireEnv = "MNISTGPU_REQUIRE_GPU"

// Required reports whether RequireEnv is set to 1.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Library describes one NVIDIA library: the file names to try, newest
// first, and what to tell a user who does not have it.
type Library struct {
	Name    string
	Sonames []string
	// Companions (file names or glob patterns) are libraries of the same
	// release that the library loads by name at run time (cuDNN 9's
	// sub-libraries, cuBLASLt, NVRTC's builtins); they are preloaded from
	// the folder the library was found in, so that a folder outside the
	// loader's search path works.
	Companions []string
	// Driver libraries are only found where the loader looks (the driver
	// installs them system-wide), never in toolkit or Python folders.
	Driver bool
	Hint   string
}

var (
	Driver = Library{Name: "CUDA driver", Sonames: []string{"libcuda.so.1"}, Driver: true,
		Hint: "install the NVIDIA driver (libcuda.so.1 ships with it); in a container, run with the GPU passed through"}
	CuDNN = Library{Name: "cuDNN", Sonames: []string{"libcudnn.so.9", "libcudnn.so.8"},
		Companions: []string{"libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9",
			"libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9",
			"libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8", "libcudnn_cnn_infer.so.8", "libcudnn_cnn_train.so.8"},
		Hint: "pip install nvidia-cudnn-cu13 (or -cu12), or install cuDNN 9 from NVIDIA, or set " + LibDirsEnv + " to the folder holding libcudnn.so.9"}
	CuBLAS = Library{Name: "cuBLAS", Sonames: []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"},
		Companions: []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"},
		Hint:       "pip install nvidia-cublas (CUDA 13; nvidia-cublas-cu12 for 12), or install the CUDA toolkit, or set " + LibDirsEnv + " to the folder holding libcublas.so.13 (or .12)"}
	NVRTC = Library{Name: "NVRTC", Sonames: []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"},
		// NVRTC opens its builtins (libnvrtc-builtins.so.12.4, ...) by name at compile time.
		Companions: []string{"libnvrtc-builtins.so.*"},
		Hint:       "pip install nvidia-cuda-nvrtc (CUDA 13; nvidia-cuda-nvrtc-cu12 for 12), or install the CUDA toolkit, or set " + LibDirsEnv + " to the folder holding libnvrtc.so.13 (or .12)"}
)

// Libraries lists the four libraries the backend needs, in load order:
// cuBLAS (with cuBLASLt) before cuDNN, whose engines may use cuBLASLt.
var Libraries = []*Library{&Driver, &CuBLAS, &CuDNN, &NVRTC}

// SearchEnv is what candidate search reads from the environment; tests
// replace it.
type SearchEnv struct {
	Getenv   func(string) string
	Glob     func(string) ([]string, error)
	LookPath func(string) (string, error) // finds python3 on PATH
	Resolve  func(string) (string, error) // follows symbolic links
	Home     string
}

// OSEnv reads the real environment.
func OSEnv() SearchEnv {
	home, _ := os.UserHomeDir()
	return SearchEnv{Getenv: os.Getenv, Glob: filepath.Glob, LookPath: exec.LookPath, Resolve: filepath.EvalSymlinks, Home: home}
}

// Candidates lists what to hand to dlopen for lib, in order. First the
// folders in MNISTGPU_CUDA_LIBS, each with every release the library has
// (the user's choice wins). Then one release at a time, newest first, in
// every place: the bare name (the loader's own search: LD_LIBRARY_PATH, the
// ldconfig cache), $CUDA_HOME and $CUDA_PATH, /usr/local/cuda*, and the
// nvidia/*/lib folders of Python site-packages, where pip-installed PyTorch
// keeps cuDNN, cuBLAS and NVRTC (CUDA 13 wheels share nvidia/cu13/lib).
// Releases outside, folders inside: with CUDA 12 and 13 libraries both on
// the machine, every library comes from 13, never cuBLAS 12 beside NVRTC 13
// because its folder happened to come first.
func Candidates(lib *Library, env SearchEnv) []string {
	var out []string
	add := func(p string) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, d := range filepath.SplitList(env.Getenv(LibDirsEnv)) {
		for _, name := range lib.Sonames {
			add(filepath.Join(d, name))
		}
	}
	dirs := searchDirs(lib, env)
	for _, name := range lib.Sonames {
		add(name)
		for _, d := range dirs {
			add(filepath.Join(d, name))
		}
	}
	return out
}

// searchDirs lists the folders searched after the loader's own search.
func searchDirs(lib *Library, env SearchEnv) []string {
	if lib.Driver {
		// Containers with the GPU passed through mount the driver under
		// /usr/local/nvidia (read-only), WSL under /usr/lib/wsl/lib; both are
		// usually, not always, on the loader's path.
		return []string{"/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib"}
	}
	var toolkits, dirs []string
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if root := env.Getenv(v); root != "" {
			toolkits = append(toolkits, root)
		}
	}
	toolkits = append(toolkits, newestFirst(env.glob("/usr/local/cuda*"))...)
	for _, root := range toolkits {
		dirs = append(dirs, filepath.Join(root, "lib64"), filepath.Join(root, "lib"), filepath.Join(root, "targets", "x86_64-linux", "lib"))
	}
	for _, site := range sitePackages(env) {
		dirs = append(dirs, newestFirst(env.glob(filepath.Join(site, "nvidia", "*", "lib")))...)
	}
	return dirs
}

// sitePackages lists the Python package folders worth looking in: the
// active virtualenv or conda environment, the environment of the python3
// found on PATH (a virtualenv used without activation, as on machines that
// put /opt/torch/.venv/bin first on PATH), then per-user, pyenv and system
// installs.
func sitePackages(env SearchEnv) []string {
	var roots []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if root := env.Getenv(v); root != "" {
			roots = append(roots, root)
		}
	}
	roots = append(roots, pythonPrefixes(env)...)
	if env.Home != "" {
		roots = append(roots, filepath.Join(env.Home, ".local"))
		roots = append(roots, env.glob(filepath.Join(env.Home, ".pyenv", "versions", "*"))...)
		roots = append(roots, filepath.Join(env.Home, "miniconda3"), filepath.Join(env.Home, "anaconda3"))
	}
	roots = append(roots, "/opt/conda", "/usr/local", "/usr")
	var sites []string
	for _, root := range roots {
		for _, kind := range []string{"site-packages", "dist-packages"} {
			for _, s := range newestFirst(env.glob(filepath.Join(root, "lib", "python3*", kind))) {
				if !slices.Contains(sites, s) {
					sites = append(sites, s)
				}
			}
		}
	}
	return sites
}

// pythonPrefixes derives installation prefixes from the python3 on PATH
// without running it: the folder above its bin/ as found (a virtualenv's
// python3 is a link to the system's, so the link itself names the
// environment), then the same for the file the link points to.
func pythonPrefixes(env SearchEnv) []string {
	if env.LookPath == nil {
		return nil
	}
	path, err := env.LookPath("python3")
	if err != nil {
		return nil
	}
	prefixes := []string{filepath.Dir(filepath.Dir(path))}
	if env.Resolve == nil {
		return prefixes
	}
	if real, err := env.Resolve(path); err == nil {
		if p := filepath.Dir(filepath.Dir(real)); p != prefixes[0] {
			prefixes = append(prefixes, p)
		}
	}
	return prefixes
}

func (env SearchEnv) glob(pattern string) []string {
	matches, err := env.Glob(pattern)
	if err != nil {
		return nil
	}
	return matches
}

// newestFirst sorts version-named folders (cuda-12.4, python3.12) so that
// the highest version comes first; it compares numbers numerically.
func newestFirst(paths []string) []string {
	sort.SliceStable(paths, func(i, j int) bool { return versionLess(paths[j], paths[i]) })
	return paths
}

func versionLess(a, b string) bool {
	fa, fb := strings.FieldsFunc(a, notDigit), strings.FieldsFunc(b, notDigit)
	for k := 0; k < len(fa) && k < len(fb); k++ {
		if len(fa[k]) != len(fb[k]) {
			return len(fa[k]) < len(fb[k])
		}
		if fa[k] != fb[k] {
			return fa[k] < fb[k]
		}
	}
	if len(fa) != len(fb) {
		return len(fa) < len(fb)
	}
	return a < b
}

func notDigit(r rune) bool { return r < '0' || r > '9' }
