package mnist

import (
	"os"
	"testing"
)

// TestFetchRealMNIST downloads and checks the real files. It needs the
// network, so it runs only with MNIST_NETWORK_TEST=1; MNIST_DIR keeps the
// files somewhere reusable instead of a temporary directory.
func TestFetchRealMNIST(t *testing.T) {
	if os.Getenv("MNIST_NETWORK_TEST") != "1" {
		t.Skip("set MNIST_NETWORK_TEST=1 to download the real MNIST files")
	}
	dir := os.Getenv("MNIST_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if _, _, err := Ensure(t.Context(), dir, FetchOptions{Progress: os.Stderr}); err != nil {
		t.Fatal(err)
	}
	train, test, err := Verify(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 {
		t.Errorf("loaded %d train and %d test images, want 60000 and 10000", train.N, test.N)
	}
	// Every digit is well represented in the real data; a mislabelled or
	// mis-sliced file would not look like this.
	var counts [10]int
	for _, l := range train.Labels {
		counts[l]++
	}
	for d, c := range counts {
		if c < 5000 {
			t.Errorf("digit %d appears %d times in train, want at least 5000", d, c)
		}
	}
	t.Logf("train %d x %dx%d, test %d, digit counts %v", train.N, train.Rows, train.Cols, test.N, counts)
}
