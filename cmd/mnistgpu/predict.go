package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/digitimage"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// PredictCmd classifies the user's own digit images.
type PredictCmd struct {
	Checkpoint       string   `short:"c" required:"" type:"existingfile" placeholder:"FILE" help:"A model.ckpt written by train."`
	Images           []string `arg:"" name:"image" placeholder:"IMAGE" help:"PNG or JPEG files of one digit each, any size and colour."`
	Device           string   `short:"d" default:"auto" enum:"auto,cpu,cuda" placeholder:"NAME" help:"Backend: auto (cuda when usable, else cpu), cpu or cuda."`
	Top              int      `default:"3" placeholder:"N" help:"How many of the most probable digits to print per image (1 to 10)."`
	JSON             bool     `name:"json" help:"Print one JSON object (every image's ten probabilities, and the errors) instead of text."`
	SavePreprocessed string   `name:"save-preprocessed" placeholder:"DIR" help:"Write each image's 28x28 model input as DIR/<name>.28x28.png, to see what the model saw."`
}

func (c *PredictCmd) Help() string {
	return `Converts each image as MNIST was made (grayscale; a dark digit on light paper inverted; cropped
to the digit; scaled into 20x20 keeping the aspect ratio; centred by its centre of mass in 28x28) and
prints the digit the model predicts (inference mode) and the most probable digits. A file that is not
a readable PNG or JPEG, over 50 megapixels, or blank gets one error line; the others are still
predicted, and the exit status is then 1.`
}

func (c *PredictCmd) Validate() error {
	if c.Top < 1 || c.Top > model.NumClasses {
		return fmt.Errorf("--top %d: must be 1 to %d", c.Top, model.NumClasses)
	}
	return nil
}

// prediction is one image's result; the JSON output is a list of them.
type prediction struct {
	File          string    `json:"file"`
	Digit         int       `json:"digit"`
	Probabilities []float64 `json:"probabilities"` // softmax of the logits, digits 0 to 9
	Preprocessed  string    `json:"preprocessed,omitempty"`
}

// imageError is a file that could not be predicted.
type imageError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// maxImageBytes bounds what is read of one file: a 50-megapixel PNG or
// JPEG is well under it.
const maxImageBytes = 256 << 20

func (c *PredictCmd) Run() error {
	_, spec, values, err := readCheckpointFile(c.Checkpoint)
	if err != nil {
		return err
	}
	// Every image is read and converted before the backend starts, so a
	// bad file costs nothing and the good ones go in one batch.
	var inputs [][]float32
	var preds []prediction
	var bad []imageError
	saved := map[string]bool{}
	for _, path := range c.Images {
		in, err := digitimage.Load(path, maxImageBytes)
		if err != nil {
			bad = append(bad, imageError{path, err.Error()})
			fmt.Fprintf(os.Stderr, "mnistgpu: error: %s: %v\n", path, err)
			continue
		}
		p := prediction{File: path}
		if c.SavePreprocessed != "" {
			if p.Preprocessed, err = c.save(path, in, saved); err != nil {
				return err
			}
		}
		x := make([]float32, len(in.Pix))
		for i, v := range in.Pix {
			x[i] = float32(v) / 255 // as GatherBatch scales the training images
		}
		inputs = append(inputs, x)
		preds = append(preds, p)
	}
	if len(inputs) > 0 {
		if err := c.predict(spec, values, inputs, preds); err != nil {
			return err
		}
	}
	if err := c.print(os.Stdout, preds, bad); err != nil {
		return err
	}
	if len(bad) > 0 {
		return badImages(len(bad))
	}
	return nil
}

// predict runs the model in inference mode on inputs, one batch, and fills
// in each prediction's probabilities and digit.
func (c *PredictCmd) predict(spec *model.Spec, values map[string][]float32, inputs [][]float32, preds []prediction) error {
	b, err := openBackend(c.Device)
	if err != nil {
		return err
	}
	defer b.Close()
	m, err := model.New(b, spec)
	if err != nil {
		return err
	}
	if err := m.SetValues(values); err != nil {
		return fmt.Errorf("%s: %w", c.Checkpoint, err)
	}
	k, err := m.NewBatch(len(inputs), false)
	if err != nil {
		return err
	}
	if err := b.Upload(k.X, slices.Concat(inputs...)); err != nil {
		return err
	}
	m.Forward(k)
	logits := make([]float32, k.Logits.Len())
	if err := b.Download(logits, k.Logits); err != nil {
		return err
	}
	if err := b.Sync(); err != nil {
		return err
	}
	for i := range preds {
		preds[i].Probabilities = softmax(logits[i*model.NumClasses : (i+1)*model.NumClasses])
		preds[i].Digit = argmax(preds[i].Probabilities)
	}
	return nil
}

// save writes the 28x28 input as DIR/<name>.28x28.png, <name> the image's
// file name without its extension, made unique among this run's images
// (and never the input's own name, so DIR may be the images' folder).
func (c *PredictCmd) save(path string, in *image.Gray, saved map[string]bool) (string, error) {
	if err := os.MkdirAll(c.SavePreprocessed, 0o755); err != nil {
		return "", fmt.Errorf("--save-preprocessed: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	out := filepath.Join(c.SavePreprocessed, name+".28x28.png")
	for i := 2; saved[out]; i++ {
		out = filepath.Join(c.SavePreprocessed, fmt.Sprintf("%s-%d.28x28.png", name, i))
	}
	saved[out] = true
	if err := atomicfile.Write(out, func(w io.Writer) error { return png.Encode(w, in) }); err != nil {
		return "", fmt.Errorf("--save-preprocessed: %w", err)
	}
	return out, nil
}

func softmax(logits []float32) []float64 {
	peak := math.Inf(-1)
	for _, v := range logits {
		peak = max(peak, float64(v))
	}
	p, sum := make([]float64, len(logits)), 0.0
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - peak) // shifted: no overflow
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

func argmax(p []float64) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// print writes the predictions as text (one line per image: the digit and
// the --top most probable digits) or, with --json, as one object.
func (c *PredictCmd) print(w io.Writer, preds []prediction, bad []imageError) error {
	if c.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if bad == nil {
			bad = []imageError{}
		}
		if preds == nil {
			preds = []prediction{}
		}
		return enc.Encode(struct {
			Checkpoint  string       `json:"checkpoint"`
			Predictions []prediction `json:"predictions"`
			Errors      []imageError `json:"errors"`
		}{c.Checkpoint, preds, bad})
	}
	for _, p := range preds {
		order := make([]int, len(p.Probabilities))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return -cmpFloat(p.Probabilities[a], p.Probabilities[b])
		})
		var top []string
		for _, d := range order[:c.Top] {
			top = append(top, fmt.Sprintf("%d %.1f%%", d, 100*p.Probabilities[d]))
		}
		line := fmt.Sprintf("%s: %d  (%s)", p.File, p.Digit, strings.Join(top, ", "))
		if p.Preprocessed != "" {
			line += "  input: " + p.Preprocessed
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// badImages is the error of a run in which some images could not be
// predicted; each was already named on its own line.
type badImages int

func (n badImages) Error() string {
	if n == 1 {
		return "1 image could not be predicted (see above)"
	}
	return fmt.Sprintf("%d images could not be predicted (see above)", int(n))
}
