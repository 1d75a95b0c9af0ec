// Shared pieces of the nvidia vendor's kernels: dtype dispatch onto CUDA
// types, compute (accumulate) types, conversions, launch helpers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "../abi/gems_vendor_abi.h"
#include "../common/dtype_dispatch.h"
#include "runtime.h"

namespace gems::nvidia {

using half = __half;
using bf16 = __nv_bfloat16;

template <typename T> struct acc { using type = T; };
template <> struct acc<half> { using type = float; };
template <> struct acc<bf16> { using type = float; };
template <typename T> using acc_t = typename acc<T>::type;

template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<T> || std::is_same_v<T, half> || std::is_same_v<T, bf16>;

// Loads and stores through the compute type: 16-bit floats go through float.
template <typename A, typename T>
__device__ __forceinline__ A load_as(T v) {
  if constexpr (std::is_same_v<T, half>) return static_cast<A>(__half2float(v));
  else if constexpr (std::is_same_v<T, bf16>) return static_cast<A>(__bfloat162float(v));
  else return static_cast<A>(v);
}
template <typename T, typename A>
__device__ __forceinline__ T store_as(A v) {
  if constexpr (std::is_same_v<T, half>) return __float2half_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bf16>) return __float2bfloat16_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>) return v != A(0);
  else return static_cast<T>(v);
}
// Any-to-any conversion with PyTorch's semantics (through the source's
// compute type, "!= 0" for bool).
template <typename O, typename I>
__device__ __forceinline__ O convert(I x) {
  using A = acc_t<I>;
  return store_as<O>(load_as<A>(x));
}

// Dispatch onto CUDA's types (backends/common/dtype_dispatch.h).
template <uint32_t MASK, typename F>
bool dispatch_dtype(int32_t dtype, F&& f) {
  return dispatch_dtype_as<MASK, half, bf16>(dtype, std::forward<F>(f));
}

constexpr uint32_t kFloating = GEMS_MASK_FLOATING;
constexpr uint32_t kIntegral = GEMS_MASK_INTEGRAL;
constexpr uint32_t kAll = GEMS_MASK_ALL;
constexpr uint32_t kNumeric = GEMS_MASK_FLOATING | GEMS_MASK_INTEGRAL;
constexpr uint32_t kBitwise = GEMS_MASK_INTEGRAL | GEMS_DTYPE_BIT(GEMS_BOOL);  // bitwise ops: integers, bool
constexpr uint32_t kHalfTypes = GEMS_DTYPE_BIT(GEMS_FLOAT16) | GEMS_DTYPE_BIT(GEMS_BFLOAT16);

inline cudaStream_t stream_of(const gems_kernel_call* c) { return static_cast<cudaStream_t>(c->stream); }

inline char* base_ptr(const gems_tensor& t) {
  return static_cast<char*>(t.data) + t.offset * element_size(t.dtype);
}

// Lets `kernel` use `bytes` of dynamic shared memory; false when it cannot.
template <typename Kernel>
bool allow_shared(Kernel kernel, int64_t bytes) {
#if defined(GEMS_HIP)
  // AMD's LDS is 64 KB a workgroup on CDNA: no opt-in beyond what the device has.
  int dev = 0, most = 0;
  hipGetDevice(&dev);
  hipDeviceGetAttribute(&most, hipDeviceAttributeMaxSharedMemoryPerBlock, dev);
  return bytes <= most;
#endif
  if (bytes <= 48 * 1024) return true;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)) ==
         cudaSuccess || (cudaGetLastError(), false);
}

inline int64_t numel_of(const gems_tensor& t) {
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.sizes[i];
  return n;
}

// GEMS_OK, or the launch error as a vendor error.
int launch_status(const char* kernel);
int unsupported_dtype(const char* kernel, int32_t dtype);

// An attribute of the current device, asked of the driver once per device
// (a process may drive cards of different kinds).
template <cudaDeviceAttr Attr>
int device_attribute() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> known[kMaxDevices];  // 0 until asked: the attributes read here are positive
  int dev = 0;
  cudaGetDevice(&dev);
  int v = dev >= 0 && dev < kMaxDevices ? known[dev].load(std::memory_order_relaxed) : 0;
  if (v == 0) {
    cudaDeviceGetAttribute(&v, Attr, dev);
    if (dev >= 0 && dev < kMaxDevices) known[dev].store(v, std::memory_order_relaxed);
  }
  return v;
}
inline int num_sms() { return std::max(1, device_attribute<cudaDevAttrMultiProcessorCount>()); }

// Programmatic dependent launch (sm_90 and newer): a kernel launched by
// launch_dependent() may start while the kernel before it in the stream is
// still running, so its launch latency hides behind that kernel's tail; it
// calls wait_for_previous_grid() before it reads what that kernel wrote. The
// kernel before it calls allow_dependent_launch() once its blocks are
// running. On older cards both are no-ops and the launch is an ordinary one.
__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::);
#endif
}
inline bool dependent_launch_supported() { return device_attribute<cudaDevAttrComputeCapabilityMajor>() >= 9; }

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args... args) {
#if defined(GEMS_HIP)
  kernel<<<grid, block, 0, stream>>>(static_cast<Params>(args)...);  // (HIP has no dependent launch)
#else
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = dependent_launch_supported() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);  // errors surface in launch_status()
#endif
}

// Records an error a kernel found (the first since the core last took one;
// later ones leave it alone) for the core to raise after its next wait; the
// kernel goes on (an out-of-range index reads zeros, writes nothing).
__device__ inline void record_kernel_error(KernelErrors* e, int kind, int64_t a, int64_t b, int64_t c) {
  if (e == nullptr || atomicCAS(&e->claimed, 0, 1) != 0) return;
  e->values[0] = a;
  e->values[1] = b;
  e->values[2] = c;
  __threadfence_system();
  atomicExch(&e->kind, kind);
}

}  // namespace gems::nvidia
