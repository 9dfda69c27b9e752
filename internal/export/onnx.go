package export

import (
	"fmt"
	"io"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// ONNX conventions of the export.
const (
	// Opset is the ONNX operator set the graph uses. 13 is the newest one
	// the pure-Go runtime our tests execute the file with (gonnx) knows, and
	// every op here (Conv, Relu, BatchNormalization, Add, MaxPool, Flatten,
	// Gemm) is unchanged in meaning up to the current opsets.
	Opset = 13
	// irVersion 7 is the ONNX IR that goes with opset 13.
	irVersion = 7
	// InputName and OutputName are what users of exported vision models expect.
	InputName  = "input"
	OutputName = "logits"
)

// WriteONNX writes the model in inference form: input "input" (N, 1, 28, 28)
// float32 NCHW with a dynamic batch N, output "logits" (N, 10) before the
// softmax, batch norms as BatchNormalization nodes with their moving
// statistics and Keras' epsilon. The weights are those of TorchTensors
// (OIHW kernels; the first dense layer's rows already in NCHW flatten
// order, so the Flatten needs no Transpose before it).
func WriteONNX(w io.Writer, spec *model.Spec, values map[string][]float32, meta map[string]string) error {
	tensors, err := TorchTensors(spec, values)
	if err != nil {
		return err
	}
	byParam := map[string]Tensor{}
	g := &onnx.GraphProto{Name: "mnistgpu"}
	for _, t := range tensors {
		byParam[t.Layer+"/"+t.Param] = t
		g.Initializer = append(g.Initializer, &onnx.TensorProto{
			Name: t.Name, DataType: int32(onnx.TensorProto_FLOAT), Dims: int64s(t.Shape), FloatData: t.Data,
		})
	}
	weight := func(l model.Layer, p string) string { return byParam[l.Name+"/"+p].Name }

	cur, shortcut := InputName, ""
	for _, l := range spec.Layers {
		node := &onnx.NodeProto{Name: l.Name, Output: []string{l.Name}}
		switch l.Type {
		case "InputLayer", "Softmax": // the softmax stays with the user: logits out
			continue
		case "Conv2D":
			if strings.HasPrefix(l.Name, "resblock_") && shortcut == "" {
				shortcut = cur // the identity shortcut carries the block's input
			}
			k := int64(byParam[l.Name+"/kernel"].Shape[2])
			p := int64(l.Pad)
			node.OpType, node.Input = "Conv", []string{cur, weight(l, "kernel"), weight(l, "bias")}
			node.Attribute = []*onnx.AttributeProto{ints("kernel_shape", k, k), ints("pads", p, p, p, p), ints("strides", 1, 1)}
		case "ReLU":
			node.OpType, node.Input = "Relu", []string{cur}
		case "BatchNormalization":
			node.OpType = "BatchNormalization"
			node.Input = []string{cur, weight(l, "gamma"), weight(l, "beta"), weight(l, "moving_mean"), weight(l, "moving_variance")}
			node.Attribute = []*onnx.AttributeProto{float("epsilon", model.BNEpsilon), float("momentum", model.BNMomentum)}
		case "Add":
			if shortcut == "" {
				return fmt.Errorf("export: %s: no shortcut to add", l.Name)
			}
			node.OpType, node.Input = "Add", []string{cur, shortcut}
		case "MaxPooling2D":
			node.OpType, node.Input = "MaxPool", []string{cur}
			node.Attribute = []*onnx.AttributeProto{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}
		case "Flatten":
			node.OpType, node.Input = "Flatten", []string{cur}
			node.Attribute = []*onnx.AttributeProto{{Name: "axis", Type: onnx.AttributeProto_INT, I: 1}}
		case "Dense":
			node.OpType, node.Input = "Gemm", []string{cur, weight(l, "kernel"), weight(l, "bias")}
			node.Attribute = []*onnx.AttributeProto{{Name: "transB", Type: onnx.AttributeProto_INT, I: 1}}
		default:
			return fmt.Errorf("export: layer %s: no ONNX form for %s", l.Name, l.Type)
		}
		g.Node = append(g.Node, node)
		cur = l.Name
	}
	g.Node[len(g.Node)-1].Output = []string{OutputName}
	g.Input = []*onnx.ValueInfoProto{valueInfo(InputName, 1, model.ImageSize, model.ImageSize)}
	g.Output = []*onnx.ValueInfoProto{valueInfo(OutputName, model.NumClasses)}

	m := &onnx.ModelProto{
		IrVersion:    irVersion,
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName: "mnistgpu",
		Graph:        g,
		DocString:    fmt.Sprintf("MNIST CNN with a ResNet block (kernel %d); logits, apply softmax for probabilities; input pixels in [0, 1], white digit on black", spec.Config.Kernel),
	}
	for _, k := range sortedKeys(meta) {
		m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: meta[k]})
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = w.Write(raw)
	return err
}

// valueInfo declares a float32 tensor of shape (N, dims...), N dynamic.
func valueInfo(name string, dims ...int) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: shape},
	}}}
}

func ints(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: v}
}

func float(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

func int64s(s []int) []int64 {
	d := make([]int64, len(s))
	for i, n := range s {
		d[i] = int64(n)
	}
	return d
}
