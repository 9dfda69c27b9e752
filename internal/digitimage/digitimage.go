// Package digitimage turns a picture of a handwritten digit (a PNG or JPEG
// of any size and colour) into the 28x28 input the model was trained on,
// the way MNIST itself was made: a grayscale digit, bright on black, its
// bounding box scaled to fit 20x20 keeping the aspect ratio, and placed in
// the 28x28 field with its centre of mass at the centre.
package digitimage

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io/fs"
	"math"
	"os"
	"strings"

	"golang.org/x/image/draw"
)

const (
	// Side is MNIST's image side; Box the side the digit is scaled into.
	Side = 28
	Box  = 20
	// MaxPixels bounds width×height before decoding: a few-kilobyte PNG can
	// declare 100,000 x 100,000 pixels and then ask for 40 GB. 50 megapixels
	// covers a phone camera's photo.
	MaxPixels = 50_000_000
)

// ErrBlank reports an image with no digit: every pixel about the paper's shade.
var ErrBlank = errors.New("blank image: no digit found (every pixel is about the shade of the border)")

// Decode decodes a PNG or JPEG, checking its declared dimensions first.
func Decode(data []byte) (image.Image, error) {
	if len(data) == 0 {
		return nil, errors.New("empty file")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	format = strings.ToUpper(format)
	if errors.Is(err, image.ErrFormat) {
		return nil, errors.New("not a PNG or JPEG image")
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable image: %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, fmt.Errorf("%s of %dx%d pixels: no pixels", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("%s of %dx%d pixels: over the %d megapixels accepted (a decompression bomb, or a photo to scale down first)",
			format, cfg.Width, cfg.Height, MaxPixels/1_000_000)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("damaged %s image: %w", format, err)
	}
	return img, nil
}

// Load reads the image file at path (a regular file of at most maxBytes)
// and preprocesses it.
func Load(path string, maxBytes int64) (*image.Gray, error) {
	info, err := os.Stat(path)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return nil, pathErr.Err // the caller names the file
	}
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (mode %s)", info.Mode())
	}
	if info.Size() > maxBytes {
		return nil, fmt.Errorf("%d bytes: over the %d MiB an image file may have", info.Size(), maxBytes>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return Preprocess(img)
}

// Preprocess returns the 28x28 MNIST-style input for img: 0 background,
// 255 the strongest ink.
func Preprocess(img image.Image) (*image.Gray, error) {
	ink := inkMap(img)
	r := ink.Rect
	if r.Empty() {
		return nil, ErrBlank
	}
	// The digit's bounding box: pixels with a tenth of the strongest ink,
	// so that JPEG ringing and paper grain do not widen it.
	peak := uint8(0)
	for _, v := range ink.Pix {
		peak = max(peak, v)
	}
	if peak < 32 { // under an eighth of full contrast: nothing drawn
		return nil, ErrBlank
	}
	box := image.Rectangle{Min: r.Max, Max: r.Min}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if 10*int(ink.GrayAt(x, y).Y) >= int(peak) {
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	// Scale the box into Box x Box, keeping its aspect ratio.
	w, h := box.Dx(), box.Dy()
	scale := float64(Box) / float64(max(w, h))
	sw, sh := max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
	small := image.NewGray(image.Rect(0, 0, sw, sh))
	draw.CatmullRom.Scale(small, small.Rect, ink, box, draw.Src, nil)

	// Translate so that the centre of mass lands on the field's centre.
	cx, cy := CentreOfMass(small)
	dx := clamp(int(math.Round(Side/2-cx)), 0, Side-sw)
	dy := clamp(int(math.Round(Side/2-cy)), 0, Side-sh)
	out := image.NewGray(image.Rect(0, 0, Side, Side))
	draw.Draw(out, small.Rect.Add(image.Pt(dx, dy)), small, image.Point{}, draw.Src)
	return out, nil
}

// inkMap is img as ink strength (0 none, 255 full), composited over white
// paper where it is transparent. Dark-on-light images (paper, a drawing
// program) are inverted, bright-on-dark ones (MNIST itself) are not: the
// image's border, which a digit rarely touches, tells which is the paper.
// The paper's own shade is subtracted, so grey paper reads as no ink.
func inkMap(img image.Image) *image.Gray {
	b := img.Bounds()
	gray := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA() // premultiplied, 0..0xffff
			over := func(c uint32) float64 { return float64(c+0xffff-a) / 0xffff }
			lum := 0.299*over(r) + 0.587*over(g) + 0.114*over(bl)
			gray.Pix[(y-b.Min.Y)*gray.Stride+(x-b.Min.X)] = uint8(math.Round(255 * lum))
		}
	}
	border := borderMean(gray)
	invert := border > 127
	paper := border
	if invert {
		paper = 255 - border
	}
	for i, v := range gray.Pix {
		ink := float64(v)
		if invert {
			ink = 255 - ink
		}
		gray.Pix[i] = uint8(clamp(int(math.Round(ink-paper)), 0, 255))
	}
	return gray
}

// borderMean is the mean value of the outermost rows and columns.
func borderMean(g *image.Gray) float64 {
	r := g.Rect
	sum, n := 0.0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if y == r.Min.Y || y == r.Max.Y-1 || x == r.Min.X || x == r.Max.X-1 {
				sum += float64(g.GrayAt(x, y).Y)
				n++
			}
		}
	}
	return sum / float64(n)
}

// CentreOfMass is the intensity-weighted centre of g, in pixel units from
// its top-left corner (a pixel's centre is at +0.5); the image's centre
// for an all-zero image.
func CentreOfMass(g *image.Gray) (x, y float64) {
	r := g.Rect
	var sum, sx, sy float64
	for py := r.Min.Y; py < r.Max.Y; py++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			v := float64(g.GrayAt(px, py).Y)
			sum += v
			sx += v * (float64(px-r.Min.X) + 0.5)
			sy += v * (float64(py-r.Min.Y) + 0.5)
		}
	}
	if sum == 0 {
		return float64(r.Dx()) / 2, float64(r.Dy()) / 2
	}
	return sx / sum, sy / sum
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
