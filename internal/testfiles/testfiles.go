// Package testfiles holds the checks that several packages' tests make on
// the files a command or a writer leaves behind.
package testfiles

import (
	"encoding/csv"
	"os"
	"strings"
	"testing"
)

// Names lists every name in dir, sorted, hidden temporaries included, so
// tests can assert that nothing partial was left behind.
func Names(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// AssertNoTemps fails on any hidden or .tmp entry left in dir.
func AssertNoTemps(tb testing.TB, dir string) {
	tb.Helper()
	for _, name := range Names(tb, dir) {
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") {
			tb.Errorf("temporary file %s left in %s", name, dir)
		}
	}
}

// ReadCSV reads a whole CSV file whose records all have the header's
// number of fields.
func ReadCSV(tb testing.TB, path string) [][]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return rows
}
