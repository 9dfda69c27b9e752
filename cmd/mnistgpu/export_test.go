package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx"
	"github.com/nlpodyssey/safetensors"

	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// TestExport writes both formats from a checkpoint and reads them back with
// their own libraries; the numbers are checked in internal/export.
func TestExport(t *testing.T) {
	ckpt := writeCheckpoint(t, 5)
	dir := t.TempDir()
	for _, format := range []string{"onnx", "safetensors"} {
		out := filepath.Join(dir, "model."+format)
		r := mnistgpu(t, nil, "", "export", "--checkpoint", ckpt, "--format", format, "--out", out)
		if r.code != 0 {
			t.Fatalf("export %s: %s", format, r)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		switch format {
		case "onnx":
			mp, err := gonnx.ModelProtoFromBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(mp.GetGraph().GetInitializer()); got != 32 {
				t.Errorf("%d initializers, want 32", got)
			}
			if got := mp.GetMetadataProps(); len(got) == 0 {
				t.Errorf("no metadata")
			}
		case "safetensors":
			st, err := safetensors.Deserialize(data)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := st.Tensor("3.conv1.weight"); !ok || len(v.Shape()) != 4 || v.Shape()[2] != 5 {
				t.Errorf("3.conv1.weight: %v %v", ok, v.Shape())
			}
		}
	}
	testfiles.AssertNoTemps(t, dir)
}

func TestExportBadInput(t *testing.T) {
	good := writeCheckpoint(t, 3)
	corrupt := filepath.Join(t.TempDir(), "model.ckpt")
	data, _ := os.ReadFile(good)
	data[len(data)/2] ^= 1
	if err := os.WriteFile(corrupt, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"corrupt checkpoint", []string{"--checkpoint", corrupt, "--format", "onnx", "--out", filepath.Join(dir, "m.onnx")}, []string{corrupt, "checksum mismatch"}},
		{"no such directory", []string{"--checkpoint", good, "--format", "onnx", "--out", filepath.Join(dir, "none", "m.onnx")}, []string{"no directory"}},
		{"out is a directory", []string{"--checkpoint", good, "--format", "safetensors", "--out", dir}, []string{"not a regular file"}},
		{"unknown format", []string{"--checkpoint", good, "--format", "pickle", "--out", filepath.Join(dir, "m.pt")}, []string{"--format", "pickle"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mnistgpu(t, nil, "", append([]string{"export"}, c.args...)...)
			wantOneError(t, r, c.want...)
		})
	}
	if names := testfiles.Names(t, dir); len(names) != 0 {
		t.Errorf("failed exports left %v", names)
	}
}
