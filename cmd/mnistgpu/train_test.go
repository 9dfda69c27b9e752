package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/checkpoint"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// tinyTrain is three steps of batch 64 with the test loss after each one.
func tinyTrain(dataDir, out string, extra ...string) []string {
	return append([]string{"train", "--device", "cpu", "--kernel", "3", "--epochs", "1",
		"--limit-train", "192", "--limit-test", "64", "--batch-size", "64",
		"--test-every", "1", "--eval-batch", "32", "--out", out, "--data-dir", dataDir}, extra...)
}

// smallest is one step and no final pass over the training set: for tests
// about the device rather than the results.
func smallest(device, dataDir, out string) []string {
	return []string{"train", "--device", device, "--epochs", "1", "--limit-train", "32", "--limit-test", "32",
		"--batch-size", "32", "--test-every", "0", "--eval-batch", "32", "--skip-train-eval",
		"--out", out, "--data-dir", dataDir}
}

// customDataWarning is the one line a run on non-MNIST files prints.
func wantCustomDataWarning(t *testing.T, r result, dir string) {
	t.Helper()
	var warnings []string
	for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if strings.HasPrefix(l, "mnistgpu: warning:") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], dir) || !strings.Contains(warnings[0], "sha256") {
		t.Errorf("want one warning line naming %s and sha256:\n%v", dir, r)
	}
}

func parseFloat(t *testing.T, where, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("%s: %q is not a finite number", where, s)
	}
	return v
}

func readSummary(t *testing.T, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	return s
}

// number is a summary.json field that must be a finite number.
func number(t *testing.T, s map[string]any, key string) float64 {
	t.Helper()
	v, ok := s[key].(float64)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("summary.json %s = %v (%T), want a number", key, s[key], s[key])
	}
	return v
}

func TestTrainEndToEnd(t *testing.T) {
	data := synthDir(t)
	before := synthFiles(t)
	out := filepath.Join(t.TempDir(), "run")
	r := mnistgpu(t, nil, "", tinyTrain(data, out)...)
	if r.code != 0 {
		t.Fatalf("train failed:\n%v", r)
	}
	if errs := r.errorLines(); len(errs) != 0 {
		t.Errorf("a successful run printed errors: %q", errs)
	}
	wantCustomDataWarning(t, r, data)
	// Progress and notes on stderr, results on stdout (so `> file` keeps them).
	for _, w := range []string{"training k=3 on cpu", "192 train / 64 test images", "1,219,530 params"} {
		if !strings.Contains(r.stderr, w) || strings.Contains(r.stdout, w) {
			t.Errorf("stderr, and not stdout, should say %q:\n%v", w, r)
		}
	}
	for _, w := range []string{"test:  loss ", "per-class test accuracy:", "outputs: " + out} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "msg=train") {
		t.Errorf("progress lines on stdout:\n%s", r.stdout)
	}
	// The custom files were used as they are, not replaced by a download.
	for name, want := range before {
		if got, err := os.ReadFile(filepath.Join(data, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed by the run (err %v)", name, err)
		}
	}

	s := readSummary(t, out)
	t.Run("summary.json", func(t *testing.T) {
		for key, want := range map[string]any{
			"kernel": 3.0, "device": "cpu", "epochs": 1.0, "batch_size": 64.0, "seed": 1.0,
			"params_total": 1219530.0, "params_trainable": 1218954.0, "params_non_trainable": 576.0,
			"steps": 3.0, "status": "completed", "train_images": 192.0, "test_images": 64.0,
			"test_every": 1.0, "eval_batch": 32.0, "lr": 0.001,
		} {
			if s[key] != want {
				t.Errorf("%s = %v, want %v", key, s[key], want)
			}
		}
		for _, key := range []string{"test_loss", "train_loss", "total_s", "train_s", "eval_s", "images_per_s"} {
			if v := number(t, s, key); v <= 0 {
				t.Errorf("%s = %v, want > 0", key, v)
			}
		}
		for _, key := range []string{"test_acc", "train_acc"} {
			if v := number(t, s, key); v < 0 || v > 1 {
				t.Errorf("%s = %v, want a fraction in 0..1", key, v)
			}
		}
		if total, parts := number(t, s, "total_s"), number(t, s, "train_s")+number(t, s, "eval_s"); parts > total*1.001 {
			t.Errorf("train_s + eval_s = %v exceeds total_s = %v", parts, total)
		}
		per, ok := s["per_class_acc"].([]any)
		if !ok || len(per) != 10 {
			t.Fatalf("per_class_acc = %v, want 10 values", s["per_class_acc"])
		}
	})

	t.Run("metrics.csv", func(t *testing.T) {
		rows := testfiles.ReadCSV(t, filepath.Join(out, "metrics.csv"))
		if got, want := strings.Join(rows[0], ","), "step,epoch,batch_loss,running_loss,running_acc,test_loss,test_acc"; got != want {
			t.Fatalf("header %q, want %q", got, want)
		}
		if len(rows) != 4 {
			t.Fatalf("%d rows after the header, want 3 (192 images / batch 64)", len(rows)-1)
		}
		var sum float64
		for i, row := range rows[1:] {
			where := fmt.Sprintf("metrics.csv row %d", i+1)
			if row[0] != strconv.Itoa(i+1) || row[1] != "1" {
				t.Errorf("%s: step,epoch = %s,%s, want %d,1", where, row[0], row[1], i+1)
			}
			batch := parseFloat(t, where+" batch_loss", row[2])
			sum += batch
			// Equal batches: the running loss is the mean of the batch losses so far.
			if running := parseFloat(t, where+" running_loss", row[3]); math.Abs(running-sum/float64(i+1)) > 1e-6*running {
				t.Errorf("%s: running_loss %v, want the mean of the batch losses %v", where, running, sum/float64(i+1))
			}
			if acc := parseFloat(t, where+" running_acc", row[4]); acc < 0 || acc > 1 {
				t.Errorf("%s: running_acc %v outside 0..1", where, acc)
			}
			if test := parseFloat(t, where+" test_loss", row[5]); test <= 0 {
				t.Errorf("%s: test_loss %v, want > 0", where, test)
			}
			// An accuracy over the 64 test images: a whole number of them.
			if acc := parseFloat(t, where+" test_acc", row[6]); acc < 0 || acc > 1 || math.Abs(acc*64-math.Round(acc*64)) > 1e-9 {
				t.Errorf("%s: test_acc %v is not a count of 64 test images", where, acc)
			}
		}
		if last := parseFloat(t, "last test_loss", rows[3][5]); last != number(t, s, "test_loss") {
			t.Errorf("last row's test_loss %v differs from summary.json test_loss %v", last, number(t, s, "test_loss"))
		}
		if last := parseFloat(t, "last test_acc", rows[3][6]); last != number(t, s, "test_acc") {
			t.Errorf("last row's test_acc %v differs from summary.json test_acc %v", last, number(t, s, "test_acc"))
		}
	})

	t.Run("class_accuracy.csv", func(t *testing.T) {
		rows := testfiles.ReadCSV(t, filepath.Join(out, "class_accuracy.csv"))
		if len(rows) != 2 {
			t.Fatalf("%d rows, want a header and one row", len(rows))
		}
		per := s["per_class_acc"].([]any)
		for i := range 10 {
			if rows[0][i] != fmt.Sprintf("Class %d", i) {
				t.Errorf("column %d is %q, want \"Class %d\"", i, rows[0][i], i)
			}
			if want := fmt.Sprintf("%.4f", per[i]); rows[1][i] != want {
				t.Errorf("Class %d accuracy %q, summary.json says %s", i, rows[1][i], want)
			}
		}
	})

	t.Run("confusion_matrix.csv", func(t *testing.T) {
		rows := testfiles.ReadCSV(t, filepath.Join(out, "confusion_matrix.csv"))
		if len(rows) != 11 || len(rows[0]) != 11 {
			t.Fatalf("%d rows of %d columns, want 11 x 11 (header + 10 classes)", len(rows), len(rows[0]))
		}
		total, diagonal := 0, 0
		for i, row := range rows[1:] {
			if row[0] != strconv.Itoa(i) {
				t.Errorf("row %d is labelled %q", i, row[0])
			}
			for j, cell := range row[1:] {
				n, err := strconv.Atoi(cell)
				if err != nil || n < 0 {
					t.Fatalf("cell (%d,%d) = %q, want a count", i, j, cell)
				}
				total += n
				if i == j {
					diagonal += n
				}
			}
		}
		if total != 64 {
			t.Errorf("confusion matrix holds %d images, want 64", total)
		}
		if acc := float64(diagonal) / float64(total); math.Abs(acc-number(t, s, "test_acc")) > 1e-12 {
			t.Errorf("accuracy from the matrix %v, summary.json test_acc %v", acc, s["test_acc"])
		}
	})

	t.Run("figures", func(t *testing.T) {
		for _, name := range []string{"loss_curves.png", "class_accuracy.png"} {
			f, err := os.Open(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 150 {
				t.Errorf("%s is %dx%d, too small for a figure", name, b.Dx(), b.Dy())
			}
		}
	})

	t.Run("model.ckpt", func(t *testing.T) {
		f, err := os.Open(filepath.Join(out, "model.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		h, values, err := checkpoint.Read(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		spec, err := checkpoint.Check(h)
		if err != nil {
			t.Fatal(err)
		}
		if spec.Config.Kernel != 3 || len(values) != len(spec.Params) {
			t.Errorf("checkpoint is k=%d with %d tensors, want k=3 with %d", spec.Config.Kernel, len(values), len(spec.Params))
		}
		if h.Meta["status"] != "completed" || h.Meta["device"] != "cpu" {
			t.Errorf("checkpoint meta = %v, want status completed on cpu", h.Meta)
		}
	})

	t.Run("no temporaries", func(t *testing.T) {
		testfiles.AssertNoTemps(t, out)
		want := "class_accuracy.csv class_accuracy.png confusion_matrix.csv loss_curves.png metrics.csv model.ckpt summary.json"
		if got := strings.Join(testfiles.Names(t, out), " "); got != want {
			t.Errorf("output folder holds %s, want %s", got, want)
		}
	})

	t.Run("eval", func(t *testing.T) {
		ckpt := filepath.Join(out, "model.ckpt")
		r := mnistgpu(t, nil, "", "eval", "--checkpoint", ckpt, "--data-dir", data, "--device", "cpu",
			"--limit-test", "64", "--eval-batch", "32")
		if r.code != 0 {
			t.Fatalf("eval failed:\n%v", r)
		}
		wantCustomDataWarning(t, r, data)
		want := fmt.Sprintf("test: loss %.4f  accuracy %.2f%%  (64 images, inference mode)",
			number(t, s, "test_loss"), 100*number(t, s, "test_acc"))
		if !strings.Contains(r.stdout, want) {
			t.Errorf("eval does not report the run's test result %q:\n%s", want, r.stdout)
		}
		if !strings.Contains(r.stdout, "(k=3) on cpu") {
			t.Errorf("eval does not say k=3 on cpu:\n%s", r.stdout)
		}
	})

	t.Run("eval --json", func(t *testing.T) {
		r := mnistgpu(t, nil, "", "eval", "--checkpoint", filepath.Join(out, "model.ckpt"), "--data-dir", data, "--device", "cpu",
			"--limit-test", "64", "--eval-batch", "32", "--json")
		if r.code != 0 {
			t.Fatalf("eval --json failed:\n%v", r)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("eval --json stdout is not one JSON object: %v\n%s", err, r.stdout)
		}
		// The same numbers as the run's own final test pass, to the bit.
		for _, key := range []string{"test_loss", "test_acc", "kernel"} {
			if a, b := number(t, got, key), number(t, s, key); a != b {
				t.Errorf("eval --json %s = %v, the run's summary.json says %v", key, a, b)
			}
		}
		if n := number(t, got, "test_images"); n != 64 {
			t.Errorf("test_images %v, want 64", n)
		}
		rows, ok := got["confusion"].([]any)
		total := 0.0
		for _, row := range rows {
			for _, v := range row.([]any) {
				total += v.(float64)
			}
		}
		if !ok || len(rows) != 10 || total != 64 {
			t.Errorf("confusion: %d rows counting %v images, want 10 rows counting 64", len(rows), total)
		}
		if pc, _ := got["per_class_acc"].([]any); len(pc) != 10 {
			t.Errorf("per_class_acc has %d entries, want 10", len(pc))
		}
	})

	t.Run("determinism", func(t *testing.T) {
		first, err := os.ReadFile(filepath.Join(out, "metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		again := filepath.Join(t.TempDir(), "again")
		if r := mnistgpu(t, nil, "", tinyTrain(data, again)...); r.code != 0 {
			t.Fatalf("second run failed:\n%v", r)
		}
		second, err := os.ReadFile(filepath.Join(again, "metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Errorf("same seed, different metrics.csv:\n%s\nvs\n%s", first, second)
		}
		other := filepath.Join(t.TempDir(), "seed2")
		if r := mnistgpu(t, nil, "", tinyTrain(data, other, "--seed", "2")...); r.code != 0 {
			t.Fatalf("--seed 2 run failed:\n%v", r)
		}
		third, err := os.ReadFile(filepath.Join(other, "metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(first, third) {
			t.Errorf("--seed 1 and --seed 2 gave identical metrics.csv; the seed is ignored")
		}
	})
}

func TestDevice(t *testing.T) {
	data := synthDir(t)

	t.Run("auto", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "auto")
		r := mnistgpu(t, nil, "", smallest("auto", data, out)...)
		if r.code != 0 {
			t.Fatalf("--device auto failed:\n%v", r)
		}
		chosen := readSummary(t, out)["device"]
		if !strings.Contains(r.stderr, fmt.Sprintf("device auto: using %s", chosen)) {
			t.Errorf("stderr does not say that auto chose %v (summary.json device):\n%s", chosen, r.stderr)
		}
		if chosen != "cpu" && chosen != "cuda" {
			t.Errorf("auto chose %v", chosen)
		}
	})

	t.Run("cuda", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "cuda")
		r := mnistgpu(t, nil, "", smallest("cuda", data, out)...)
		if r.code == 0 {
			// A machine with a usable GPU: then it must really have run there.
			if d := readSummary(t, out)["device"]; d != "cuda" {
				t.Errorf("--device cuda succeeded but summary.json says device %v", d)
			}
			return
		}
		errs := r.errorLines()
		if len(errs) != 1 || !strings.Contains(errs[0], "cuda") {
			t.Fatalf("want one error line about cuda:\n%v", r)
		}
		// The command line was fine; the machine lacks what it asked for.
		if r.code != exitFailure {
			t.Errorf("exit %d, want %d (a run error, not a usage error)", r.code, exitFailure)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("a run that could not start its device created %s", out)
		}
	})
}

// writeCheckpoint saves a k-sized model of random weights the way train does.
func writeCheckpoint(t *testing.T, k int) string {
	t.Helper()
	spec, err := model.Declare(model.Config{Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(k), 3))
	values := map[string][]float32{}
	for _, p := range spec.Params {
		v := make([]float32, p.Size())
		for i := range v {
			v[i] = float32(rng.NormFloat64()) * 0.05
		}
		values[p.Name] = v
	}
	var buf bytes.Buffer
	if err := checkpoint.Write(&buf, spec, values, map[string]any{"status": "completed"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.ckpt")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// craftedCheckpoint lays out a checkpoint around header with a valid CRC
// and no tensor data, as a hostile file would.
func craftedCheckpoint(header string) []byte {
	b := []byte("MNISTGPU")
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestEvalBadCheckpoint(t *testing.T) {
	good, err := os.ReadFile(writeCheckpoint(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"flipped byte", func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 0x40; return b }(), "checksum mismatch"},
		{"truncated", good[:len(good)-1000], "not a valid checkpoint"},
		{"empty", nil, "signature"},
		{"not a checkpoint", []byte("step,epoch,batch_loss\n1,1,2.30\n"), "signature"},
		// Once a panic in make: the shape's product passes 2^63.
		{"huge shape", craftedCheckpoint(`{"config":{"kernel":3},"tensors":[{"name":"w","shape":[2305843009213693953]}]}`), "more values than the limit"},
	}
	data := synthDir(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "model.ckpt")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			r := mnistgpu(t, nil, "", "eval", "--checkpoint", path, "--data-dir", data, "--device", "cpu")
			// The checkpoint is read before the data, so no data warning either.
			wantOneError(t, r, path, c.want)
		})
	}
}

// Ctrl-C during training stops after the current step, writes what was
// measured, and exits 130.
func TestTrainInterrupt(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "run")
	// 3 epochs of 16 steps (256 images, batch 16) with a test pass every 2
	// steps: over 10 s on two cores if nothing stops it.
	// Progress is logged when the first steps' metrics are read back; only
	// then is there something to save.
	r := interruptAt(t, "msg=train step=", "train", "--device", "cpu", "--epochs", "3",
		"--limit-test", "64", "--batch-size", "16", "--test-every", "2",
		"--eval-batch", "64", "--skip-train-eval", "--out", out, "--data-dir", data)
	if r.code != 130 {
		t.Fatalf("exit %d, want 130:\n%v", r.code, r)
	}
	if errs := r.errorLines(); len(errs) != 1 || !strings.Contains(errs[0], "interrupted") {
		t.Errorf("want one error line saying interrupted:\n%v", r)
	}
	if !strings.Contains(r.stdout, "interrupted after ") {
		t.Errorf("stdout does not say after how many steps it stopped:\n%s", r.stdout)
	}

	s := readSummary(t, out)
	if s["status"] != "interrupted" {
		t.Errorf("summary.json status = %v, want interrupted", s["status"])
	}
	steps := int(number(t, s, "steps"))
	if steps < 2 || steps >= 3*synthTrainN/16 {
		t.Errorf("summary.json steps = %d, want at least the 2 logged and fewer than all %d", steps, 3*synthTrainN/16)
	}
	if s["test_loss"] != nil {
		t.Errorf("summary.json test_loss = %v; the final evaluation never ran, want null", s["test_loss"])
	}
	rows := testfiles.ReadCSV(t, filepath.Join(out, "metrics.csv"))
	if len(rows)-1 != steps {
		t.Errorf("metrics.csv has %d rows, summary.json says %d steps", len(rows)-1, steps)
	}
	for _, name := range []string{"loss_curves.png", "model.ckpt"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("an interrupted run did not keep %s: %v", name, err)
		}
	}
	testfiles.AssertNoTemps(t, out)
}
