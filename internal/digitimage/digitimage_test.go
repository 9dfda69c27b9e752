package digitimage_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/digitimage"
)

// canvas is a w x h image of paper colour with an ink rectangle and a
// smaller ink square to its lower right: an off-centre, lopsided shape.
func canvas(w, h int, paper, ink color.Color, shape image.Rectangle) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := paper
			if image.Pt(x, y).In(shape) {
				c = ink
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// inkBox is the bounding box of the pixels over a tenth of full ink.
func inkBox(g *image.Gray) image.Rectangle {
	box := image.Rectangle{Min: g.Rect.Max, Max: g.Rect.Min}
	for y := range g.Rect.Dy() {
		for x := range g.Rect.Dx() {
			if g.GrayAt(x, y).Y > 25 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

func TestPreprocess(t *testing.T) {
	for _, tc := range []struct {
		name        string
		img         image.Image
		boxW, boxH  int // the digit's box in the 28x28 field, within a pixel
		wantInkSide bool
	}{
		// A tall dark-blue bar on cream paper, far off-centre: inverted,
		// 20 pixels tall, a quarter as wide.
		{"dark on light, coloured, off-centre", canvas(300, 200, color.RGBA{250, 240, 220, 255}, color.RGBA{20, 30, 120, 255}, image.Rect(10, 20, 50, 180)), 5, 20, true},
		// Bright on black (MNIST's own polarity), wide: not inverted.
		{"bright on dark, wide", canvas(100, 100, color.Black, color.White, image.Rect(60, 70, 100, 80)), 20, 5, true},
		// Black strokes on a transparent background (a drawing program's PNG).
		{"transparent background", canvas(64, 64, color.Transparent, color.Black, image.Rect(5, 5, 25, 25)), 20, 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := digitimage.Preprocess(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			if out.Rect != image.Rect(0, 0, 28, 28) {
				t.Fatalf("output %v, want 28x28", out.Rect)
			}
			box := inkBox(out)
			if math.Abs(float64(box.Dx()-tc.boxW)) > 1 || math.Abs(float64(box.Dy()-tc.boxH)) > 1 {
				t.Errorf("digit box %v (%dx%d), want about %dx%d", box, box.Dx(), box.Dy(), tc.boxW, tc.boxH)
			}
			if max(box.Dx(), box.Dy()) > 21 {
				t.Errorf("digit box %v exceeds 20x20", box)
			}
			cx, cy := digitimage.CentreOfMass(out)
			if math.Abs(cx-14) > 0.5 || math.Abs(cy-14) > 0.5 {
				t.Errorf("centre of mass (%.2f, %.2f), want (14, 14) within half a pixel", cx, cy)
			}
			// Ink, not paper, is bright: the corner is background.
			if c := out.GrayAt(0, 0).Y; c != 0 {
				t.Errorf("corner pixel %d, want 0 (paper)", c)
			}
			if peak := out.GrayAt(int(cx), int(cy)).Y; peak < 200 {
				t.Errorf("pixel at the centre of mass %d, want ink (≥ 200)", peak)
			}
		})
	}
}

// TestCentreOfMassNotBox: a lopsided digit (a heavy blob and a thin tail)
// is centred by its mass, as MNIST was, not by its bounding box.
func TestCentreOfMassNotBox(t *testing.T) {
	img := canvas(200, 200, color.White, color.Black, image.Rect(20, 20, 120, 120))
	for y := 120; y < 180; y++ {
		for x := 110; x < 120; x++ {
			img.Set(x, y, color.Black)
		}
	}
	out, err := digitimage.Preprocess(img)
	if err != nil {
		t.Fatal(err)
	}
	box := inkBox(out)
	cx, cy := digitimage.CentreOfMass(out)
	if math.Abs(cx-14) > 0.5 || math.Abs(cy-14) > 0.5 {
		t.Errorf("centre of mass (%.2f, %.2f), want (14, 14)", cx, cy)
	}
	if boxCY := float64(box.Min.Y+box.Max.Y) / 2; boxCY < 15 {
		t.Errorf("box centre y %.1f: the box should sit below the centre, as the blob's mass at its top is centred", boxCY)
	}
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNG is a valid PNG header (and nothing else) declaring w x h pixels.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grayscale
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecode(t *testing.T) {
	digit := canvas(50, 40, color.White, color.Black, image.Rect(10, 10, 30, 30))
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, digit, nil); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{encodePNG(t, digit), jpg.Bytes()} {
		img, err := digitimage.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() != 50 || img.Bounds().Dy() != 40 {
			t.Errorf("decoded %v, want 50x40", img.Bounds())
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"text", []byte("hello, not a picture\n"), "not a PNG or JPEG"},
		{"truncated PNG", encodePNG(t, digit)[:60], "damaged PNG image"},
		{"bomb", hugePNG(100_000, 100_000), "100000x100000 pixels: over the 50 megapixels"},
	} {
		_, err := digitimage.Decode(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestBlank(t *testing.T) {
	for name, img := range map[string]image.Image{
		"white":      canvas(30, 30, color.White, color.White, image.Rectangle{}),
		"grey paper": canvas(30, 30, color.Gray{200}, color.Gray{195}, image.Rect(5, 5, 10, 10)),
		"black":      canvas(30, 30, color.Black, color.Black, image.Rectangle{}),
	} {
		if _, err := digitimage.Preprocess(img); !errors.Is(err, digitimage.ErrBlank) {
			t.Errorf("%s: error %v, want ErrBlank", name, err)
		}
	}
}
