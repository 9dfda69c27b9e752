//go:build cgo

package cuda

/*
// cuDNN (libcudnn.so.9, cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h): the legacy
// API's descriptors, Find, convolutions and batch norm; status code out.
#include "shim.h"

static size_t mg_cudnnGetVersion(void) { return CALL(S_cudnnGetVersion, size_t(*)(void)); }
static const char *mg_cudnnGetErrorString(int status) { return CALL(S_cudnnGetErrorString, const char *(*)(int), status); }
static int mg_cudnnCreate(cudnnHandle_t *h) { ENSURE_CTX(); return CALL(S_cudnnCreate, int(*)(cudnnHandle_t *), h); }
static int mg_cudnnDestroy(cudnnHandle_t h) { ENSURE_CTX(); return CALL(S_cudnnDestroy, int(*)(cudnnHandle_t), h); }
static int mg_cudnnSetStream(cudnnHandle_t h, CUstream s) { ENSURE_CTX(); return CALL(S_cudnnSetStream, int(*)(cudnnHandle_t, CUstream), h, s); }
static int mg_cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
	return CALL(S_cudnnCreateTensorDescriptor, int(*)(cudnnTensorDescriptor_t *), d);
}
static int mg_cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, int format, int dtype, int n, int c, int h, int w) {
	return CALL(S_cudnnSetTensor4dDescriptor, int(*)(cudnnTensorDescriptor_t, int, int, int, int, int, int), d, format, dtype, n, c, h, w);
}
static int mg_cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
	return CALL(S_cudnnDestroyTensorDescriptor, int(*)(cudnnTensorDescriptor_t), d);
}
static int mg_cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
	return CALL(S_cudnnCreateFilterDescriptor, int(*)(cudnnFilterDescriptor_t *), d);
}
static int mg_cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, int dtype, int format, int k, int c, int h, int w) {
	return CALL(S_cudnnSetFilter4dDescriptor, int(*)(cudnnFilterDescriptor_t, int, int, int, int, int, int), d, dtype, format, k, c, h, w);
}
static int mg_cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
	return CALL(S_cudnnDestroyFilterDescriptor, int(*)(cudnnFilterDescriptor_t), d);
}
static int mg_cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
	return CALL(S_cudnnCreateConvolutionDescriptor, int(*)(cudnnConvolutionDescriptor_t *), d);
}
static int mg_cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
		int dil_h, int dil_w, int mode, int compute) {
	return CALL(S_cudnnSetConvolution2dDescriptor, int(*)(cudnnConvolutionDescriptor_t, int, int, int, int, int, int, int, int),
		d, pad_h, pad_w, u, v, dil_h, dil_w, mode, compute);
}
static int mg_cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, int math) {
	return CALL(S_cudnnSetConvolutionMathType, int(*)(cudnnConvolutionDescriptor_t, int), d, math);
}
static int mg_cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
	return CALL(S_cudnnDestroyConvolutionDescriptor, int(*)(cudnnConvolutionDescriptor_t), d);
}
typedef int (*mg_find_fn)(cudnnHandle_t, void *, void *, cudnnConvolutionDescriptor_t, void *, int, int *, mg_algo_perf *);
// mg_cudnnFind runs one of the three Find*Algorithm calls; their argument
// lists differ only in which descriptors come first (see the Go side).
static int mg_cudnnFind(int slot, cudnnHandle_t h, void *a, void *b, cudnnConvolutionDescriptor_t conv, void *c,
		int requested, int *returned, mg_algo_perf *perf) {
	ENSURE_CTX();
	return ((mg_find_fn)mg_sym[slot])(h, a, b, conv, c, requested, returned, perf);
}
typedef int (*mg_conv_fn)(cudnnHandle_t, const void *, void *, const void *, void *, const void *,
	cudnnConvolutionDescriptor_t, int, void *, size_t, const void *, void *, void *);
// mg_cudnnConv runs ConvolutionForward, BackwardData or BackwardFilter: all
// three take (handle, alpha, descA, a, descB, b, conv, algo, workspace,
// workspace size, beta, descOut, out).
static int mg_cudnnConv(int slot, cudnnHandle_t h, float alpha, void *descA, CUdeviceptr a, void *descB, CUdeviceptr b,
		cudnnConvolutionDescriptor_t conv, int algo, CUdeviceptr ws, size_t wsSize, float beta, void *descOut, CUdeviceptr out) {
	ENSURE_CTX();
	return ((mg_conv_fn)mg_sym[slot])(h, &alpha, descA, (const void *)a, descB, (const void *)b, conv, algo,
		(void *)ws, wsSize, &beta, descOut, (void *)out);
}
static int mg_cudnnBatchNormalizationForwardTraining(cudnnHandle_t h, int mode, cudnnTensorDescriptor_t xDesc,
		CUdeviceptr x, CUdeviceptr y, cudnnTensorDescriptor_t bnDesc, CUdeviceptr scale, CUdeviceptr bias,
		double factor, CUdeviceptr runningMean, CUdeviceptr runningVar, double eps, CUdeviceptr saveMean,
		CUdeviceptr saveInvVar) {
	float one = 1, zero = 0;
	ENSURE_CTX();
	return CALL(S_cudnnBatchNormalizationForwardTraining,
		int(*)(cudnnHandle_t, int, const void *, const void *, cudnnTensorDescriptor_t, const void *,
			cudnnTensorDescriptor_t, void *, cudnnTensorDescriptor_t, const void *, const void *, double, void *,
			void *, double, void *, void *),
		h, mode, &one, &zero, xDesc, (const void *)x, xDesc, (void *)y, bnDesc, (const void *)scale,
		(const void *)bias, factor, (void *)runningMean, (void *)runningVar, eps, (void *)saveMean, (void *)saveInvVar);
}
static int mg_cudnnBatchNormalizationBackward(cudnnHandle_t h, int mode, cudnnTensorDescriptor_t xDesc, CUdeviceptr x,
		CUdeviceptr dy, CUdeviceptr dx, cudnnTensorDescriptor_t bnDesc, CUdeviceptr scale, CUdeviceptr dScale,
		CUdeviceptr dBias, double eps, CUdeviceptr savedMean, CUdeviceptr savedInvVar) {
	float one = 1, zero = 0;
	ENSURE_CTX();
	return CALL(S_cudnnBatchNormalizationBackward,
		int(*)(cudnnHandle_t, int, const void *, const void *, const void *, const void *, cudnnTensorDescriptor_t,
			const void *, cudnnTensorDescriptor_t, const void *, cudnnTensorDescriptor_t, void *,
			cudnnTensorDescriptor_t, const void *, void *, void *, double, const void *, const void *),
		h, mode, &one, &zero, &one, &zero, xDesc, (const void *)x, xDesc, (const void *)dy, xDesc, (void *)dx,
		bnDesc, (const void *)scale, (void *)dScale, (void *)dBias, eps, (const void *)savedMean,
		(const void *)savedInvVar);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

const (
	TensorNCHW          = 0 // CUDNN_TENSOR_NCHW
	TensorNHWC          = 1 // CUDNN_TENSOR_NHWC
	dataFloat           = 0 // CUDNN_DATA_FLOAT
	crossCorrelation    = 1 // CUDNN_CROSS_CORRELATION
	BatchNormSpatial    = 1 // CUDNN_BATCHNORM_SPATIAL
	MathDefault         = 0 // CUDNN_DEFAULT_MATH: TF32 tensor cores allowed on Ampere and later
	MathFMA             = 3 // CUDNN_FMA_MATH: plain FP32 only
	requestedAlgorithms = 8
)

// CuDNNVersion is cudnnGetVersion(), e.g. 90100 for 9.1.0.
func CuDNNVersion() int { return int(C.mg_cudnnGetVersion()) }

// DNN is a cuDNN handle bound to a stream.
type DNN struct{ h C.cudnnHandle_t }

func NewDNN(s *Stream) (*DNN, error) {
	d := &DNN{}
	if err := checkCuDNN("cudnnCreate", C.mg_cudnnCreate(&d.h)); err != nil {
		return nil, err
	}
	if err := checkCuDNN("cudnnSetStream", C.mg_cudnnSetStream(d.h, s.s)); err != nil {
		_ = d.Destroy()
		return nil, err
	}
	return d, nil
}

func (d *DNN) Destroy() error { return checkCuDNN("cudnnDestroy", C.mg_cudnnDestroy(d.h)) }

// TensorDesc is a 4-d float tensor descriptor.
type TensorDesc struct{ d C.cudnnTensorDescriptor_t }

// NewTensorDesc describes a float tensor of dimensions n, c, h, w stored in
// format (TensorNCHW or TensorNHWC).
func NewTensorDesc(format, n, c, h, w int) (*TensorDesc, error) {
	t := &TensorDesc{}
	if err := checkCuDNN("cudnnCreateTensorDescriptor", C.mg_cudnnCreateTensorDescriptor(&t.d)); err != nil {
		return nil, err
	}
	call := fmt.Sprintf("cudnnSetTensor4dDescriptor(n=%d c=%d h=%d w=%d)", n, c, h, w)
	if err := checkCuDNN(call, C.mg_cudnnSetTensor4dDescriptor(t.d, C.int(format), dataFloat, C.int(n), C.int(c), C.int(h), C.int(w))); err != nil {
		_ = t.Destroy()
		return nil, err
	}
	return t, nil
}

func (t *TensorDesc) Destroy() error {
	return checkCuDNN("cudnnDestroyTensorDescriptor", C.mg_cudnnDestroyTensorDescriptor(t.d))
}

// FilterDesc is a 4-d float filter descriptor: k output channels, c input
// channels, h x w window; TensorNHWC stores it as (k, h, w, c).
type FilterDesc struct{ d C.cudnnFilterDescriptor_t }

func NewFilterDesc(format, k, c, h, w int) (*FilterDesc, error) {
	f := &FilterDesc{}
	if err := checkCuDNN("cudnnCreateFilterDescriptor", C.mg_cudnnCreateFilterDescriptor(&f.d)); err != nil {
		return nil, err
	}
	call := fmt.Sprintf("cudnnSetFilter4dDescriptor(k=%d c=%d h=%d w=%d)", k, c, h, w)
	if err := checkCuDNN(call, C.mg_cudnnSetFilter4dDescriptor(f.d, dataFloat, C.int(format), C.int(k), C.int(c), C.int(h), C.int(w))); err != nil {
		_ = f.Destroy()
		return nil, err
	}
	return f, nil
}

func (f *FilterDesc) Destroy() error {
	return checkCuDNN("cudnnDestroyFilterDescriptor", C.mg_cudnnDestroyFilterDescriptor(f.d))
}

// ConvDesc describes a stride-1 cross-correlation (what Keras calls a
// convolution) with pad zero pixels on each side, computed in float.
type ConvDesc struct {
	d C.cudnnConvolutionDescriptor_t
}

func NewConvDesc(pad int) (*ConvDesc, error) {
	c := &ConvDesc{}
	if err := checkCuDNN("cudnnCreateConvolutionDescriptor", C.mg_cudnnCreateConvolutionDescriptor(&c.d)); err != nil {
		return nil, err
	}
	if err := checkCuDNN("cudnnSetConvolution2dDescriptor", C.mg_cudnnSetConvolution2dDescriptor(c.d, C.int(pad), C.int(pad), 1, 1, 1, 1, crossCorrelation, dataFloat)); err != nil {
		_ = c.Destroy()
		return nil, err
	}
	return c, nil
}

// SetMathType chooses whether tensor cores (TF32) may be used.
func (c *ConvDesc) SetMathType(math int) error {
	return checkCuDNN("cudnnSetConvolutionMathType", C.mg_cudnnSetConvolutionMathType(c.d, C.int(math)))
}

func (c *ConvDesc) Destroy() error {
	return checkCuDNN("cudnnDestroyConvolutionDescriptor", C.mg_cudnnDestroyConvolutionDescriptor(c.d))
}

// AlgoPerf is one result of a Find*Algorithm call.
type AlgoPerf struct {
	Algo     int
	Time     float32 // milliseconds
	Memory   uint64  // workspace bytes
	MathType int
}

// ConvPass names the three convolution computations.
type ConvPass int

const (
	Forward ConvPass = iota
	BackwardData
	BackwardFilter
)

var convCalls = [...]struct {
	find, run         string
	findSlot, runSlot int
}{
	Forward:        {"cudnnFindConvolutionForwardAlgorithm", "cudnnConvolutionForward", C.S_cudnnFindConvolutionForwardAlgorithm, C.S_cudnnConvolutionForward},
	BackwardData:   {"cudnnFindConvolutionBackwardDataAlgorithm", "cudnnConvolutionBackwardData", C.S_cudnnFindConvolutionBackwardDataAlgorithm, C.S_cudnnConvolutionBackwardData},
	BackwardFilter: {"cudnnFindConvolutionBackwardFilterAlgorithm", "cudnnConvolutionBackwardFilter", C.S_cudnnFindConvolutionBackwardFilterAlgorithm, C.S_cudnnConvolutionBackwardFilter},
}

// ConvShape holds the descriptors of one convolution.
type ConvShape struct {
	X, Y *TensorDesc // input and output (their gradients share them)
	W    *FilterDesc
	Conv *ConvDesc
}

// operands orders the descriptors as each pass's cuDNN calls take them:
// forward (x, w -> y), backward data (w, dy -> dx), backward filter
// (x, dy -> dw).
func (s ConvShape) operands(pass ConvPass) (a, b, out unsafe.Pointer) {
	x, y, w := unsafe.Pointer(s.X.d), unsafe.Pointer(s.Y.d), unsafe.Pointer(s.W.d)
	switch pass {
	case Forward:
		return x, w, y
	case BackwardData:
		return w, y, x
	}
	return x, y, w
}

// Find benchmarks the algorithms cuDNN offers for one pass of shape and
// returns those that ran, fastest first.
func (d *DNN) Find(pass ConvPass, shape ConvShape) ([]AlgoPerf, error) {
	var perf [requestedAlgorithms]C.mg_algo_perf
	var n C.int
	a, b, out := shape.operands(pass)
	call := convCalls[pass]
	if err := checkCuDNN(call.find, C.mg_cudnnFind(C.int(call.findSlot), d.h, a, b, shape.Conv.d, out, requestedAlgorithms, &n, &perf[0])); err != nil {
		return nil, err
	}
	var ran []AlgoPerf
	for _, p := range perf[:n] {
		if p.status == 0 {
			ran = append(ran, AlgoPerf{Algo: int(p.algo), Time: float32(p.time), Memory: uint64(p.memory), MathType: int(p.mathType)})
		}
	}
	if len(ran) == 0 {
		return nil, &Error{Call: call.find, Lib: "cuDNN", Message: "no algorithm supports this convolution"}
	}
	return ran, nil
}

// Conv queues one pass of shape with algorithm algo:
// forward y = conv(x, w); backward data dx = convT(dy, w); backward filter
// dw = corr(x, dy). a and b are the pass's inputs in that order, out its output.
func (d *DNN) Conv(pass ConvPass, shape ConvShape, algo int, a, b, out, workspace DevicePtr, workspaceBytes uint64) error {
	da, db, dout := shape.operands(pass)
	call := convCalls[pass]
	return checkCuDNN(call.run, C.mg_cudnnConv(C.int(call.runSlot), d.h, 1, da, C.CUdeviceptr(a), db, C.CUdeviceptr(b), shape.Conv.d,
		C.int(algo), C.CUdeviceptr(workspace), C.size_t(workspaceBytes), 0, dout, C.CUdeviceptr(out)))
}

// BatchNormTrain queues spatial batch norm in training mode over x
// (described by xDesc) into y, saving the batch mean and 1/sqrt(var+eps).
// cuDNN blends the batch statistics into runningMean and runningVar with
// weight factor (its exponentialAverageFactor; 0 and null pointers leave
// them alone).
func (d *DNN) BatchNormTrain(xDesc, bnDesc *TensorDesc, x, y, scale, bias DevicePtr, factor float64, runningMean, runningVar DevicePtr,
	eps float64, saveMean, saveInvStd DevicePtr) error {
	return checkCuDNN("cudnnBatchNormalizationForwardTraining", C.mg_cudnnBatchNormalizationForwardTraining(d.h, BatchNormSpatial,
		xDesc.d, C.CUdeviceptr(x), C.CUdeviceptr(y), bnDesc.d, C.CUdeviceptr(scale), C.CUdeviceptr(bias), C.double(factor),
		C.CUdeviceptr(runningMean), C.CUdeviceptr(runningVar), C.double(eps), C.CUdeviceptr(saveMean), C.CUdeviceptr(saveInvStd)))
}

// BatchNormBackward queues the batch norm gradients: dx, and dscale, dbias
// overwritten.
func (d *DNN) BatchNormBackward(xDesc, bnDesc *TensorDesc, x, dy, dx, scale, dscale, dbias DevicePtr, eps float64, saveMean, saveInvStd DevicePtr) error {
	return checkCuDNN("cudnnBatchNormalizationBackward", C.mg_cudnnBatchNormalizationBackward(d.h, BatchNormSpatial,
		xDesc.d, C.CUdeviceptr(x), C.CUdeviceptr(dy), C.CUdeviceptr(dx), bnDesc.d, C.CUdeviceptr(scale), C.CUdeviceptr(dscale),
		C.CUdeviceptr(dbias), C.double(eps), C.CUdeviceptr(saveMean), C.CUdeviceptr(saveInvStd)))
}

func checkCuDNN(call string, r C.int) error {
	switch r {
	case 0:
		return nil
	case C.MG_CTX_FAILED:
		return ctxError(call)
	}
	return &Error{Call: call, Lib: "cuDNN", Code: int(r), Message: C.GoString(C.mg_cudnnGetErrorString(r))}
}
