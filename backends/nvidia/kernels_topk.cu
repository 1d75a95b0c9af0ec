// topk on CUDA, one block per row. A radix select over order keys
// (backends/common/order_key.h) finds the k-th key eight bits at a time:
// a histogram of the candidates' next digit in shared memory (warp-aggregated
// atomics, since most keys of a row share their high digits), then the bin
// where the count from the top reaches k. One more pass gathers the elements
// above the k-th key and as many equal to it as are needed (the lowest
// indices first, so results are deterministic); a bitonic sort in shared
// memory orders the winners. The row's keys stay in shared memory after the
// first pass when they fit (rows up to ~50K floats on an H100); longer rows
// are read again each pass, from L2 once the first has read them.
#include <climits>

#include "../common/order_key.h"
#include "../common/topk_operands.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "reduce.cuh"

namespace gems::nvidia {
namespace {

// The winners are sorted in shared memory: k up to this many.
constexpr int kMaxK = kTopkMaxK;

template <typename T>
using key_t = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;

template <typename T>
__device__ __forceinline__ key_t<T> key_at(const T* x, int64_t i, int64_t stride, bool largest) {
  using A = acc_t<T>;
  const T v = x[i * stride];
  const A a = load_as<A>(v);
  return static_cast<key_t<T>>(order_key_of<T, is_float_v<T>, std::is_signed_v<A>>(v, a != a, largest));
}

__device__ __forceinline__ unsigned lanes_below() {
#if defined(GEMS_HIP)
  return gems_lanemask_lt();
#else
  unsigned m;
  asm("mov.u32 %0, %%lanemask_lt;" : "=r"(m));
  return m;
#endif
}

// Elements a thread loads before it uses any: enough loads in flight to
// hide the latency of memory (every pass is a loop of dependent steps).
constexpr int kBatch = 8;

// Calls f(i, key) for every element of the row, i >= n for padding lanes, in
// warp-uniform steps (f may use warp collectives). Keys come from `cache` in
// shared memory when there is one and `from_cache`, else from global memory.
template <typename T, typename K, typename F>
__device__ __forceinline__ void for_each_key(const T* x, int64_t n, int64_t xs, bool largest, const K* cache,
                                             bool from_cache, F f) {
  for (int64_t base = 0; base < n; base += int64_t{blockDim.x} * kBatch) {
    K keys[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int64_t i = base + int64_t{u} * blockDim.x + threadIdx.x;
      keys[u] = i < n ? (from_cache ? cache[i] : key_at(x, i, xs, largest)) : K(0);
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) f(base + int64_t{u} * blockDim.x + threadIdx.x, keys[u]);
  }
}

// kCached: the row's keys are kept in shared memory after the first pass.
template <typename T, bool kCached>
__global__ void topk_rows(StridedShape<3> outer, int64_t n, int k, int sort_n, int64_t vs, int64_t is,
                          int64_t xs, T* values, int64_t* indices, const T* in, bool largest) {
  using K = key_t<T>;
  extern __shared__ __align__(16) unsigned char smem[];
  K* win_key = reinterpret_cast<K*>(smem);                  // sort_n keys
  int* win_idx = reinterpret_cast<int*>(win_key + sort_n);  // and their indices
  K* cache = kCached ? reinterpret_cast<K*>(win_idx + sort_n + (sort_n & 1)) : nullptr;  // n keys
  __shared__ int hist[256];
  __shared__ K s_prefix;
  __shared__ int s_remaining, s_equal, s_count, s_warp[32];
  int64_t off[3];
  offsets_of(outer, blockIdx.x, off);
  T* v = values + off[0];
  int64_t* ix = indices + off[1];
  const T* x = in + off[2];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (threadIdx.x == 0) s_count = 0;

  // Candidates are the keys whose bits under `mask` equal `prefix`;
  // `remaining` of them are still to be taken, `equal` is how many there are.
  K prefix = 0, mask = 0;
  int remaining = k, equal = 0;
  bool cached = false;
  for (int shift = 8 * static_cast<int>(sizeof(T)) - 8; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    for_each_key(x, n, xs, largest, cache, cached, [&](int64_t i, K key) {
      int digit = 256;
      if (i < n) {
        if (kCached && !cached) cache[i] = key;
        if ((key & mask) == prefix) digit = static_cast<int>((key >> shift) & 0xff);
      }
      const unsigned peers = __match_any_sync(0xffffffffu, digit);
      if (digit < 256 && lane == __ffs(peers) - 1) atomicAdd(&hist[digit], __popc(peers));
    });
    cached = kCached;
    __syncthreads();
    if (warp == 0) {
      // Lane l owns 8 bins counted from the top; a scan over lanes finds the
      // bin where the count from the top reaches `remaining`.
      int c[8], sum = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) sum += c[j] = hist[255 - 8 * lane - j];
      int incl = sum;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= d) incl += y;
      }
      int above = incl - sum;
      if (above < remaining && remaining <= incl) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          if (above + c[j] >= remaining) {
            s_prefix = prefix | (static_cast<K>(255 - 8 * lane - j) << shift);
            s_remaining = remaining - above;
            s_equal = c[j];
            break;
          }
          above += c[j];
        }
      }
    }
    __syncthreads();
    prefix = s_prefix;
    remaining = s_remaining;
    equal = s_equal;
    mask |= static_cast<K>(0xff) << shift;
    if (equal == remaining) break;  // every candidate left is a winner
  }

  // Gather the winners: keys above the prefix, and the candidates too when all are taken.
  const bool take_equal = equal == remaining;
  for_each_key(x, n, xs, largest, cache, cached, [&](int64_t i, K key) {
    const K m = key & mask;
    const bool take = i < n && (m > prefix || (take_equal && m == prefix));
    const unsigned ballot = __ballot_sync(0xffffffffu, take);
    if (ballot) {
      int first = 0;
      if (lane == 0) first = atomicAdd(&s_count, __popc(ballot));
      first = __shfl_sync(0xffffffffu, first, 0);
      if (take) {
        const int slot = first + __popc(ballot & lanes_below());
        win_key[slot] = key;
        win_idx[slot] = static_cast<int>(i);
      }
    }
  });
  if (!take_equal) {
    // Ties at the k-th key (the mask is full here): the lowest indices, tile by tile.
    const int start = k - remaining;
    int taken = 0;
    for (int64_t base = 0; base < n && taken < remaining; base += blockDim.x) {
      const int64_t i = base + threadIdx.x;
      const bool tie = i < n && (cached ? cache[i] : key_at(x, i, xs, largest)) == prefix;
      const unsigned ballot = __ballot_sync(0xffffffffu, tie);
      if (lane == 0) s_warp[warp] = __popc(ballot);
      __syncthreads();
      int rank = taken, total = taken;
      for (int w = 0; w < nwarps; ++w) {
        if (w < warp) rank += s_warp[w];
        total += s_warp[w];
      }
      rank += __popc(ballot & lanes_below());
      if (tie && rank < remaining) {
        win_key[start + rank] = prefix;
        win_idx[start + rank] = static_cast<int>(i);
      }
      taken = total;
      __syncthreads();  // s_warp is rewritten by the next tile
    }
  }
  __syncthreads();

  // Bitonic sort of the winners: larger keys first, equal keys by index; the
  // padding (key 0, the largest index) sorts last.
  for (int j = k + threadIdx.x; j < sort_n; j += blockDim.x) {
    win_key[j] = 0;
    win_idx[j] = INT_MAX;
  }
  __syncthreads();
  for (int size = 2; size <= sort_n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < sort_n / 2; t += blockDim.x) {
        const int a = 2 * t - (t & (stride - 1)), b = a + stride;
        const K ka = win_key[a], kb = win_key[b];
        const int ia = win_idx[a], ib = win_idx[b];
        const bool b_first = kb > ka || (kb == ka && ib < ia);
        const bool a_first = ka > kb || (ka == kb && ia < ib);
        if ((a & size) == 0 ? b_first : a_first) {
          win_key[a] = kb; win_key[b] = ka;
          win_idx[a] = ib; win_idx[b] = ia;
        }
      }
      __syncthreads();
    }
  }
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const int i = win_idx[j];
    v[j * vs] = x[i * xs];
    ix[j * is] = i;
  }
}

// Shared memory a block may opt into on the current device.
int max_shared_per_block() { return device_attribute<cudaDevAttrMaxSharedMemoryPerBlockOptin>(); }

}  // namespace

// tensors: values [..., k], indices (int64) [..., k], in [..., n]; scalars[0].i largest.
int k_topk(const gems_kernel_call* c) {
  const TopkOperands op(c);
  if (op.k > op.n) return set_error_string(GEMS_INVALID_ARGUMENT, "topk: k is larger than the row");
  if (op.k > kMaxK || op.n > INT_MAX)
    return set_error_string(GEMS_UNSUPPORTED, "topk: the nvidia kernel sorts at most 2048 winners on chip");
  const bool ok = dispatch_dtype<kNumeric>(op.in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const gems_tensor* ops[3] = {&op.values, &op.indices, &op.in};
    const StridedShape<3> outer = outer_shape<3>(ops, op.last < 0 ? 0 : op.last);
    if (outer.numel == 0 || op.k == 0) return;
    int sort_n = 1;
    while (sort_n < op.k) sort_n <<= 1;
    const int threads = threads_for_row(op.n, kBatch);
    using K = key_t<T>;
    const size_t sort_bytes = static_cast<size_t>(sort_n) * (sizeof(K) + sizeof(int)) + sizeof(int);
    const size_t cached_bytes = sort_bytes + static_cast<size_t>(op.n) * sizeof(K);
    // hist and the other static shared variables take about 1.2 KB more
    const bool cache = cached_bytes + 2048 <= static_cast<size_t>(max_shared_per_block());
    auto launch = [&](auto kernel, size_t smem) {
      if (smem > 48 * 1024) cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      kernel<<<static_cast<unsigned>(outer.numel), threads, smem, stream_of(c)>>>(
          outer, op.n, static_cast<int>(op.k), sort_n, op.vs, op.is, op.xs,
          reinterpret_cast<T*>(base_ptr(op.values)), reinterpret_cast<int64_t*>(base_ptr(op.indices)),
          reinterpret_cast<const T*>(base_ptr(op.in)), op.largest);
    };
    if (cache) launch(topk_rows<T, true>, cached_bytes);
    else launch(topk_rows<T, false>, sort_bytes);
  });
  return ok ? launch_status("topk") : unsupported_dtype("topk", op.in.dtype);
}

}  // namespace gems::nvidia
