// Reductions, softmax and norms. Inputs arrive with the reduced
// dims last (the core permutes descriptors), like on every vendor.
#include "../common/trailing_dims.h"
#include "kernels.h"
#include "reduce.cuh"

namespace gems::nvidia {
namespace {

// The reduced (trailing) dims of the input (backends/common/trailing_dims.h).
struct Reduced : TrailingDims {
  using TrailingDims::TrailingDims;
  bool contiguous_row() const { return ndim == 0 || (ndim == 1 && strides[0] == 1); }
};

__device__ __forceinline__ int64_t reduced_offset(const Reduced& r, int64_t linear) {
  int64_t off = 0;
  for (int d = r.ndim - 1; d >= 0; --d) {
    off += (linear % r.sizes[d]) * r.strides[d];
    linear /= r.sizes[d];
  }
  return off;
}

// Writes one output's result: the value (divided by n for a mean) and, for
// policies that track one, the index.
template <typename T, typename A, typename P>
__device__ __forceinline__ void store_result(T* out, int64_t* idx, const int64_t* off, typename P::S s, int64_t n,
                                             bool mean) {
  if (mean) out[off[0]] = store_as<T>(s.v / static_cast<A>(n));
  else out[off[0]] = store_as<T>(s.v);
  if constexpr (sizeof(typename P::S) > sizeof(A)) { if (idx) idx[off[2]] = s.i; }
}

// One warp per output over contiguous rows.
template <typename T, typename A, typename P>
__global__ void reduce_rows_warp(StridedShape<3> outer, Reduced r, const T* in, T* out, int64_t* idx, bool mean) {
  const int64_t row = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (row >= outer.numel) return;
  int64_t off[3];
  offsets_of(outer, row, off);
  const T* p = in + off[1];
  typename P::S s = P::init();
  for (int64_t i = lane; i < r.numel; i += 32) P::add(s, load_as<A>(p[i]), i);
  s = warp_reduce<P>(s);
  if (lane == 0) {
    store_result<T, A, P>(out, idx, off, s, r.numel, mean);
  }
}

// Folds p[begin, end) into this thread's state s, element i with its index i:
// where p + begin is 16-byte aligned each thread loads kUnroll 16-byte vectors
// before it folds any, so that enough bytes are in flight; the elements past
// the last vector (or all of them, unaligned) one at a time. The block's
// threads share the range; block_reduce then combines their states. With
// kStream the vectors are loaded as read once (see streams_reads(); a
// compile-time choice: as a runtime flag it cost a bf16 row sum its gain).
template <typename T, typename A, typename P, bool kStream>
__device__ __forceinline__ void fold_range(const T* p, int64_t begin, int64_t end, typename P::S& s) {
  constexpr int V = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T);
  using W = Vec<T, V>;
  int64_t done = begin;
  if (V > 1 && reinterpret_cast<uintptr_t>(p + begin) % 16 == 0) {
    const int64_t nv = (end - begin) / V;
    const W* pv = reinterpret_cast<const W*>(p + begin);
    for (int64_t v0 = threadIdx.x; v0 < nv; v0 += int64_t{blockDim.x} * kUnroll) {
      W x[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t v = v0 + int64_t{u} * blockDim.x;
        if (v < nv) x[u] = kStream ? load_once(pv + v) : pv[v];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t v = v0 + int64_t{u} * blockDim.x;
        if (v < nv)
#pragma unroll
          for (int j = 0; j < V; ++j) P::add(s, load_as<A>(x[u].v[j]), begin + v * V + j);
      }
    }
    done = begin + nv * V;
  }
  for (int64_t i = done + threadIdx.x; i < end; i += blockDim.x) P::add(s, load_as<A>(p[i]), i);
}

// One block per output: long contiguous rows, folded by fold_range; blocks
// are sized so that one pass of them covers the row (a 4096-wide bf16 row:
// 128 threads), which keeps many rows resident per SM.
template <typename T, typename A, typename P, bool kStream>
__global__ void reduce_rows_block(StridedShape<3> outer, Reduced r, const T* in, T* out, int64_t* idx, bool mean) {
  int64_t off[3];
  offsets_of(outer, blockIdx.x, off);
  typename P::S s = P::init();
  fold_range<T, A, P, kStream>(in + off[1], 0, r.numel, s);
  s = block_reduce<P>(s);
  if (threadIdx.x == 0) {
    store_result<T, A, P>(out, idx, off, s, r.numel, mean);
  }
}

// Few long rows (a full reduction: x.sum(), x.max()): one block a row would
// leave most SMs idle (one block read 1M floats at about 1/20 of the card's
// bandwidth), so each row is cut into chunks, a block folds a chunk into a
// partial state, and a second kernel merges each row's partials in chunk order
// (so results are the same on every run).
template <typename T, typename A, typename P, bool kStream>
__global__ void reduce_chunks(StridedShape<3> outer, Reduced r, int64_t chunk, const T* in,
                              typename P::S* partials) {
  const int64_t row = blockIdx.y, begin = int64_t{blockIdx.x} * chunk;
  const int64_t end = begin + chunk < r.numel ? begin + chunk : r.numel;
  int64_t off[3];
  offsets_of(outer, row, off);
  typename P::S s = P::init();
  fold_range<T, A, P, kStream>(in + off[1], begin, end, s);
  s = block_reduce<P>(s);
  if (threadIdx.x == 0) partials[row * gridDim.x + blockIdx.x] = s;
}

template <typename T, typename A, typename P>
__global__ void merge_chunks(StridedShape<3> outer, int64_t n, int chunks, const typename P::S* partials, T* out,
                             int64_t* idx, bool mean) {
  const int64_t row = blockIdx.x;
  int64_t off[3];
  offsets_of(outer, row, off);
  typename P::S s = P::init();
  // Each thread merges a contiguous run of chunks, in order; then the block.
  const int per = (chunks + blockDim.x - 1) / blockDim.x;
  for (int c = threadIdx.x * per; c < chunks && c < (threadIdx.x + 1) * per; ++c)
    s = P::merge(s, partials[row * chunks + c]);
  s = block_reduce<P>(s);
  if (threadIdx.x == 0) {
    store_result<T, A, P>(out, idx, off, s, n, mean);
  }
}

// One thread per output, any reduced layout (adjacent threads read adjacent
// memory when the kept dims are innermost, e.g. a sum over dim 0).
template <typename T, typename A, typename P>
__global__ void reduce_generic(StridedShape<3> outer, Reduced r, const T* in, T* out, int64_t* idx, bool mean) {
  const int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (o >= outer.numel) return;
  int64_t off[3];
  offsets_of(outer, o, off);
  const T* p = in + off[1];
  typename P::S s = P::init();
  for (int64_t i = 0; i < r.numel; ++i) P::add(s, load_as<A>(p[reduced_offset(r, i)]), i);
  store_result<T, A, P>(out, idx, off, s, r.numel, mean);
}

// A block per output, any reduced layout: few outputs over a strided reduced
// dim (x.sum(0) of a tall matrix with few columns), where a thread per output
// walked thousands of elements one after another (2.8 ms for 8192x8 int64).
template <typename T, typename A, typename P>
__global__ void reduce_generic_block(StridedShape<3> outer, Reduced r, const T* in, T* out, int64_t* idx, bool mean) {
  int64_t off[3];
  offsets_of(outer, blockIdx.x, off);
  const T* p = in + off[1];
  typename P::S s = P::init();
  for (int64_t i = threadIdx.x; i < r.numel; i += blockDim.x) P::add(s, load_as<A>(p[reduced_offset(r, i)]), i);
  s = block_reduce<P>(s);
  if (threadIdx.x == 0) {
    store_result<T, A, P>(out, idx, off, s, r.numel, mean);
  }
}

template <typename T, typename A, typename P>
void reduce_launch(const gems_kernel_call* c, bool mean, bool with_indices) {
  const gems_tensor& out = c->tensors[0];
  const gems_tensor& in = c->tensors[1];
  const gems_tensor& indices = with_indices ? c->tensors[2] : c->tensors[0];
  const gems_tensor* ops[3] = {&out, &in, &indices};
  StridedShape<3> outer = outer_shape<3>(ops, out.ndim);
  Reduced r(in, out.ndim);
  if (outer.numel == 0) return;
  T* po = reinterpret_cast<T*>(base_ptr(out));
  const T* pi = reinterpret_cast<const T*>(base_ptr(in));
  int64_t* px = with_indices ? reinterpret_cast<int64_t*>(base_ptr(indices)) : nullptr;
  cudaStream_t st = stream_of(c);
  constexpr int64_t kChunk = 8192;  // elements a block folds when rows are split
  const bool stream = streams_reads(outer.numel * r.numel * static_cast<int64_t>(sizeof(T)));
  if (r.contiguous_row() && outer.numel < num_sms() && r.numel >= 4 * kChunk) {
    const int64_t chunks = std::min<int64_t>((r.numel + kChunk - 1) / kChunk, (4 * num_sms() + outer.numel - 1) / outer.numel);
    constexpr int V = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T);
    const int64_t chunk = ((r.numel + chunks - 1) / chunks + V - 1) / V * V;  // whole vectors: chunks stay aligned
    const int64_t used = (r.numel + chunk - 1) / chunk;
    typename P::S* partials = nullptr;
    if (scratch_malloc(reinterpret_cast<void**>(&partials), outer.numel * used * sizeof(typename P::S), st) == GEMS_OK) {
      const dim3 grid(static_cast<unsigned>(used), static_cast<unsigned>(outer.numel));
      if (stream) reduce_chunks<T, A, P, true><<<grid, 256, 0, st>>>(outer, r, chunk, pi, partials);
      else reduce_chunks<T, A, P, false><<<grid, 256, 0, st>>>(outer, r, chunk, pi, partials);
      merge_chunks<T, A, P><<<static_cast<unsigned>(outer.numel), 128, 0, st>>>(outer, r.numel, static_cast<int>(used),
                                                                             partials, po, px, mean);
      scratch_free(partials, st);
      return;
    }
    cudaGetLastError();  // no scratch: one block a row, below
  }
  if (!r.contiguous_row() && outer.numel < 4 * int64_t{num_sms()} && r.numel >= 1024) {
    reduce_generic_block<T, A, P><<<static_cast<unsigned>(outer.numel), 256, 0, st>>>(outer, r, pi, po, px, mean);
  } else if (!r.contiguous_row()) {
    reduce_generic<T, A, P><<<static_cast<unsigned>((outer.numel + 255) / 256), 256, 0, st>>>(outer, r, pi, po, px,
                                                                                               mean);
  } else if (r.numel >= 2048) {
    constexpr int V = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T);
    const int threads = std::max(64, std::min(512, threads_for_row(r.numel, int64_t{V} * kUnroll)));
    const unsigned blocks = static_cast<unsigned>(outer.numel);
    if (stream) reduce_rows_block<T, A, P, true><<<blocks, threads, 0, st>>>(outer, r, pi, po, px, mean);
    else reduce_rows_block<T, A, P, false><<<blocks, threads, 0, st>>>(outer, r, pi, po, px, mean);
  } else {
    const int64_t threads = outer.numel * 32;
    reduce_rows_warp<T, A, P><<<static_cast<unsigned>((threads + 255) / 256), 256, 0, st>>>(outer, r, pi, po, px, mean);
  }
}

template <bool kMean>
int reduce_sum_like(const char* name, const gems_kernel_call* c) {
  const bool ok = dispatch_dtype<kMean ? kFloating : kNumeric>(c->tensors[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_integral_v<T>, long long, std::conditional_t<std::is_same_v<T, double>, double, float>>;
    reduce_launch<T, A, SumPolicy<A>>(c, kMean, false);
  });
  return ok ? launch_status(name) : unsupported_dtype(name, c->tensors[1].dtype);
}

template <bool kMax>
int reduce_extreme(const char* name, const gems_kernel_call* c) {
  const bool ok = dispatch_dtype<kAll>(c->tensors[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A0 = acc_t<T>;
    using A = std::conditional_t<std::is_same_v<A0, bool> || sizeof(A0) < 4, int, std::conditional_t<std::is_same_v<A0, int64_t>, long long, A0>>;
    reduce_launch<T, A, ExtremePolicy<A, kMax>>(c, false, c->num_tensors > 2);
  });
  return ok ? launch_status(name) : unsupported_dtype(name, c->tensors[1].dtype);
}

// ---- softmax family: rows along the last dim, any strides ----
template <typename T, bool kLog>
__global__ void softmax_rows(StridedShape<2> outer, int64_t n, int64_t so, int64_t si, T* out, const T* in) {
  using A = acc_t<T>;
  int64_t off[2];
  offsets_of(outer, blockIdx.x, off);
  const T* x = in + off[1];
  T* y = out + off[0];
  using P = LsePolicy<A>;
  typename P::S state = P::init();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) P::add(state, load_as<A>(x[i * si]), i);  // one read
  state = block_reduce_all<P>(state);
  A mx = state.mx;
  const A sum = state.sum;
  if (mx == -INFINITY) mx = 0;  // an all -inf row gives zeros, not NaN
  if constexpr (kLog) {
    const A lse = ::log(sum) + mx;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) y[i * so] = store_as<T>(load_as<A>(x[i * si]) - lse);
  } else {
    const A inv = A(1) / sum;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      y[i * so] = store_as<T>(::exp(load_as<A>(x[i * si]) - mx) * inv);
  }
}

template <typename T, bool kLog>
__global__ void softmax_rows_cached(StridedShape<2> outer, int64_t n, T* out, const T* in) {
  using A = acc_t<T>;
  extern __shared__ unsigned char smem[];
  A* row = reinterpret_cast<A*>(smem);
  int64_t off[2];
  offsets_of(outer, blockIdx.x, off);
  load_row(in + off[1], n, row);
  A mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) mx = row[i] > mx ? row[i] : mx;
  mx = block_max_all(mx);
  if (mx == -INFINITY) mx = 0;  // an all -inf row gives zeros, not NaN
  A sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += ::exp(row[i] - mx);
  sum = block_sum_all(sum);
  if constexpr (kLog) {
    const A lse = ::log(sum) + mx;
    store_row(out + off[0], n, [&](int64_t i) { return row[i] - lse; });
  } else {
    const A inv = A(1) / sum;
    store_row(out + off[0], n, [&](int64_t i) { return ::exp(row[i] - mx) * inv; });
  }
}

// exp(x) for x <= 0 (a score minus its row's max) of a softmax whose output is
// 16-bit: the hardware's approximate exponential (a few float ulps, far below
// a 16-bit output's rounding); float and double outputs keep the exact one.
template <typename T, typename A>
__device__ __forceinline__ A softmax_exp(A x) {
  if constexpr (sizeof(T) == 2) return __expf(x);
  else return ::exp(x);
}

// The same with the row in registers (as the norms below): one read, one
// write, no shared-memory row; for dense, 16-byte aligned rows up to 4096
// vectors. Each exponential is computed once: kept in the row's registers
// between the sum and the store (the exps had made the 16-bit kernel
// compute-bound).
template <typename T, int kVecs, bool kLog>
__global__ void softmax_rows_in_registers(StridedShape<2> outer, int64_t n, T* out, const T* in) {
  using Row = RowInRegisters<T, kVecs>;
  using A = typename Row::A;
  constexpr int V = Row::V;
  int64_t off[2];
  offsets_of(outer, blockIdx.x, off);
  Row row;
  A mx = -INFINITY;
  row.load(in + off[1], n, [&](A x) { mx = x > mx ? x : mx; });
  mx = block_max_all(mx);
  if (mx == -INFINITY) mx = 0;  // an all -inf row gives zeros, as softmax_rows_cached
  A sum = 0;
#pragma unroll
  for (int k = 0; k < kVecs; ++k)
    if (row.has(k))
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const A e = softmax_exp<T>(row.v[k][j] - mx);
        sum += e;
        if constexpr (!kLog) row.v[k][j] = e;
      }
  sum = block_sum_all(sum);
  const A lse = ::log(sum) + mx, inv = A(1) / sum;
  auto* y = reinterpret_cast<Vec<T, V>*>(out + off[0]);
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    if (!row.has(k)) continue;
    Vec<T, V> o;
#pragma unroll
    for (int j = 0; j < V; ++j) o.v[j] = store_as<T>(kLog ? row.v[k][j] - lse : row.v[k][j] * inv);
    y[row.index(k)] = o;
  }
}

template <typename T, bool kLog>
__global__ void softmax_backward_rows(StridedShape<3> outer, int64_t n, int64_t s0, int64_t s1, int64_t s2, T* gin,
                                      const T* gout, const T* y) {
  using A = acc_t<T>;
  int64_t off[3];
  offsets_of(outer, blockIdx.x, off);
  A dot = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const A g = load_as<A>(gout[off[1] + i * s1]);
    dot += kLog ? g : g * load_as<A>(y[off[2] + i * s2]);
  }
  dot = block_sum_all(dot);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const A g = load_as<A>(gout[off[1] + i * s1]), v = load_as<A>(y[off[2] + i * s2]);
    gin[off[0] + i * s0] = store_as<T>(kLog ? g - ::exp(v) * dot : v * (g - dot));
  }
}

// ---- cumsum: one block scans one row, a tile of blockDim * kVecs vectors of
// kItems elements at a time, carrying the running total from tile to tile.
// Thread t owns vectors t, t + blockDim, ... of the tile, so that each of its
// kVecs 16-byte loads and stores is coalesced across the warp (a thread that
// owned kVecs adjacent vectors made every access a 64-byte stride: 2.0 TB/s on
// an H100). All loads are issued before any use; the kVecs block scans run
// side by side, one set of barriers for all of them.
template <typename T> using scan_t = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;

// Exclusive prefixes of the N values v[j] over the block (blockDim a multiple
// of 32), each scanned on its own; total[j] is the block's sum of v[j].
template <typename A, int N>
__device__ void block_exclusive_scans(const A (&v)[N], A (&prefix)[N], A (&total)[N]) {
  __shared__ A warp_sums[N][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  A x[N];
#pragma unroll
  for (int j = 0; j < N; ++j) x[j] = v[j];
#pragma unroll
  for (int d = 1; d < 32; d <<= 1)
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const A y = __shfl_up_sync(0xffffffffu, x[j], d);
      if (lane >= d) x[j] += y;
    }
  if (lane == 31)
#pragma unroll
    for (int j = 0; j < N; ++j) warp_sums[j][warp] = x[j];
  __syncthreads();
  for (int j = warp; j < N; j += nwarps) {  // warp w scans the warp sums of values w, w + nwarps, ...
    A w = lane < nwarps ? warp_sums[j][lane] : A(0);
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      const A y = __shfl_up_sync(0xffffffffu, w, d);
      if (lane >= d) w += y;
    }
    warp_sums[j][lane] = w;
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < N; ++j) {
    prefix[j] = (warp > 0 ? warp_sums[j][warp - 1] : A(0)) + x[j] - v[j];
    total[j] = warp_sums[j][nwarps - 1];
  }
  __syncthreads();  // warp_sums is reused by the next tile
}

template <typename T, int kItems, int kVecs>
__global__ void cumsum_rows(StridedShape<2> outer, int64_t n, int64_t so, int64_t si, T* out, const T* in) {
  using A = scan_t<T>;
  using V = Vec<T, kItems>;
  int64_t off[2];
  offsets_of(outer, blockIdx.x, off);
  const T* x = in + off[1];
  T* y = out + off[0];
  const bool vector = si == 1 && so == 1 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(y) % 16 == 0;
  const int64_t tile = int64_t{blockDim.x} * kVecs * kItems;
  A carry = 0;
  for (int64_t base = 0; base < n; base += tile) {
    // first element of this thread's vector j
    auto first = [&](int j) { return base + (int64_t{j} * blockDim.x + threadIdx.x) * kItems; };
    A run[kVecs][kItems];
    bool whole[kVecs];
#pragma unroll
    for (int j = 0; j < kVecs; ++j) {
      whole[j] = vector && first(j) + kItems <= n;
      if (whole[j]) {
        const V v = *reinterpret_cast<const V*>(x + first(j));
#pragma unroll
        for (int e = 0; e < kItems; ++e) run[j][e] = load_as<A>(v.v[e]);
      } else {
#pragma unroll
        for (int e = 0; e < kItems; ++e) run[j][e] = first(j) + e < n ? load_as<A>(x[(first(j) + e) * si]) : A(0);
      }
    }
    A local[kVecs], prefix[kVecs], total[kVecs];
#pragma unroll
    for (int j = 0; j < kVecs; ++j) {
      A s = 0;
#pragma unroll
      for (int e = 0; e < kItems; ++e) run[j][e] = s += run[j][e];
      local[j] = s;
    }
    block_exclusive_scans(local, prefix, total);
#pragma unroll
    for (int j = 0; j < kVecs; ++j) {
      const A before = carry + prefix[j];  // every element of earlier vectors of the row
      if (whole[j]) {
        V v;
#pragma unroll
        for (int e = 0; e < kItems; ++e) v.v[e] = store_as<T>(before + run[j][e]);
        *reinterpret_cast<V*>(y + first(j)) = v;
      } else {
#pragma unroll
        for (int e = 0; e < kItems; ++e)
          if (first(j) + e < n) y[(first(j) + e) * so] = store_as<T>(before + run[j][e]);
      }
      carry += total[j];
    }
  }
}

// Whether every row that `outer` addresses in operand k starts on a 16-byte
// boundary: the base is aligned and every outer stride is a multiple of V.
template <int N>
bool rows_aligned(const StridedShape<N>& outer, int V, const char* base, int k = 0) {
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0) return false;
  for (int d = 0; d < outer.ndim; ++d)
    if (outer.strides[k][d] % V != 0) return false;
  return true;
}

template <bool kLog>
int softmax_forward(const char* name, const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const int k = out.ndim - 1;
  const int64_t n = k >= 0 ? out.sizes[k] : 1;
  const bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const gems_tensor* ops[2] = {&out, &in};
    StridedShape<2> outer = outer_shape<2>(ops, k < 0 ? 0 : k);
    if (outer.numel == 0 || n == 0) return;
    const bool dense_rows = k >= 0 && out.strides[k] == 1 && in.strides[k] == 1;
    constexpr int V = 16 / sizeof(T);
    if (dense_rows && V > 1 && n % V == 0 && n / V <= 4 * 1024 && rows_aligned(outer, V, base_ptr(out)) &&
        rows_aligned(outer, V, base_ptr(in), 1)) {
      with_vectors_per_thread(vectors_per_thread(outer.numel, n / V), [&](auto vecs) {
        constexpr int kVecs = decltype(vecs)::value;
        softmax_rows_in_registers<T, kVecs, kLog>
            <<<static_cast<unsigned>(outer.numel), threads_for_row(n / V, kVecs), 0, stream_of(c)>>>(
                outer, n, reinterpret_cast<T*>(base_ptr(out)), reinterpret_cast<const T*>(base_ptr(in)));
      });
      return;
    }
    const int64_t cache = n * static_cast<int64_t>(sizeof(acc_t<T>));
    if (dense_rows && cache <= kRowCacheBytes && allow_shared(softmax_rows_cached<T, kLog>, cache)) {
      softmax_rows_cached<T, kLog><<<static_cast<unsigned>(outer.numel), row_block(n), cache, stream_of(c)>>>(
          outer, n, reinterpret_cast<T*>(base_ptr(out)), reinterpret_cast<const T*>(base_ptr(in)));
      return;
    }
    softmax_rows<T, kLog><<<static_cast<unsigned>(outer.numel), block_for(n), 0, stream_of(c)>>>(
        outer, n, k >= 0 ? out.strides[k] : 1, k >= 0 ? in.strides[k] : 1, reinterpret_cast<T*>(base_ptr(out)),
        reinterpret_cast<const T*>(base_ptr(in)));
  });
  return ok ? launch_status(name) : unsupported_dtype(name, out.dtype);
}

template <bool kLog>
int softmax_backward(const char* name, const gems_kernel_call* c) {
  const gems_tensor *t = c->tensors;
  const int k = t[0].ndim - 1;
  const int64_t n = k >= 0 ? t[0].sizes[k] : 1;
  const bool ok = dispatch_dtype<kFloating>(t[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const gems_tensor* ops[3] = {&t[0], &t[1], &t[2]};
    StridedShape<3> outer = outer_shape<3>(ops, k < 0 ? 0 : k);
    if (outer.numel == 0 || n == 0) return;
    auto s = [&](int j) { return k >= 0 ? t[j].strides[k] : int64_t{1}; };
    softmax_backward_rows<T, kLog><<<static_cast<unsigned>(outer.numel), block_for(n), 0, stream_of(c)>>>(
        outer, n, s(0), s(1), s(2), reinterpret_cast<T*>(base_ptr(t[0])), reinterpret_cast<const T*>(base_ptr(t[1])),
        reinterpret_cast<const T*>(base_ptr(t[2])));
  });
  return ok ? launch_status(name) : unsupported_dtype(name, t[0].dtype);
}

// ---- norms over contiguous rows ----

template <typename T>
__global__ void layer_norm_rows(int64_t N, const T* X, T* Y, stat_t<T>* MEAN, stat_t<T>* RSTD, const T* W, const T* B,
                                double eps, int64_t xs, int64_t ys) {
  using A = acc_t<T>;
  const T* x = X + blockIdx.x * xs;
  T* y = Y + blockIdx.x * ys;
  A s = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += load_as<A>(x[i]);
  const A mu = block_sum_all(s) / A(N);
  A v = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) { const A d = load_as<A>(x[i]) - mu; v += d * d; }
  const A rs = A(1) / ::sqrt(block_sum_all(v) / A(N) + A(eps));
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    A o = (load_as<A>(x[i]) - mu) * rs;
    if (W) o *= load_as<A>(W[i]);
    if (B) o += load_as<A>(B[i]);
    y[i] = store_as<T>(o);
  }
  if (threadIdx.x == 0) { MEAN[blockIdx.x] = mu; RSTD[blockIdx.x] = rs; }
}

// Rows held in registers: each thread owns kVecs 16-byte vectors of its row
// (adjacent threads adjacent vectors, so loads coalesce), the row is read
// once and written once, and only the two block sums touch shared memory.
// kLayerNorm: (x - mean) * rstd * w + b; else RMSNorm: x * rstd * w.
template <typename T, int kVecs, bool kLayerNorm>
__global__ void norm_rows_in_registers(int64_t N, const T* X, T* Y, stat_t<T>* MEAN, stat_t<T>* RSTD, const T* W,
                                       const T* B, double eps, int64_t xs, int64_t ys) {
  using Row = RowInRegisters<T, kVecs>;
  using A = typename Row::A;
  constexpr int V = Row::V;
  Row row;
  A s = 0;
  row.load(X + blockIdx.x * xs, N, [&](A x) { s += kLayerNorm ? x : x * x; });
  A mu = 0, rs;
  if constexpr (kLayerNorm) {
    mu = block_sum_all(s) / A(N);
    A q = 0;
#pragma unroll
    for (int k = 0; k < kVecs; ++k)
      if (row.has(k))
#pragma unroll
        for (int j = 0; j < V; ++j) q += (row.v[k][j] - mu) * (row.v[k][j] - mu);
    rs = A(1) / ::sqrt(block_sum_all(q) / A(N) + A(eps));
  } else {
    rs = A(1) / ::sqrt(block_sum_all(s) / A(N) + A(eps));
  }
  auto* y = reinterpret_cast<Vec<T, V>*>(Y + blockIdx.x * ys);
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    if (!row.has(k)) continue;
    const int64_t i = row.index(k);
    Vec<T, V> w, b, o;
    if (W) w = reinterpret_cast<const Vec<T, V>*>(W)[i];
    if (kLayerNorm && B) b = reinterpret_cast<const Vec<T, V>*>(B)[i];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      A r = (row.v[k][j] - mu) * rs;
      if (W) r *= load_as<A>(w.v[j]);
      if (kLayerNorm && B) r += load_as<A>(b.v[j]);
      o.v[j] = store_as<T>(r);
    }
    y[i] = o;
  }
  if (threadIdx.x == 0) {
    if (kLayerNorm) MEAN[blockIdx.x] = mu;
    RSTD[blockIdx.x] = rs;
  }
}

// Launches norm_rows_in_registers when rows are whole aligned 16-byte vectors
// that fit the registers of one block; false otherwise.
template <typename T, bool kLayerNorm>
bool launch_norm_in_registers(const gems_kernel_call* c, int64_t M, int64_t N, const T* X, T* Y, stat_t<T>* MEAN,
                              stat_t<T>* RSTD, const T* W, const T* B, int64_t xs, int64_t ys) {
  constexpr int V = 16 / sizeof(T);
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  if (V < 2 || N % V != 0 || N / V > 4 * 1024 || (xs * sizeof(T)) % 16 != 0 ||
      (ys * sizeof(T)) % 16 != 0 || !aligned(X) || !aligned(Y) || (W && !aligned(W)) || (B && !aligned(B)))
    return false;
  with_vectors_per_thread(vectors_per_thread(M, N / V), [&](auto vecs) {
    constexpr int kVecs = decltype(vecs)::value;
    norm_rows_in_registers<T, kVecs, kLayerNorm><<<static_cast<unsigned>(M), threads_for_row(N / V, kVecs), 0,
                                                   stream_of(c)>>>(N, X, Y, MEAN, RSTD, W, B, c->scalars[0].f, xs,
                                                                   ys);
  });
  return true;
}

template <typename T>
__global__ void layer_norm_rows_cached(int64_t N, const T* X, T* Y, stat_t<T>* MEAN, stat_t<T>* RSTD, const T* W,
                                       const T* B, double eps, int64_t xs, int64_t ys) {
  using A = acc_t<T>;
  extern __shared__ unsigned char smem[];
  A* row = reinterpret_cast<A*>(smem);
  load_row(X + blockIdx.x * xs, N, row);
  A s = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += row[i];
  const A mu = block_sum_all(s) / A(N);
  A v = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) { const A d = row[i] - mu; v += d * d; }
  const A rs = A(1) / ::sqrt(block_sum_all(v) / A(N) + A(eps));
  store_row(Y + blockIdx.x * ys, N, [&](int64_t i) {
    A o = (row[i] - mu) * rs;
    if (W) o *= load_as<A>(W[i]);
    if (B) o += load_as<A>(B[i]);
    return o;
  });
  if (threadIdx.x == 0) { MEAN[blockIdx.x] = mu; RSTD[blockIdx.x] = rs; }
}

template <typename T>
__global__ void rms_norm_rows_cached(int64_t N, const T* X, T* Y, stat_t<T>* RSTD, const T* W, double eps) {
  using A = acc_t<T>;
  extern __shared__ unsigned char smem[];
  A* row = reinterpret_cast<A*>(smem);
  load_row(X + blockIdx.x * N, N, row);
  A ss = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) ss += row[i] * row[i];
  const A rs = A(1) / ::sqrt(block_sum_all(ss) / A(N) + A(eps));
  store_row(Y + blockIdx.x * N, N, [&](int64_t i) { return row[i] * rs * (W ? load_as<A>(W[i]) : A(1)); });
  if (threadIdx.x == 0) RSTD[blockIdx.x] = rs;
}

template <typename T>
__global__ void layer_norm_backward_rows(int64_t N, const T* dY, const T* X, const stat_t<T>* MEAN,
                                         const stat_t<T>* RSTD, const T* W, T* dX) {
  using A = acc_t<T>;
  const int64_t r = blockIdx.x;
  const A mu = MEAN[r], rs = RSTD[r];
  A sg = 0, sgx = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const A g = load_as<A>(dY[r * N + i]) * (W ? load_as<A>(W[i]) : A(1));
    sg += g;
    sgx += g * (load_as<A>(X[r * N + i]) - mu) * rs;
  }
  sg = block_sum_all(sg);
  sgx = block_sum_all(sgx);
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const A g = load_as<A>(dY[r * N + i]) * (W ? load_as<A>(W[i]) : A(1));
    const A xh = (load_as<A>(X[r * N + i]) - mu) * rs;
    dX[r * N + i] = store_as<T>(rs * (g - sg / A(N) - xh * sgx / A(N)));
  }
}

// Column sums for weight/bias gradients: one thread per column.
template <typename T>
__global__ void norm_param_grads(int64_t M, int64_t N, const T* dY, const T* X, const stat_t<T>* MEAN,
                                 const stat_t<T>* RSTD, T* dW, T* dB) {
  using A = acc_t<T>;
  const int64_t col = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (col >= N) return;
  A gw = 0, gb = 0;
  for (int64_t r = 0; r < M; ++r) {
    const A g = load_as<A>(dY[r * N + col]);
    const A xh = MEAN ? (load_as<A>(X[r * N + col]) - A(MEAN[r])) * A(RSTD[r]) : load_as<A>(X[r * N + col]) * A(RSTD[r]);
    gw += g * xh;
    gb += g;
  }
  if (dW) dW[col] = store_as<T>(gw);
  if (dB) dB[col] = store_as<T>(gb);
}

template <typename T>
__global__ void rms_norm_rows(int64_t N, const T* X, T* Y, stat_t<T>* RSTD, const T* W, double eps) {
  using A = acc_t<T>;
  const T* x = X + blockIdx.x * N;
  T* y = Y + blockIdx.x * N;
  A ss = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) { const A v = load_as<A>(x[i]); ss += v * v; }
  const A rs = A(1) / ::sqrt(block_sum_all(ss) / A(N) + A(eps));
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
    y[i] = store_as<T>(load_as<A>(x[i]) * rs * (W ? load_as<A>(W[i]) : A(1)));
  if (threadIdx.x == 0) RSTD[blockIdx.x] = rs;
}

template <typename T>
__global__ void rms_norm_backward_rows(int64_t N, const T* dY, const T* X, const stat_t<T>* RSTD, const T* W, T* dX) {
  using A = acc_t<T>;
  const int64_t r = blockIdx.x;
  const A rs = RSTD[r];
  A dot = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
    dot += load_as<A>(dY[r * N + i]) * (W ? load_as<A>(W[i]) : A(1)) * load_as<A>(X[r * N + i]);
  dot = block_sum_all(dot);
  const A k = rs * rs * rs * dot / A(N);
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const A g = load_as<A>(dY[r * N + i]) * (W ? load_as<A>(W[i]) : A(1));
    dX[r * N + i] = store_as<T>(g * rs - load_as<A>(X[r * N + i]) * k);
  }
}

}  // namespace

int k_reduce_sum(const gems_kernel_call* c) { return reduce_sum_like<false>("reduce_sum", c); }
int k_reduce_mean(const gems_kernel_call* c) { return reduce_sum_like<true>("reduce_mean", c); }
int k_reduce_max(const gems_kernel_call* c) { return reduce_extreme<true>("reduce_max", c); }
int k_reduce_min(const gems_kernel_call* c) { return reduce_extreme<false>("reduce_min", c); }
// tensors: out, in (same shape, numeric); the scan runs along the last dim.
int k_cumsum(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const int k = out.ndim - 1;
  const int64_t n = k >= 0 ? out.sizes[k] : 1;
  const bool ok = dispatch_dtype<kNumeric>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kItems = sizeof(T) >= 16 ? 1 : 16 / sizeof(T), kVecs = sizeof(T) == 1 ? 2 : 4;
    const gems_tensor* ops[2] = {&out, &in};
    StridedShape<2> outer = outer_shape<2>(ops, k < 0 ? 0 : k);
    if (outer.numel == 0 || n == 0) return;
    const int threads = threads_for_row(n, kItems * kVecs);
    cumsum_rows<T, kItems, kVecs><<<static_cast<unsigned>(outer.numel), threads, 0, stream_of(c)>>>(
        outer, n, k >= 0 ? out.strides[k] : 1, k >= 0 ? in.strides[k] : 1, reinterpret_cast<T*>(base_ptr(out)),
        reinterpret_cast<const T*>(base_ptr(in)));
  });
  return ok ? launch_status("cumsum") : unsupported_dtype("cumsum", out.dtype);
}

int k_softmax(const gems_kernel_call* c) { return softmax_forward<false>("softmax", c); }
int k_log_softmax(const gems_kernel_call* c) { return softmax_forward<true>("log_softmax", c); }
int k_softmax_backward(const gems_kernel_call* c) { return softmax_backward<false>("softmax_backward", c); }
int k_log_softmax_backward(const gems_kernel_call* c) { return softmax_backward<true>("log_softmax_backward", c); }

int k_layer_norm(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[3].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = t[3].sizes[0], N = t[3].sizes[1];
    if (M == 0) return;
    if (launch_norm_in_registers<T, true>(c, M, N, ptr<T>(t[3]), ptr<T>(t[0]), ptr<stat_t<T>>(t[1]),
                                          ptr<stat_t<T>>(t[2]), ptr<T>(t[4]), ptr<T>(t[5]), t[3].strides[0],
                                          t[0].strides[0]))
      return;
    const int64_t cache = N * static_cast<int64_t>(sizeof(acc_t<T>));
    if (cache <= kRowCacheBytes && allow_shared(layer_norm_rows_cached<T>, cache)) {
      layer_norm_rows_cached<T><<<static_cast<unsigned>(M), row_block(N), cache, stream_of(c)>>>(
          N, ptr<T>(t[3]), ptr<T>(t[0]), ptr<stat_t<T>>(t[1]), ptr<stat_t<T>>(t[2]), ptr<T>(t[4]), ptr<T>(t[5]),
          c->scalars[0].f, t[3].strides[0], t[0].strides[0]);
      return;
    }
    layer_norm_rows<T><<<static_cast<unsigned>(M), block_for(N), 0, stream_of(c)>>>(
        N, ptr<T>(t[3]), ptr<T>(t[0]), ptr<stat_t<T>>(t[1]), ptr<stat_t<T>>(t[2]), ptr<T>(t[4]), ptr<T>(t[5]),
        c->scalars[0].f, t[3].strides[0], t[0].strides[0]);
  });
  return ok ? launch_status("layer_norm") : unsupported_dtype("layer_norm", t[3].dtype);
}

int k_layer_norm_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[4].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = t[4].sizes[0], N = t[4].sizes[1];
    if (t[0].data && M)
      layer_norm_backward_rows<T><<<static_cast<unsigned>(M), block_for(N), 0, stream_of(c)>>>(
          N, ptr<T>(t[3]), ptr<T>(t[4]), ptr<stat_t<T>>(t[5]), ptr<stat_t<T>>(t[6]), ptr<T>(t[7]), ptr<T>(t[0]));
    if (t[1].data || t[2].data)
      norm_param_grads<T><<<static_cast<unsigned>((N + 255) / 256), 256, 0, stream_of(c)>>>(
          M, N, ptr<T>(t[3]), ptr<T>(t[4]), ptr<stat_t<T>>(t[5]), ptr<stat_t<T>>(t[6]), ptr<T>(t[1]), ptr<T>(t[2]));
  });
  return ok ? launch_status("layer_norm_backward") : unsupported_dtype("layer_norm_backward", t[4].dtype);
}

int k_rms_norm(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = t[2].sizes[0], N = t[2].sizes[1];
    if (M == 0) return;
    if (launch_norm_in_registers<T, false>(c, M, N, ptr<T>(t[2]), ptr<T>(t[0]), nullptr, ptr<stat_t<T>>(t[1]),
                                           ptr<T>(t[3]), nullptr, N, N))
      return;
    const int64_t cache = N * static_cast<int64_t>(sizeof(acc_t<T>));
    if (cache <= kRowCacheBytes && allow_shared(rms_norm_rows_cached<T>, cache)) {
      rms_norm_rows_cached<T><<<static_cast<unsigned>(M), row_block(N), cache, stream_of(c)>>>(
          N, ptr<T>(t[2]), ptr<T>(t[0]), ptr<stat_t<T>>(t[1]), ptr<T>(t[3]), c->scalars[0].f);
      return;
    }
    rms_norm_rows<T><<<static_cast<unsigned>(M), block_for(N), 0, stream_of(c)>>>(
        N, ptr<T>(t[2]), ptr<T>(t[0]), ptr<stat_t<T>>(t[1]), ptr<T>(t[3]), c->scalars[0].f);
  });
  return ok ? launch_status("rms_norm") : unsupported_dtype("rms_norm", t[2].dtype);
}

int k_rms_norm_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[3].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = t[3].sizes[0], N = t[3].sizes[1];
    if (t[0].data && M)
      rms_norm_backward_rows<T><<<static_cast<unsigned>(M), block_for(N), 0, stream_of(c)>>>(
          N, ptr<T>(t[2]), ptr<T>(t[3]), ptr<stat_t<T>>(t[4]), ptr<T>(t[5]), ptr<T>(t[0]));
    if (t[1].data)
      norm_param_grads<T><<<static_cast<unsigned>((N + 255) / 256), 256, 0, stream_of(c)>>>(
          M, N, ptr<T>(t[2]), ptr<T>(t[3]), nullptr, ptr<stat_t<T>>(t[4]), ptr<T>(t[1]), nullptr);
  });
  return ok ? launch_status("rms_norm_backward") : unsupported_dtype("rms_norm_backward", t[3].dtype);
}

}  // namespace gems::nvidia
