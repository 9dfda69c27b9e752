package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/nlpodyssey/safetensors"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// WriteSafetensors writes the parameters in PyTorch layout under the names of
// torch_ref.py's state_dict. The batch norms' num_batches_tracked buffers
// are left out: Keras keeps no such count, PyTorch uses it only without a
// momentum, and this library cannot write the 0-dimensional tensor it is, so
// load it with load_state_dict(..., strict=False). meta goes into
// __metadata__ next to the layout description.
func WriteSafetensors(w io.Writer, spec *model.Spec, values map[string][]float32, meta map[string]string) error {
	tensors, err := TorchTensors(spec, values)
	if err != nil {
		return err
	}
	views := make(map[string]safetensors.TensorView, len(tensors)+4)
	for _, t := range tensors {
		raw := make([]byte, 0, 4*len(t.Data))
		for _, v := range t.Data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
		view, err := safetensors.NewTensorView(safetensors.F32, dims(t.Shape), raw)
		if err != nil {
			return fmt.Errorf("export: %s: %w", t.Name, err)
		}
		views[t.Name] = view
	}
	info := map[string]string{"format": "pt", "layout": Layout, "kernel": fmt.Sprint(spec.Config.Kernel)}
	maps.Copy(info, meta)
	return safetensors.SerializeToWriter(views, info, w)
}

func dims(shape []int) []uint64 {
	d := make([]uint64, len(shape))
	for i, n := range shape {
		d[i] = uint64(n)
	}
	return d
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
