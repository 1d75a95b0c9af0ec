// torch.histc's counting: each block counts its values into a histogram of
// 32-bit counters in shared memory (up to kSharedBins bins; more bins count
// straight into global memory) that it then adds to the zeroed result with
// atomics. The result takes the adds itself when its dtype holds the counts
// exactly (int32, int64, float below 2^24 values, double); other dtypes count
// in 64-bit scratch, converted at the end. Integer-valued adds, so the counts
// do not depend on the order they land in.
#include "../common/histogram.h"
#include "cuda_common.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr int64_t kSharedBins = 8192;  // 32 KB of counters
constexpr int kHistcBlock = 256;

// counts[b] += v for the counting types (int64 through its unsigned twin).
template <typename C>
__device__ __forceinline__ void add_count(C* counts, int64_t b, unsigned v) {
  if constexpr (std::is_same_v<C, int64_t>)
    atomicAdd(reinterpret_cast<unsigned long long*>(counts + b), static_cast<unsigned long long>(v));
  else atomicAdd(counts + b, static_cast<C>(v));
}

// Adds 1 to local[b] for every lane of the warp holding b (b < 0: none): the
// lanes with one bin add once, through their lowest lane, so that a few bins
// (8 experts) do not serialise every thread of the block on 8 counters.
__device__ __forceinline__ void count_in_warp(unsigned int* local, int64_t b) {
  const unsigned active = __activemask();
  const unsigned same = __match_any_sync(active, b);
  if (b >= 0 && (threadIdx.x & 31) == __ffs(same) - 1) atomicAdd(&local[b], static_cast<unsigned>(__popc(same)));
}

template <typename T, typename C, typename A = histc_compute_t<acc_t<T>>>
__global__ void histc_kernel(const T* x, int64_t n, int64_t stride, A lo, A hi, int64_t bins, C* counts) {
  extern __shared__ unsigned int local[];
  const bool in_shared = bins <= kSharedBins;
  if (in_shared) {
    for (int64_t b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
    __syncthreads();
  }
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t b = histc_bin<A>(load_as<A>(x[i * stride]), lo, hi, bins);
    if (in_shared) count_in_warp(local, b);
    else if (b >= 0) add_count(counts, b, 1u);
  }
  if (in_shared) {
    __syncthreads();
    for (int64_t b = threadIdx.x; b < bins; b += blockDim.x)
      if (local[b]) add_count(counts, b, local[b]);
  }
}

template <typename O>
__global__ void counts_to(const unsigned long long* counts, int64_t bins, O* out) {
  const int64_t b = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (b < bins) out[b] = store_as<O>(counts[b]);
}

}  // namespace

// tensors: counts (contiguous, one per bin, x's dtype), x (1-D); scalars
// [0].f lo, [1].f hi (backends/cpu/kernel_table.cpp documents it).
int k_histc(const gems_kernel_call* c) {
  const gems_tensor &counts = c->tensors[0], &x = c->tensors[1];
  const int64_t bins = counts.sizes[0], n = x.ndim ? x.sizes[0] : 1, stride = x.ndim ? x.strides[0] : 0;
  cudaStream_t stream = stream_of(c);
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kNumeric>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;  // the histogram has its input's dtype
    T* out = reinterpret_cast<T*>(base_ptr(counts));
    auto count_into = [&](auto* into) {
      cudaMemsetAsync(into, 0, static_cast<size_t>(bins) * sizeof(*into), stream);
      if (n == 0) return;
      // A value a thread, enough blocks to fill the card once.
      const int64_t want = (n + kHistcBlock - 1) / kHistcBlock;
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(want, int64_t{num_sms()} * 8));
      const size_t shared = bins <= kSharedBins ? static_cast<size_t>(bins) * sizeof(unsigned) : 0;
      histc_kernel<T><<<blocks, kHistcBlock, shared, stream>>>(reinterpret_cast<const T*>(base_ptr(x)), n, stride,
                                                               c->scalars[0].f, c->scalars[1].f, bins, into);
    };
    constexpr bool kExactAdds = std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                                std::is_same_v<T, float> || std::is_same_v<T, double>;
    if constexpr (kExactAdds) {
      if (!std::is_same_v<T, float> || n < (int64_t{1} << 24)) {
        count_into(out);
        return;
      }
    }
    unsigned long long* wide = nullptr;
    if ((status = scratch_malloc(reinterpret_cast<void**>(&wide), static_cast<size_t>(bins) * sizeof(*wide), stream)))
      return;
    count_into(wide);
    counts_to<T><<<static_cast<unsigned>((bins + 255) / 256), 256, 0, stream>>>(wide, bins, out);
    scratch_free(wide, stream);
  });
  if (status) return status;
  return ok ? launch_status("histc") : unsupported_dtype("histc", x.dtype);
}

}  // namespace gems::nvidia
