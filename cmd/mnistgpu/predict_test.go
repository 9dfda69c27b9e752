package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
)

// glyphSplit is n MNIST-format images (bright on black, the shape in a
// 20x20 box centred by mass, jittered by a pixel) of ten shapes a preprocessing
// round trip must keep apart: a ring, bars, diagonals, a cross, a plus, a
// broken "T", a disk and a "7". Labels cycle 0..9.
func glyphSplit(n int, seed uint64) (pixels, labels []byte) {
	rng := rand.New(rand.NewPCG(seed, 3))
	side := mnist.Side
	pixels, labels = make([]byte, n*side*side), make([]byte, n)
	for i := range n {
		label := i % 10
		labels[i] = byte(label)
		img := pixels[i*side*side : (i+1)*side*side]
		var glyph [20][20]float64
		var mass, mx, my float64
		w := 1.5 + rng.Float64() // stroke half-width
		for y := range 20 {
			for x := range 20 {
				u, v := float64(x)-9.5, float64(y)-9.5
				r := math.Hypot(u, v)
				on := map[int]bool{
					0: r > 9.5-2*w && r < 9.5,
					1: math.Abs(u) < w,
					2: math.Abs(v) < w,
					3: math.Abs(u-v) < w || math.Abs(u+v) < w,
					4: math.Abs(u) < w || math.Abs(v) < w,
					5: v < -9.5+2*w || (math.Abs(u) < w && v > 0),
					6: r < 9.5,
					7: v < -9.5+2*w || (math.Abs(u+v*0.5-2) < w && v >= -6),
					8: math.Abs(u+v) < w,
					9: math.Abs(u-v) < w,
				}[label]
				if on {
					glyph[y][x] = float64(200 + rng.IntN(56))
					mass += glyph[y][x]
					mx += glyph[y][x] * (float64(x) + 0.5)
					my += glyph[y][x] * (float64(y) + 0.5)
				}
			}
		}
		// As MNIST: the centre of mass at the field's centre, give or take a pixel.
		ox := max(0, min(8, int(math.Round(14-mx/mass))+rng.IntN(3)-1))
		oy := max(0, min(8, int(math.Round(14-my/mass))+rng.IntN(3)-1))
		for y := range 20 {
			for x := range 20 {
				img[(y+oy)*side+x+ox] = byte(glyph[y][x])
			}
		}
	}
	return pixels, labels
}

// glyphDir writes a data set of glyphSplit images and returns its folder.
func glyphDir(t *testing.T) (dir string, testPixels, testLabels []byte) {
	t.Helper()
	trainX, trainY := glyphSplit(640, 1)
	testX, testY := glyphSplit(100, 2)
	side := uint32(mnist.Side)
	dir = writeDataDir(t, filepath.Join(t.TempDir(), "data"), map[string][]byte{
		mnist.TrainImages: idxGz(t, imagesMagic, []uint32{640, side, side}, trainX),
		mnist.TrainLabels: idxGz(t, labelsMagic, []uint32{640}, trainY),
		mnist.TestImages:  idxGz(t, imagesMagic, []uint32{100, side, side}, testX),
		mnist.TestLabels:  idxGz(t, labelsMagic, []uint32{100}, testY),
	})
	return dir, testX, testY
}

// asDrawing is a test image as a user would draw it: scaled up 6x, dark
// blue ink on cream paper, off-centre on a 300x240 canvas.
func asDrawing(pixels []byte) *image.RGBA {
	side := mnist.Side
	img := image.NewRGBA(image.Rect(0, 0, 300, 240))
	for y := range 240 {
		for x := range 300 {
			ink := 0.0
			if sx, sy := (x-120)/6, (y-40)/6; x >= 120 && y >= 40 && sx < side && sy < side {
				ink = float64(pixels[sy*side+sx]) / 255
			}
			mix := func(paper, dark float64) uint8 { return uint8(paper + ink*(dark-paper)) }
			img.Set(x, y, color.RGBA{mix(250, 20), mix(240, 30), mix(220, 120), 255})
		}
	}
	return img
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type predictOutput struct {
	Predictions []struct {
		File          string
		Digit         int
		Probabilities []float64
		Preprocessed  string
	}
	Errors []struct{ File, Error string }
}

// trainGlyphs trains a short run on glyph images (precise BN makes its
// inference-mode accuracy that of its weights) and returns its checkpoint.
func trainGlyphs(t *testing.T, data string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "run")
	r := mnistgpu(t, nil, "", "train", "--device", "cpu", "--epochs", "1", "--batch-size", "16",
		"--test-every", "0", "--eval-batch", "100", "--skip-train-eval", "--precise-bn", "20",
		"--out", out, "--data-dir", data)
	if r.code != 0 {
		t.Fatalf("train failed:\n%v", r)
	}
	s := readSummary(t, out)
	if acc := number(t, s, "precise_bn_test_acc"); acc < 0.95 {
		t.Fatalf("the glyph model's test accuracy is %.2f; the round trip needs a model that knows the glyphs", acc)
	}
	return filepath.Join(out, "model.ckpt")
}

// TestPredictRoundTrip: test images, drawn as a user would (scaled up,
// dark on coloured paper, off-centre) and saved as PNG, are predicted as
// their labels; the saved 28x28 inputs are centred digits.
func TestPredictRoundTrip(t *testing.T) {
	data, testX, testY := glyphDir(t)
	ckpt := trainGlyphs(t, data)
	dir := t.TempDir()
	var args []string
	side := mnist.Side * mnist.Side
	for i := range 10 {
		path := filepath.Join(dir, "digit"+string(rune('0'+testY[i]))+".png")
		writePNG(t, path, asDrawing(testX[i*side:(i+1)*side]))
		args = append(args, path)
	}
	pre := filepath.Join(t.TempDir(), "inputs")
	r := mnistgpu(t, nil, "", append([]string{"predict", "--device", "cpu", "-c", ckpt, "--json", "--save-preprocessed", pre}, args...)...)
	if r.code != 0 {
		t.Fatalf("predict failed:\n%v", r)
	}
	var got predictOutput
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if len(got.Predictions) != 10 || len(got.Errors) != 0 {
		t.Fatalf("%d predictions, %d errors; want 10, 0:\n%s", len(got.Predictions), len(got.Errors), r.stdout)
	}
	for i, p := range got.Predictions {
		sum := 0.0
		for _, v := range p.Probabilities {
			sum += v
		}
		if len(p.Probabilities) != 10 || math.Abs(sum-1) > 1e-6 {
			t.Errorf("%s: %d probabilities summing to %g, want 10 summing to 1", p.File, len(p.Probabilities), sum)
		}
		if p.Digit != int(testY[i]) {
			t.Errorf("%s: predicted %d, label %d (probabilities %.3f)", p.File, p.Digit, testY[i], p.Probabilities)
		}
		f, err := os.Open(p.Preprocessed)
		if err != nil {
			t.Fatalf("%s: the preprocessed input: %v", p.File, err)
		}
		in, err := png.Decode(f)
		f.Close()
		if err != nil || in.Bounds() != image.Rect(0, 0, 28, 28) {
			t.Fatalf("%s: preprocessed input %v (err %v), want a 28x28 PNG", p.Preprocessed, in.Bounds(), err)
		}
	}
	// Text output: one line per image, its digit and the top three.
	r = mnistgpu(t, nil, "", "predict", "--device", "cpu", "-c", ckpt, args[7])
	if line := strings.TrimSpace(r.stdout); r.code != 0 || !strings.HasPrefix(line, args[7]+": 7  (7 ") || strings.Count(line, "%") != 3 {
		t.Errorf("text output %q, want %q then the three most probable digits:\n%v", line, args[7]+": 7  (7 …%, …)", r)
	}
}

// bombPNG is a PNG header declaring w x h pixels, and nothing after it.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 0, 0, 0, 0) // 8-bit grayscale
	_ = binary.Write(&b, binary.BigEndian, uint32(len(chunk)-4))
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// TestPredictBadImages: each bad file gets one error line naming it, the
// good one is still predicted, and the exit status is 1.
func TestPredictBadImages(t *testing.T) {
	data, testX, _ := glyphDir(t)
	out := filepath.Join(t.TempDir(), "run")
	if r := mnistgpu(t, nil, "", smallest("cpu", data, out)...); r.code != 0 {
		t.Fatalf("train failed:\n%v", r)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	writePNG(t, good, asDrawing(testX[:mnist.Side*mnist.Side]))
	white := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	files := map[string][]byte{
		"empty.png": nil,
		"notes.jpg": []byte("shopping list: milk, eggs\n"),
		"bomb.png":  bombPNG(100_000, 100_000),
		"cut.png":   func() []byte { b, _ := os.ReadFile(good); return b[:len(b)/2] }(),
		"zero.png":  bombPNG(0, 10),
	}
	want := map[string]string{
		"empty.png": "empty file", "notes.jpg": "not a PNG or JPEG image", "bomb.png": "over the 50 megapixels",
		"cut.png": "damaged PNG image", "zero.png": "not a readable image", "blank.png": "blank image",
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePNG(t, filepath.Join(dir, "blank.png"), white)
	args := []string{"predict", "--device", "cpu", "-c", filepath.Join(out, "model.ckpt"), good}
	for name := range want {
		args = append(args, filepath.Join(dir, name))
	}
	r := mnistgpu(t, nil, "", args...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1:\n%v", r.code, r)
	}
	if !strings.HasPrefix(r.stdout, good+": ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout should be the good image's prediction alone:\n%s", r.stdout)
	}
	lines := r.errorLines()
	if len(lines) != len(want)+1 {
		t.Fatalf("%d error lines, want one per bad file and the count:\n%v", len(lines), r)
	}
	for name, w := range want {
		found := false
		for _, l := range lines {
			if strings.Contains(l, filepath.Join(dir, name)+": ") {
				found = true
				if !strings.Contains(l, w) {
					t.Errorf("%s: %q does not say %q", name, l, w)
				}
			}
		}
		if !found {
			t.Errorf("no error line names %s:\n%v", name, r)
		}
	}
	if !strings.Contains(lines[len(lines)-1], "6 images could not be predicted") {
		t.Errorf("last line %q, want the count of bad images", lines[len(lines)-1])
	}
}
