package testfiles

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// recorder is a testing.TB that keeps its failures instead of stopping the
// test, so the helpers' own failures can be checked.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNamesAndTemps(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.csv"), "")
	write(t, filepath.Join(dir, "a.png"), "")
	if got := Names(t, dir); !reflect.DeepEqual(got, []string{"a.png", "b.csv"}) {
		t.Fatalf("Names = %v, want [a.png b.csv]", got)
	}
	r := &recorder{TB: t}
	AssertNoTemps(r, dir)
	if r.failed {
		t.Fatal("AssertNoTemps failed on a directory without temporaries")
	}
	for _, temp := range []string{".b.csv.123", "a.png.tmp"} {
		write(t, filepath.Join(dir, temp), "")
		r := &recorder{TB: t}
		AssertNoTemps(r, dir)
		if !r.failed {
			t.Errorf("AssertNoTemps passed with %s in the directory", temp)
		}
		os.Remove(filepath.Join(dir, temp))
	}
}

func TestReadCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.csv")
	write(t, path, "step,loss\n1,2.5\n2,\"1,5\"\n")
	want := [][]string{{"step", "loss"}, {"1", "2.5"}, {"2", "1,5"}}
	if got := ReadCSV(t, path); !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadCSV = %q, want %q", got, want)
	}
}
