package mnist

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineProgress(t *testing.T) {
	tests := []struct {
		name   string
		total  int64
		writes []int
		ok     bool
		want   []string
	}{
		{"known size", 100, []int{10, 20, 30, 40}, true, []string{
			"mnist: downloading f (100 B)",
			"mnist: f:  30% (30 B of 100 B)",
			"mnist: f:  60% (60 B of 100 B)",
			"mnist: f: done, 100 B",
		}},
		{"one big write", 100, []int{100}, true, []string{
			"mnist: downloading f (100 B)",
			"mnist: f: done, 100 B",
		}},
		{"unknown size", -1, []int{3 << 20, 3 << 20, 3 << 20}, true, []string{
			"mnist: downloading f",
			"mnist: f: 6.3 MB",
			"mnist: f: 9.4 MB",
			"mnist: f: done, 9.4 MB",
		}},
		{"failure", 2e6, []int{1e6}, false, []string{
			"mnist: downloading f (2.0 MB)",
			"mnist: f:  50% (1.0 MB of 2.0 MB)",
			"mnist: f: failed after 1.0 MB",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newProgress(&out, "f", tc.total)
			for _, n := range tc.writes {
				p.Write(make([]byte, n))
			}
			p.finish(tc.ok)
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSilentProgress(t *testing.T) {
	p := newProgress(nil, "f", 10)
	if n, err := p.Write(make([]byte, 10)); n != 10 || err != nil {
		t.Errorf("Write = %d, %v", n, err)
	}
	p.finish(true)
}
