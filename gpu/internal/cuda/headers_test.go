package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// scripts/check_headers.py, run on a made-up include folder: every function
// of symbols.h declared, the algorithm-result structs as ours, and one enum
// value wrong, then right. It must find the symbols.h list, count the wrong
// value as the one problem (exit 1) and pass once it is fixed.
func TestCheckHeadersScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here")
	}
	src, err := os.ReadFile("symbols.h")
	if err != nil {
		t.Fatal(err)
	}
	var h strings.Builder
	for _, m := range regexp.MustCompile(`(?m)^MG_SYMBOL\(\w+, (\w+)\)`).FindAllStringSubmatch(string(src), -1) {
		h.WriteString("int " + strings.TrimSuffix(m[1], "_v2") + "(int a);\n")
		if strings.HasSuffix(m[1], "_v2") {
			h.WriteString("#define " + strings.TrimSuffix(m[1], "_v2") + " " + m[1] + "\n")
		}
	}
	for _, kind := range []string{"Fwd", "BwdData", "BwdFilter"} {
		h.WriteString("typedef struct cudnnConvolution" + kind + "AlgoPerfStruct {\n int algo; int status; float time; size_t memory;\n" +
			" int determinism; int mathType; int reserved[3];\n} x;\n")
	}
	dir := t.TempDir()
	script := filepath.Join("..", "..", "..", "scripts", "check_headers.py")
	for _, c := range []struct {
		fma      string
		fails    bool
		wantText string
	}{{"2", true, "CUDNN_FMA_MATH = 3: MISMATCH: header says 2"}, {"3", false, "0 problem(s)"}} {
		text := h.String() + "typedef enum { CUDNN_DEFAULT_MATH = 0, CUDNN_FMA_MATH = " + c.fma + " } m;\n"
		if err := os.WriteFile(filepath.Join(dir, "cudnn.h"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(python, script, dir).CombinedOutput()
		if (err != nil) != c.fails || !strings.Contains(string(out), c.wantText) || strings.Contains(string(out), "NOT FOUND") {
			t.Errorf("CUDNN_FMA_MATH = %s: err %v, output:\n%s", c.fma, err, out)
		}
	}
}
