package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/export"
)

// ExportCmd writes a checkpoint in a format other tools load.
type ExportCmd struct {
	Checkpoint string `short:"c" required:"" type:"existingfile" placeholder:"FILE" help:"A model.ckpt written by train."`
	Format     string `short:"f" required:"" enum:"onnx,safetensors" placeholder:"NAME" help:"onnx (inference graph, opset 13) or safetensors (PyTorch names and layouts of bench/device/torch_ref.py)."`
	Out        string `short:"o" required:"" placeholder:"FILE" help:"The file to write (replaced atomically if it exists)."`
}

func (c *ExportCmd) Help() string {
	return `ONNX: input "input" (N, 1, 28, 28) float32 in [0, 1], white digit on black as in MNIST, dynamic N; output "logits" (N, 10) before the softmax; batch norms as BatchNormalization nodes (epsilon 1e-3).

safetensors: the state_dict names of torch_ref.py's build(k) ("0.weight", "3.conv1.weight", "9.weight", ...), conv weights (out, in, kh, kw), linear weights (out, in) over the NCHW flatten; load with net.load_state_dict(safetensors.torch.load_file(FILE), strict=False) (num_batches_tracked is not stored).`
}

func (c *ExportCmd) Run(ctx context.Context) error {
	header, spec, values, err := readCheckpointFile(c.Checkpoint)
	if err != nil {
		return err
	}
	if info, err := os.Stat(c.Out); err == nil && !info.Mode().IsRegular() {
		return fmt.Errorf("--out %s: exists and is not a regular file", c.Out)
	}
	if dir := filepath.Dir(c.Out); dir != "" {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return fmt.Errorf("--out %s: no directory %s to write it in", c.Out, dir)
		}
	}
	meta := map[string]string{"source": filepath.Base(c.Checkpoint), "kernel": fmt.Sprint(spec.Config.Kernel)}
	for _, k := range []string{"steps", "seed", "epochs", "status", "device"} {
		if v, ok := header.Meta[k]; ok {
			meta[k] = fmt.Sprint(v)
		}
	}
	write := export.WriteSafetensors
	if c.Format == "onnx" {
		write = export.WriteONNX
	}
	if err := atomicfile.Write(c.Out, func(w io.Writer) error { return write(w, spec, values, meta) }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%s, k=%d) from %s\n", c.Out, c.Format, spec.Config.Kernel, c.Checkpoint)
	return nil
}
