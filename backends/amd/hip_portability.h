// The one portability header of the amd vendor: the nvidia module's CUDA
// sources compile as HIP for AMD GPUs through it (as PyTorch's ROCm build
// maps CUDA spellings onto HIP's). The files in cuda_compat/ stand in for
// CUDA's own headers and include this one; nothing here is used by the nvidia
// build.
//
// Warps. CUDA's warps have 32 lanes; AMD's CDNA wavefronts have 64 (RDNA 32).
// The shared kernels are written for 32-lane warps (reductions from lane
// offset 16 down, warp index = thread / 32). HIP's shuffles take a width: at
// width 32 a wavefront of 64 acts as two independent 32-lane warps, so those
// kernels keep their meaning on both kinds of wavefront. Votes likewise
// return the 32-bit mask of the caller's half.
//
// HIP's NVIDIA platform (__HIP_PLATFORM_NVIDIA__): the amd vendor's test
// variant, built by nvcc against a patched copy of HIP's headers
// (tools/hip_nvidia_headers.py) to run this HIP code on an NVIDIA card. There
// CUDA's own warp functions, bfloat16 and CUB exist and are kept; the runtime
// names still go through HIP's API.
#pragma once
#include <hip/hip_bfloat16.h>
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

#include <cstdint>

#define GEMS_HIP 1
#if defined(__HIP_PLATFORM_NVIDIA__)
#define GEMS_HIP_ON_NVIDIA 1
// CUB is parsed before the CUDA names below are mapped onto HIP's (it must
// keep CUDA's own types).
#include <cub/cub.cuh>
#endif

// ---- runtime API names ----
#define cudaError_t hipError_t
#ifndef cudaSuccess  // (a macro in CUDA's own headers)
#define cudaSuccess hipSuccess
#endif
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaErrorNoDevice hipErrorNoDevice
#define cudaErrorInsufficientDriver hipErrorInsufficientDriver
#define cudaErrorNotReady hipErrorNotReady
#define cudaGetLastError hipGetLastError
#define cudaPeekAtLastError hipPeekAtLastError
#define cudaGetErrorString hipGetErrorString
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaSetDevice hipSetDevice
#define cudaGetDevice hipGetDevice
#define cudaDeviceSynchronize hipDeviceSynchronize
#define cudaDeviceProp hipDeviceProp_t
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDeviceAttr hipDeviceAttribute_t
#define cudaDevAttrMultiProcessorCount hipDeviceAttributeMultiprocessorCount
#define cudaDevAttrComputeCapabilityMajor hipDeviceAttributeComputeCapabilityMajor
#define cudaDevAttrL2CacheSize hipDeviceAttributeL2CacheSize
#define cudaDevAttrMaxSharedMemoryPerBlockOptin hipDeviceAttributeSharedMemPerBlockOptin
#define cudaFuncSetAttribute(f, a, v) hipFuncSetAttribute(reinterpret_cast<const void*>(f), a, v)
#define cudaFuncAttributeMaxDynamicSharedMemorySize hipFuncAttributeMaxDynamicSharedMemorySize
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMallocHost(p, n) hipHostMalloc(p, n, hipHostMallocDefault)
#define cudaHostAlloc hipHostMalloc
#ifndef cudaHostAllocMapped  // (a macro in CUDA's own headers)
#define cudaHostAllocMapped hipHostMallocMapped
#endif
#define cudaHostGetDevicePointer hipHostGetDevicePointer
#define cudaFreeHost hipHostFree
#define cudaMallocAsync hipMallocAsync
#define cudaFreeAsync hipFreeAsync
#define cudaMemcpy hipMemcpy
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemsetAsync hipMemsetAsync
#define cudaMemset hipMemset
#define cudaMemcpyKind hipMemcpyKind
#ifndef cudaMemcpyHostToHost  // (a macro in CUDA's own headers)
#define cudaMemcpyHostToHost hipMemcpyHostToHost
#endif
#ifndef cudaMemcpyHostToDevice  // (a macro in CUDA's own headers)
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#endif
#ifndef cudaMemcpyDeviceToHost  // (a macro in CUDA's own headers)
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#endif
#ifndef cudaMemcpyDeviceToDevice  // (a macro in CUDA's own headers)
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#endif
#ifndef cudaMemcpyDefault  // (a macro in CUDA's own headers)
#define cudaMemcpyDefault hipMemcpyDefault
#endif
#define cudaPointerAttributes hipPointerAttribute_t
#define cudaPointerGetAttributes hipPointerGetAttributes
#define cudaMemoryTypeHost hipMemoryTypeHost
#define cudaMemoryTypeDevice hipMemoryTypeDevice
#ifndef cudaHostAllocPortable  // (a macro in CUDA's own headers)
#define cudaHostAllocPortable hipHostMallocPortable
#endif
#if !defined(GEMS_HIP_ON_NVIDIA)  // (HIP 5.2's NVIDIA platform maps no memory pools: CUDA's own are used)
#define cudaMemPool_t hipMemPool_t
#define cudaDeviceGetDefaultMemPool hipDeviceGetDefaultMemPool
#define cudaMemPoolSetAttribute hipMemPoolSetAttribute
#define cudaMemPoolAttrReleaseThreshold hipMemPoolAttrReleaseThreshold
#endif
#define cudaStream_t hipStream_t
#define cudaStreamCreate hipStreamCreate
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamCreateWithPriority hipStreamCreateWithPriority
#ifndef cudaStreamNonBlocking  // (a macro in CUDA's own headers)
#define cudaStreamNonBlocking hipStreamNonBlocking
#endif
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStreamQuery hipStreamQuery
#define cudaStreamWaitEvent hipStreamWaitEvent
#define cudaEvent_t hipEvent_t
#define cudaEventCreate hipEventCreate
#define cudaEventCreateWithFlags hipEventCreateWithFlags
#ifndef cudaEventDefault  // (a macro in CUDA's own headers)
#define cudaEventDefault hipEventDefault
#endif
#ifndef cudaEventDisableTiming  // (a macro in CUDA's own headers)
#define cudaEventDisableTiming hipEventDisableTiming
#endif
#define cudaEventDestroy hipEventDestroy
#define cudaEventRecord hipEventRecord
#define cudaEventQuery hipEventQuery
#define cudaEventSynchronize hipEventSynchronize
#define cudaEventElapsedTime hipEventElapsedTime
#define cudaDeviceGetStreamPriorityRange hipDeviceGetStreamPriorityRange

#if !defined(GEMS_HIP_ON_NVIDIA)
// ---- 16-bit floats ----
// HIP 5.2's bfloat16 is hip_bfloat16 (a struct with float conversions that
// round to nearest even, as CUDA's __float2bfloat16_rn).
using __nv_bfloat16 = hip_bfloat16;
__host__ __device__ inline float __bfloat162float(hip_bfloat16 v) { return static_cast<float>(v); }
__host__ __device__ inline hip_bfloat16 __float2bfloat16_rn(float f) { return hip_bfloat16(f); }
__host__ __device__ inline hip_bfloat16 __float2bfloat16(float f) { return hip_bfloat16(f); }

// ---- cache-hinted loads and stores: plain ones ----
template <typename T>
__device__ __forceinline__ T __ldcs(const T* p) { return *p; }
template <typename T>
__device__ __forceinline__ T __ldg(const T* p) { return *p; }
template <typename T>
__device__ __forceinline__ void __stcs(T* p, T v) { *p = v; }

// ---- warp functions on 32-lane warps (see the top of this file) ----
#define GEMS_WARP 32
template <typename T>
__device__ __forceinline__ T __shfl_sync(unsigned, T v, int src, int width = GEMS_WARP) { return __shfl(v, src, width); }
template <typename T>
__device__ __forceinline__ T __shfl_xor_sync(unsigned, T v, int mask, int width = GEMS_WARP) { return __shfl_xor(v, mask, width); }
template <typename T>
__device__ __forceinline__ T __shfl_down_sync(unsigned, T v, unsigned d, int width = GEMS_WARP) { return __shfl_down(v, d, width); }
template <typename T>
__device__ __forceinline__ T __shfl_up_sync(unsigned, T v, unsigned d, int width = GEMS_WARP) { return __shfl_up(v, d, width); }
// The lane's 32-lane half of a wavefront-wide vote.
__device__ __forceinline__ unsigned gems_half_of(unsigned long long lanes) {
  return static_cast<unsigned>(lanes >> (__lane_id() & (warpSize - GEMS_WARP)));
}
__device__ __forceinline__ unsigned __ballot_sync(unsigned, int pred) { return gems_half_of(__ballot(pred)); }
__device__ __forceinline__ unsigned __activemask() { return gems_half_of(__ballot(1)); }
__device__ __forceinline__ void __syncwarp(unsigned = 0xffffffffu) { __builtin_amdgcn_wave_barrier(); }
// Lanes below the caller's in its 32-lane warp (PTX's %lanemask_lt).
__device__ __forceinline__ unsigned gems_lanemask_lt() { return (1u << (__lane_id() % GEMS_WARP)) - 1u; }
#endif  // !GEMS_HIP_ON_NVIDIA
#if defined(GEMS_HIP_ON_NVIDIA)
__device__ __forceinline__ unsigned gems_lanemask_lt() {
  unsigned m;
  asm("mov.u32 %0, %%lanemask_lt;" : "=r"(m));
  return m;
}
#else
// The lanes of the caller's 32-lane warp (of those in `mask`) holding the same value.
template <typename T>
__device__ __forceinline__ unsigned __match_any_sync(unsigned mask, T v) {
  unsigned same = 0;
#pragma unroll
  for (int lane = 0; lane < GEMS_WARP; ++lane) same |= (__shfl(v, lane, GEMS_WARP) == v ? 1u : 0u) << lane;
  return same & mask;
}
#endif  // GEMS_HIP_ON_NVIDIA
