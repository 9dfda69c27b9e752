package export

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// checkScript runs ONNX's own checker with full_check, which adds its
// shape inference: every node's inputs and attributes against the opset's
// schemas, and the output shape (N, 10) inferred from the input's.
const checkScript = `
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
dims = [d.dim_param or d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim]
print("ok", onnx.__version__, dims)
`

// TestONNXPassesTheONNXChecker: the reference implementation of the format
// (Debian's python3-onnx; .ci/run installs it) accepts the file.
func TestONNXPassesTheONNXChecker(t *testing.T) {
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import onnx").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with the onnx module (apt-get install python3-onnx)")
	}
	spec, values := plausibleValues(t, 5)
	var buf bytes.Buffer
	if err := WriteONNX(&buf, spec, values, map[string]string{"kernel": "5"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", checkScript, path).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "['N', 10]") {
		t.Errorf("inferred output shape: %s", out)
	}
	t.Logf("%s", out)
}
