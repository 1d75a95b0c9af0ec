// torch.histc's counting. Few values (a MoE layer's expert ids): one block
// counts them all in shared memory and writes the histogram in its own dtype,
// one launch. Many values: each block counts into a histogram of 32-bit
// counters in shared memory (up to kSharedBins bins; more bins count straight
// into global memory) that it adds to 64-bit global counts, which are then
// converted to the histogram's dtype unless it is int64. Integer atomics
// either way, so the counts do not depend on the order the adds land in.
#include "../common/histogram.h"
#include "cuda_common.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr int64_t kSharedBins = 8192;     // 32 KB of counters
constexpr int64_t kOneBlockValues = 65536;  // counted by one block, in one launch
constexpr int kHistcBlock = 256;
constexpr int kOneBlock = 1024;

template <typename T>
using histc_math_t = std::conditional_t<std::is_floating_point_v<acc_t<T>>, acc_t<T>, double>;

template <typename T, typename A = histc_math_t<T>>
__global__ void histc_kernel(const T* x, int64_t n, int64_t stride, A lo, A hi, int64_t bins,
                             unsigned long long* counts) {
  extern __shared__ unsigned int local[];
  const bool in_shared = bins <= kSharedBins;
  if (in_shared) {
    for (int64_t b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
    __syncthreads();
  }
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t b = histc_bin<A>(load_as<A>(x[i * stride]), lo, hi, bins);
    if (b < 0) continue;
    if (in_shared) atomicAdd(&local[b], 1u);
    else atomicAdd(&counts[b], 1ull);
  }
  if (in_shared) {
    __syncthreads();
    for (int64_t b = threadIdx.x; b < bins; b += blockDim.x)
      if (local[b]) atomicAdd(&counts[b], static_cast<unsigned long long>(local[b]));
  }
}

// Every value counted by this one block; the histogram written whole, in O.
template <typename T, typename O, typename A = histc_math_t<T>>
__global__ void histc_one_block(const T* x, int64_t n, int64_t stride, A lo, A hi, int64_t bins, O* out) {
  extern __shared__ unsigned int local[];
  for (int64_t b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t b = histc_bin<A>(load_as<A>(x[i * stride]), lo, hi, bins);
    if (b >= 0) atomicAdd(&local[b], 1u);
  }
  __syncthreads();
  for (int64_t b = threadIdx.x; b < bins; b += blockDim.x) out[b] = store_as<O>(local[b]);
}

template <typename O>
__global__ void counts_to(const unsigned long long* counts, int64_t bins, O* out) {
  const int64_t b = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (b < bins) out[b] = store_as<O>(counts[b]);
}

}  // namespace

// tensors: counts (contiguous, one per bin, x's dtype), x (1-D);
// scalars [0].f lo, [1].f hi (backends/cpu/kernel_table.cpp documents it).
int k_histc(const gems_kernel_call* c) {
  const gems_tensor &counts = c->tensors[0], &x = c->tensors[1];
  const int64_t bins = counts.sizes[0], n = x.ndim ? x.sizes[0] : 1, stride = x.ndim ? x.strides[0] : 0;
  cudaStream_t stream = stream_of(c);
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kNumeric>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = reinterpret_cast<const T*>(base_ptr(x));
    const double lo = c->scalars[0].f, hi = c->scalars[1].f;
    using O = T;  // the histogram has its input's dtype
    [&] {
      O* out = reinterpret_cast<O*>(base_ptr(counts));
      if (n <= kOneBlockValues && bins <= kSharedBins) {
        histc_one_block<T, O><<<1, kOneBlock, static_cast<size_t>(bins) * sizeof(unsigned), stream>>>(
            px, n, stride, lo, hi, bins, out);
        return;
      }
      // 64-bit counts: the result itself when it is int64, else scratch converted at the end.
      constexpr bool kDirect = std::is_same_v<O, int64_t>;
      unsigned long long* wide = reinterpret_cast<unsigned long long*>(out);
      if (!kDirect && (status = scratch_malloc(reinterpret_cast<void**>(&wide), bins * sizeof(*wide), stream))) return;
      cudaMemsetAsync(wide, 0, static_cast<size_t>(bins) * sizeof(*wide), stream);
      // Enough blocks to fill the card; each thread counts at least 2 values.
      const int64_t want = (n + kHistcBlock * 2 - 1) / (kHistcBlock * 2);
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(want, int64_t{num_sms()} * 4));
      const size_t shared = bins <= kSharedBins ? static_cast<size_t>(bins) * sizeof(unsigned) : 0;
      histc_kernel<T><<<blocks, kHistcBlock, shared, stream>>>(px, n, stride, lo, hi, bins, wide);
      if constexpr (!kDirect) {
        counts_to<O><<<static_cast<unsigned>((bins + 255) / 256), 256, 0, stream>>>(wide, bins, out);
        scratch_free(wide, stream);
      }
    }();
  });
  if (status) return status;
  return ok ? launch_status("histc") : unsupported_dtype("histc", x.dtype);
}

}  // namespace gems::nvidia
