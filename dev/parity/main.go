// Command parity writes what an outside implementation needs to replay a
// mnistgpu training run exactly: the initial weights (a model.ckpt) and the
// per-epoch order of the training images. bench/device/torch_parity.py
// replays a run from them in PyTorch and compares the losses step by step.
//
//	go run ./dev/parity -seed 1 -kernel 3 -n 60000 -epochs 1 -out .devdata/parity
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/checkpoint"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

func main() {
	seed := flag.Uint64("seed", 1, "the --seed of the run to replay")
	kernel := flag.Int("kernel", 3, "the --kernel of the run")
	n := flag.Int("n", 60000, "training images (the run's --limit-train, or 60000)")
	epochs := flag.Int("epochs", 1, "epochs whose orders to write")
	out := flag.String("out", ".devdata/parity", "output folder")
	flag.Parse()
	if err := run(*seed, *kernel, *n, *epochs, *out); err != nil {
		log.Fatal(err)
	}
}

func run(seed uint64, kernel, n, epochs int, out string) error {
	spec, err := model.Declare(model.Config{Kernel: kernel})
	if err != nil {
		return err
	}
	b := cpu.New()
	defer b.Close()
	m, err := model.New(b, spec)
	if err != nil {
		return err
	}
	if err := m.Init(seed); err != nil {
		return err
	}
	values, err := m.Values()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ckpt := filepath.Join(out, fmt.Sprintf("init-k%d-seed%d.ckpt", kernel, seed))
	if err := atomicfile.Write(ckpt, func(w io.Writer) error {
		return checkpoint.Write(w, spec, values, map[string]any{"seed": seed, "steps": 0})
	}); err != nil {
		return err
	}
	shuffle := train.NewShuffler(seed)
	order := make([]int32, n)
	for e := 1; e <= epochs; e++ {
		shuffle.Next(order)
		path := filepath.Join(out, fmt.Sprintf("order-seed%d-n%d-epoch%d.i32", seed, n, e))
		if err := atomicfile.Write(path, func(w io.Writer) error {
			return binary.Write(w, binary.LittleEndian, order)
		}); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s and %d epoch order(s) in %s\n", ckpt, epochs, out)
	return nil
}
