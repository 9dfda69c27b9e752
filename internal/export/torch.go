// Package export writes a trained model in formats other tools read:
// safetensors with PyTorch's names and layouts, and ONNX in inference form.
// Both start from the same conversion of our Keras layouts (HWIO kernels,
// (in, out) dense kernels, NHWC flatten order) to PyTorch's.
package export

import (
	"fmt"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// Layout is the metadata value that names the tensors' layout.
const Layout = "pytorch: conv weight (out, in, kh, kw), linear weight (out, in) with inputs in NCHW flatten order; names of bench/device/torch_ref.py build(k).state_dict()"

// torchPrefix maps our layer names onto the module paths of torch_ref.py's
// nn.Sequential (its indices, with the ResNet block's own names).
var torchPrefix = map[string]string{
	"conv2d":                "0",
	"batch_normalization":   "2",
	"resblock_conv_a":       "3.conv1",
	"resblock_bn_a":         "3.bn1",
	"resblock_conv_b":       "3.conv2",
	"resblock_bn_b":         "3.bn2",
	"conv2d_1":              "4",
	"batch_normalization_1": "6",
	"dense":                 "9",
	"batch_normalization_2": "11",
	"dense_1":               "12",
}

// torchSuffix maps our parameter names onto PyTorch's.
var torchSuffix = map[string]string{
	"kernel": "weight", "bias": "bias",
	"gamma": "weight", "beta": "bias",
	"moving_mean": "running_mean", "moving_variance": "running_var",
}

// Tensor is one named float32 tensor in PyTorch layout, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// Layer and Param say where it came from (our names).
	Layer, Param string
}

// TorchTensors converts values (every parameter of spec, by our name) to
// PyTorch's names and layouts, in the order of the parameter table.
func TorchTensors(spec *model.Spec, values map[string][]float32) ([]Tensor, error) {
	var out []Tensor
	var prev model.Layer // the layer before the current one
	var flattenFrom []int
	for _, l := range spec.Layers {
		if l.Type == "Flatten" {
			flattenFrom = prev.Output // (H, W, C): our flatten order
		}
		prefix, ok := torchPrefix[l.Name]
		if len(l.Params) > 0 && !ok {
			return nil, fmt.Errorf("export: layer %s has no PyTorch name", l.Name)
		}
		for _, name := range l.Params {
			p, v := param(spec, name), values[name]
			if len(v) != p.Size() {
				return nil, fmt.Errorf("export: parameter %s has %d values, want %d", name, len(v), p.Size())
			}
			short := name[len(l.Name)+1:]
			t := Tensor{Name: prefix + "." + torchSuffix[short], Shape: p.Shape, Data: v, Layer: l.Name, Param: short}
			switch {
			case l.Type == "Conv2D" && short == "kernel":
				t.Shape, t.Data = hwioToOIHW(p.Shape, v)
			case l.Type == "Dense" && short == "kernel":
				in := v
				if prev.Type == "Flatten" {
					in = hwcRowsToCHW(flattenFrom, p.Shape[1], v)
				}
				t.Shape, t.Data = []int{p.Shape[1], p.Shape[0]}, transpose(p.Shape[0], p.Shape[1], in)
			}
			out = append(out, t)
		}
		prev = l
	}
	return out, nil
}

func param(spec *model.Spec, name string) model.Param {
	for _, p := range spec.Params {
		if p.Name == name {
			return p
		}
	}
	return model.Param{}
}

// hwioToOIHW reorders a (kh, kw, in, out) kernel to (out, in, kh, kw).
func hwioToOIHW(shape []int, v []float32) ([]int, []float32) {
	kh, kw, ci, co := shape[0], shape[1], shape[2], shape[3]
	w := make([]float32, len(v))
	for y := range kh {
		for x := range kw {
			for i := range ci {
				for o := range co {
					w[((o*ci+i)*kh+y)*kw+x] = v[((y*kw+x)*ci+i)*co+o]
				}
			}
		}
	}
	return []int{co, ci, kh, kw}, w
}

// hwcRowsToCHW permutes the rows of an (H*W*C, cols) dense kernel from our
// NHWC flatten order to the NCHW order of PyTorch's and ONNX's Flatten.
func hwcRowsToCHW(hwc []int, cols int, v []float32) []float32 {
	h, w, c := hwc[0], hwc[1], hwc[2]
	out := make([]float32, len(v))
	for y := range h {
		for x := range w {
			for ch := range c {
				src, dst := ((y*w+x)*c+ch)*cols, ((ch*h+y)*w+x)*cols
				copy(out[dst:dst+cols], v[src:src+cols])
			}
		}
	}
	return out
}

// transpose returns the (cols, rows) transpose of a row-major (rows, cols) matrix.
func transpose(rows, cols int, v []float32) []float32 {
	t := make([]float32, len(v))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = v[r*cols+c]
		}
	}
	return t
}
