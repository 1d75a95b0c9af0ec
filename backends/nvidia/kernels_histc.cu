// torch.histc's counting: one pass over the values, each block counting into
// a histogram of 32-bit counters in shared memory (up to kSharedBins bins)
// that it then adds to the global 64-bit counts; more bins count straight
// into global memory. Integer atomics, so the counts do not depend on the
// order the adds land in: deterministic.
#include "../common/histogram.h"
#include "cuda_common.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr int64_t kSharedBins = 8192;  // 32 KB of counters
constexpr int kHistcBlock = 256;

template <typename T, typename A = std::conditional_t<std::is_floating_point_v<acc_t<T>>, acc_t<T>, double>>
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

}  // namespace

// tensors: counts (int64, contiguous, one per bin), x (1-D); scalars [0].f lo,
// [1].f hi (backends/cpu/kernel_table.cpp documents it).
int k_histc(const gems_kernel_call* c) {
  const gems_tensor &counts = c->tensors[0], &x = c->tensors[1];
  const int64_t bins = counts.sizes[0], n = x.ndim ? x.sizes[0] : 1, stride = x.ndim ? x.strides[0] : 0;
  auto* out = reinterpret_cast<unsigned long long*>(base_ptr(counts));
  if (cudaMemsetAsync(out, 0, static_cast<size_t>(bins) * sizeof(*out), stream_of(c)) != cudaSuccess)
    return launch_status("histc");
  const bool ok = dispatch_dtype<kNumeric>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n == 0) return;
    // Enough blocks to fill the card; each thread counts at least 2 values.
    const int64_t want = (n + kHistcBlock * 2 - 1) / (kHistcBlock * 2);
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(want, int64_t{num_sms()} * 4));
    const size_t shared = bins <= kSharedBins ? static_cast<size_t>(bins) * sizeof(unsigned) : 0;
    histc_kernel<T><<<blocks, kHistcBlock, shared, stream_of(c)>>>(reinterpret_cast<const T*>(base_ptr(x)), n, stride,
                                                                  c->scalars[0].f, c->scalars[1].f, bins, out);
  });
  return ok ? launch_status("histc") : unsupported_dtype("histc", x.dtype);
}

}  // namespace gems::nvidia
