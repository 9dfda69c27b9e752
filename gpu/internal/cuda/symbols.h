// The one list of the functions mnistgpu resolves with dlsym, by library, in
// slot order. Every file that needs it defines MG_SYMBOL(lib, name) and
// includes this file: shim.h makes the slot enum (S_cuInit, ...), shim.c the
// names and libraries the Go side reads to resolve them. The names are the
// exact exported symbols (the versioned _v2 ones where cuda.h and
// cublas_api.h map the plain name to a _v2 by #define).
//
// Library ids: MG_DRIVER, MG_CUDNN, MG_CUBLAS, MG_NVRTC (shim.h).

// CUDA driver (libcuda.so.1): cuda.h
MG_SYMBOL(MG_DRIVER, cuInit)
MG_SYMBOL(MG_DRIVER, cuDriverGetVersion)
MG_SYMBOL(MG_DRIVER, cuDeviceGetCount)
MG_SYMBOL(MG_DRIVER, cuDeviceGet)
MG_SYMBOL(MG_DRIVER, cuDeviceGetName)
MG_SYMBOL(MG_DRIVER, cuDeviceGetAttribute)
MG_SYMBOL(MG_DRIVER, cuDeviceTotalMem_v2)
MG_SYMBOL(MG_DRIVER, cuDevicePrimaryCtxRetain)
MG_SYMBOL(MG_DRIVER, cuCtxSetCurrent)
MG_SYMBOL(MG_DRIVER, cuStreamCreate)
MG_SYMBOL(MG_DRIVER, cuStreamSynchronize)
MG_SYMBOL(MG_DRIVER, cuStreamDestroy_v2)
MG_SYMBOL(MG_DRIVER, cuMemAlloc_v2)
MG_SYMBOL(MG_DRIVER, cuMemFree_v2)
MG_SYMBOL(MG_DRIVER, cuMemGetInfo_v2)
MG_SYMBOL(MG_DRIVER, cuMemcpyHtoDAsync_v2)
MG_SYMBOL(MG_DRIVER, cuMemcpyDtoHAsync_v2)
MG_SYMBOL(MG_DRIVER, cuMemcpyDtoDAsync_v2)
MG_SYMBOL(MG_DRIVER, cuMemsetD32Async)
MG_SYMBOL(MG_DRIVER, cuModuleLoadData)
MG_SYMBOL(MG_DRIVER, cuModuleUnload)
MG_SYMBOL(MG_DRIVER, cuModuleGetFunction)
MG_SYMBOL(MG_DRIVER, cuLaunchKernel)
MG_SYMBOL(MG_DRIVER, cuGetErrorName)
MG_SYMBOL(MG_DRIVER, cuGetErrorString)

// cuDNN (libcudnn.so.9, the legacy API): cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h
MG_SYMBOL(MG_CUDNN, cudnnGetVersion)
MG_SYMBOL(MG_CUDNN, cudnnGetErrorString)
MG_SYMBOL(MG_CUDNN, cudnnCreate)
MG_SYMBOL(MG_CUDNN, cudnnDestroy)
MG_SYMBOL(MG_CUDNN, cudnnSetStream)
MG_SYMBOL(MG_CUDNN, cudnnCreateTensorDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnSetTensor4dDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnDestroyTensorDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnCreateFilterDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnSetFilter4dDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnDestroyFilterDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnCreateConvolutionDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnSetConvolution2dDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnSetConvolutionMathType)
MG_SYMBOL(MG_CUDNN, cudnnDestroyConvolutionDescriptor)
MG_SYMBOL(MG_CUDNN, cudnnFindConvolutionForwardAlgorithm)
MG_SYMBOL(MG_CUDNN, cudnnFindConvolutionBackwardDataAlgorithm)
MG_SYMBOL(MG_CUDNN, cudnnFindConvolutionBackwardFilterAlgorithm)
MG_SYMBOL(MG_CUDNN, cudnnConvolutionForward)
MG_SYMBOL(MG_CUDNN, cudnnConvolutionBackwardData)
MG_SYMBOL(MG_CUDNN, cudnnConvolutionBackwardFilter)
MG_SYMBOL(MG_CUDNN, cudnnBatchNormalizationForwardTraining)
MG_SYMBOL(MG_CUDNN, cudnnBatchNormalizationBackward)

// cuBLAS (libcublas.so.13/.12): cublas_api.h, library_types.h
MG_SYMBOL(MG_CUBLAS, cublasCreate_v2)
MG_SYMBOL(MG_CUBLAS, cublasDestroy_v2)
MG_SYMBOL(MG_CUBLAS, cublasSetStream_v2)
MG_SYMBOL(MG_CUBLAS, cublasGetProperty)
MG_SYMBOL(MG_CUBLAS, cublasSgemm_v2)
MG_SYMBOL(MG_CUBLAS, cublasSgemv_v2)

// NVRTC (libnvrtc.so.13/.12): nvrtc.h
MG_SYMBOL(MG_NVRTC, nvrtcVersion)
MG_SYMBOL(MG_NVRTC, nvrtcGetErrorString)
MG_SYMBOL(MG_NVRTC, nvrtcGetNumSupportedArchs)
MG_SYMBOL(MG_NVRTC, nvrtcGetSupportedArchs)
MG_SYMBOL(MG_NVRTC, nvrtcCreateProgram)
MG_SYMBOL(MG_NVRTC, nvrtcCompileProgram)
MG_SYMBOL(MG_NVRTC, nvrtcGetProgramLogSize)
MG_SYMBOL(MG_NVRTC, nvrtcGetProgramLog)
MG_SYMBOL(MG_NVRTC, nvrtcGetCUBINSize)
MG_SYMBOL(MG_NVRTC, nvrtcGetCUBIN)
MG_SYMBOL(MG_NVRTC, nvrtcGetPTXSize)
MG_SYMBOL(MG_NVRTC, nvrtcGetPTX)
MG_SYMBOL(MG_NVRTC, nvrtcDestroyProgram)
