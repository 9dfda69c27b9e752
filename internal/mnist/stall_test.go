package mnist

import (
	"bytes"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// trickle promises all of data but sends 10 bytes every 20 ms (500 B/s),
// as a misbehaving proxy that keeps the connection alive does.
func trickle(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		for sent := 0; sent < len(data); sent += 10 {
			if _, err := w.Write(data[sent:min(sent+10, len(data))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// A download that trickled bytes was given the client's whole 10 minutes.
// Now too few bytes in a window give it up as stalled, and the next
// source is tried.
func TestFetchStalled(t *testing.T) {
	files, sums := fakeFiles(t)
	for _, kind := range []string{"proxy", "mirror"} {
		t.Run(kind, func(t *testing.T) {
			srv := newTestServer(t)
			src := srv.proxy()
			if kind == "proxy" {
				srv.mux.Handle("/proxy"+zipPath, trickle(moduleZip(t, files)))
			} else {
				src = srv.mirror()
				for name, data := range files {
					srv.mux.Handle("/mirror/"+name, trickle(data))
				}
			}
			opts := srv.opts(src)
			opts.StallWindow, opts.StallBytes = 200*time.Millisecond, 4096
			dir := t.TempDir()
			start := time.Now()
			err := within(t, 10*time.Second, "a stalled fetch", func() error { return fetch(t.Context(), dir, opts, sums) })
			var fe *FetchError
			if !errors.As(err, &fe) || !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "stalled") {
				t.Fatalf("fetch = %v, want a FetchError saying the download stalled", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("gave up after %v, want within a few windows of 200ms", d)
			}
			testfiles.AssertNoTemps(t, dir)
		})
	}
	t.Run("next source", func(t *testing.T) {
		srv := newTestServer(t)
		srv.mux.Handle("/proxy"+zipPath, trickle(moduleZip(t, files)))
		srv.serveMirror(files)
		opts := srv.opts(srv.proxy(), srv.mirror())
		opts.StallWindow, opts.StallBytes = 200*time.Millisecond, 4096
		var log bytes.Buffer
		opts.Progress = &log
		dir := t.TempDir()
		if err := fetch(t.Context(), dir, opts, sums); err != nil {
			t.Fatal(err)
		}
		assertFiles(t, dir, files)
		if !strings.Contains(log.String(), "stalled") {
			t.Errorf("the log does not say the proxy stalled:\n%s", log.String())
		}
	})
}

// A URL's user information (a password, or a token as the user name) never
// reaches a message: not the error, not the progress log.
func TestFetchRedactsUserInfo(t *testing.T) {
	_, sums := fakeFiles(t)
	srv := newTestServer(t) // serves nothing: every request is a 404
	withUser := func(u, base string) string { return strings.Replace(base, "https://", "https://"+u+"@", 1) }
	sources := []Source{
		ProxySource(withUser("alice:s3cret", srv.URL) + "/proxy"),
		MirrorSource(withUser("tok3n", srv.URL) + "/mirror/"),
		MirrorSource("http://bob:hunter2@127.0.0.1:1/mirror/"),    // connection refused
		MirrorSource("http://carol:pa55@[::1]:namedport/mirror/"), // does not parse
	}
	var log bytes.Buffer
	opts := srv.opts(sources...)
	opts.Progress = &log
	err := fetch(t.Context(), t.TempDir(), opts, sums)
	if err == nil {
		t.Fatal("fetch from sources that serve nothing succeeded")
	}
	all := err.Error() + "\n" + log.String()
	for _, secret := range []string{"s3cret", "tok3n", "hunter2", "pa55"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q appears in a message:\n%s", secret, all)
		}
	}
	for _, shown := range []string{"alice:xxxxx@", "xxxxx@127.0.0.1", "bob:xxxxx@"} {
		if !strings.Contains(all, shown) {
			t.Errorf("messages lack %q:\n%s", shown, all)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://proxy.example/":            "https://proxy.example/",
		"https://u:p@proxy.example/x":       "https://u:xxxxx@proxy.example/x",
		"https://token@proxy.example/x":     "https://xxxxx@proxy.example/x",
		"http://u:p@[::1]:bad/":             "(a URL that does not parse; not shown, it may hold a password)",
		"not a url at all":                  "not a url at all",
		filepath.Join("relative", "folder"): filepath.Join("relative", "folder"),
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
