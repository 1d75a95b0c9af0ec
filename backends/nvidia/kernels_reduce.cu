// Reductions, softmax, norms and the NLL loss. Inputs arrive with the reduced
// dims last (the core permutes descriptors), like on every vendor.
#include "../common/trailing_dims.h"
#include "kernels.h"
#include "reduce.cuh"
#include "runtime.h"

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
    if (mean) out[off[0]] = store_as<T>(s.v / static_cast<A>(r.numel));
    else out[off[0]] = store_as<T>(s.v);
    if constexpr (sizeof(typename P::S) > sizeof(A)) { if (idx) idx[off[2]] = s.i; }
  }
}

// One block per output: long contiguous rows. Each thread loads kUnroll
// 16-byte vectors before it folds any, so that enough bytes are in flight;
// blocks are sized so that one pass of them covers the row (a 4096-wide bf16
// row: 128 threads), which keeps many rows resident per SM.
template <typename T, typename A, typename P>
__global__ void reduce_rows_block(StridedShape<3> outer, Reduced r, const T* in, T* out, int64_t* idx, bool mean) {
  int64_t off[3];
  offsets_of(outer, blockIdx.x, off);
  const T* p = in + off[1];
  typename P::S s = P::init();
  constexpr int V = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T);
  using W = Vec<T, V>;
  int64_t done = 0;
  if (V > 1 && reinterpret_cast<uintptr_t>(p) % 16 == 0) {
    const int64_t nv = r.numel / V;
    for (int64_t v0 = threadIdx.x; v0 < nv; v0 += int64_t{blockDim.x} * kUnroll) {
      W x[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t v = v0 + int64_t{u} * blockDim.x;
        if (v < nv) x[u] = reinterpret_cast<const W*>(p)[v];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t v = v0 + int64_t{u} * blockDim.x;
        if (v < nv)
#pragma unroll
          for (int j = 0; j < V; ++j) P::add(s, load_as<A>(x[u].v[j]), v * V + j);
      }
    }
    done = nv * V;
  }
  for (int64_t i = done + threadIdx.x; i < r.numel; i += blockDim.x) P::add(s, load_as<A>(p[i]), i);
  s = block_reduce<P>(s);
  if (threadIdx.x == 0) {
    if (mean) out[off[0]] = store_as<T>(s.v / static_cast<A>(r.numel));
    else out[off[0]] = store_as<T>(s.v);
    if constexpr (sizeof(typename P::S) > sizeof(A)) { if (idx) idx[off[2]] = s.i; }
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
  if (mean) out[off[0]] = store_as<T>(s.v / static_cast<A>(r.numel));
  else out[off[0]] = store_as<T>(s.v);
  if constexpr (sizeof(typename P::S) > sizeof(A)) { if (idx) idx[off[2]] = s.i; }
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
  if (!r.contiguous_row()) {
    reduce_generic<T, A, P><<<static_cast<unsigned>((outer.numel + 255) / 256), 256, 0, st>>>(outer, r, pi, po, px,
                                                                                               mean);
  } else if (r.numel >= 2048) {
    constexpr int V = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T);
    const int threads = std::max(64, std::min(512, threads_for_row(r.numel, int64_t{V} * kUnroll)));
    reduce_rows_block<T, A, P><<<static_cast<unsigned>(outer.numel), threads, 0, st>>>(outer, r, pi, po, px, mean);
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

// The same with the row in registers (as the norms below): one read, one
// write, no shared-memory row; for dense, 16-byte aligned rows up to 4096
// vectors.
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
      for (int j = 0; j < V; ++j) sum += ::exp(row.v[k][j] - mx);
  sum = block_sum_all(sum);
  const A lse = ::log(sum) + mx, inv = A(1) / sum;
  auto* y = reinterpret_cast<Vec<T, V>*>(out + off[0]);
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    if (!row.has(k)) continue;
    Vec<T, V> o;
#pragma unroll
    for (int j = 0; j < V; ++j) o.v[j] = store_as<T>(kLog ? row.v[k][j] - lse : ::exp(row.v[k][j] - mx) * inv);
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

int block_for(int64_t n) { return n >= 4096 ? 512 : n >= 1024 ? 256 : n >= 256 ? 128 : 32; }

// ---- cumsum: one block scans one row, a tile of blockDim * kRun elements at
// a time (each thread a contiguous run of kVecs 16-byte vectors when the row
// is dense, all loads issued before any use), carrying the running total from
// tile to tile. Small blocks with long runs keep many rows in flight per SM:
// a scan is otherwise bound by the latency between its load and its store.
template <typename T> using scan_t = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;

// Exclusive prefix of v over the block (blockDim a multiple of 32); *total is the block's sum.
template <typename A>
__device__ A block_exclusive_scan(A v, A* total) {
  __shared__ A warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  A x = v;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const A y = __shfl_up_sync(0xffffffffu, x, d);
    if (lane >= d) x += y;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    A w = lane < nwarps ? warp_sums[lane] : A(0);
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      const A y = __shfl_up_sync(0xffffffffu, w, d);
      if (lane >= d) w += y;
    }
    warp_sums[lane] = w;
  }
  __syncthreads();
  const A prefix = (warp > 0 ? warp_sums[warp - 1] : A(0)) + x - v;
  *total = warp_sums[nwarps - 1];
  __syncthreads();  // warp_sums is reused by the next tile
  return prefix;
}

template <typename T, int kItems, int kVecs>
__global__ void cumsum_rows(StridedShape<2> outer, int64_t n, int64_t so, int64_t si, T* out, const T* in) {
  using A = scan_t<T>;
  using V = Vec<T, kItems>;
  constexpr int kRun = kItems * kVecs;
  int64_t off[2];
  offsets_of(outer, blockIdx.x, off);
  const T* x = in + off[1];
  T* y = out + off[0];
  const bool vector = si == 1 && so == 1 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(y) % 16 == 0;
  A carry = 0;
  for (int64_t base = 0; base < n; base += static_cast<int64_t>(blockDim.x) * kRun) {
    const int64_t first = base + static_cast<int64_t>(threadIdx.x) * kRun;
    const bool whole = vector && first + kRun <= n;
    A run[kRun];
    if (whole) {
      V v[kVecs];
#pragma unroll
      for (int j = 0; j < kVecs; ++j) v[j] = reinterpret_cast<const V*>(x + first)[j];
#pragma unroll
      for (int j = 0; j < kVecs; ++j)
#pragma unroll
        for (int e = 0; e < kItems; ++e) run[j * kItems + e] = load_as<A>(v[j].v[e]);
    } else {
#pragma unroll
      for (int e = 0; e < kRun; ++e) run[e] = first + e < n ? load_as<A>(x[(first + e) * si]) : A(0);
    }
    A local = 0;
#pragma unroll
    for (int e = 0; e < kRun; ++e) run[e] = local += run[e];
    A total;
    const A prefix = carry + block_exclusive_scan(local, &total);
    if (whole) {
#pragma unroll
      for (int j = 0; j < kVecs; ++j) {
        V v;
#pragma unroll
        for (int e = 0; e < kItems; ++e) v.v[e] = store_as<T>(prefix + run[j * kItems + e]);
        reinterpret_cast<V*>(y + first)[j] = v;
      }
    } else {
#pragma unroll
      for (int e = 0; e < kRun; ++e)
        if (first + e < n) y[(first + e) * so] = store_as<T>(prefix + run[e]);
    }
    carry += total;
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
    constexpr int V = 16 / sizeof(T), kVecs = 4;
    if (dense_rows && V > 1 && n % V == 0 && n / V <= int64_t{kVecs} * 1024 && rows_aligned(outer, V, base_ptr(out)) &&
        rows_aligned(outer, V, base_ptr(in), 1)) {
      const int threads = threads_for_row(n / V, kVecs);
      softmax_rows_in_registers<T, kVecs, kLog><<<static_cast<unsigned>(outer.numel), threads, 0, stream_of(c)>>>(
          outer, n, reinterpret_cast<T*>(base_ptr(out)), reinterpret_cast<const T*>(base_ptr(in)));
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
template <typename T> using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

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
  constexpr int V = 16 / sizeof(T), kVecs = 4;
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  if (V < 2 || N % V != 0 || N / V > int64_t{kVecs} * 1024 || (xs * sizeof(T)) % 16 != 0 ||
      (ys * sizeof(T)) % 16 != 0 || !aligned(X) || !aligned(Y) || (W && !aligned(W)) || (B && !aligned(B)))
    return false;
  const int threads = threads_for_row(N / V, kVecs);
  norm_rows_in_registers<T, kVecs, kLayerNorm><<<static_cast<unsigned>(M), threads, 0, stream_of(c)>>>(
      N, X, Y, MEAN, RSTD, W, B, c->scalars[0].f, xs, ys);
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

template <typename T> T* ptr(const gems_tensor& t) { return t.data ? reinterpret_cast<T*>(base_ptr(t)) : nullptr; }

// ---- NLL loss ----
template <typename T>
__global__ void nll_forward(int64_t N, int64_t C, const T* LP, int64_t lps0, int64_t lps1, const int64_t* Y, int64_t ys,
                            const T* W, int64_t ws, T* OUT, int64_t os, T* TOTAL, int64_t reduction, int64_t ignore) {
  using A = stat_t<T>;
  A loss = 0, wsum = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const int64_t y = Y[i * ys];
    A li = 0;
    if (y != ignore && y >= 0 && y < C) {  // out-of-range targets count as ignored (no device-side raise)
      const A w = W ? load_as<A>(W[y * ws]) : A(1);
      li = -w * load_as<A>(LP[i * lps0 + y * lps1]);
      wsum += w;
    }
    if (reduction == 0) OUT[i * os] = store_as<T>(li);
    else loss += li;
  }
  loss = block_sum_all(loss);
  wsum = block_sum_all(wsum);
  if (threadIdx.x == 0) {
    if (reduction == 1) OUT[0] = store_as<T>(loss / wsum);
    if (reduction == 2) OUT[0] = store_as<T>(loss);
    *TOTAL = store_as<T>(reduction == 0 ? A(0) : wsum);
  }
}

template <typename T>
__global__ void nll_backward(int64_t N, int64_t C, T* G, const T* GO, int64_t gos, const int64_t* Y, int64_t ys,
                             const T* W, int64_t ws, const T* TOTAL, int64_t reduction, int64_t ignore) {
  using A = stat_t<T>;
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const int64_t y = Y[i * ys];
  if (y == ignore || y < 0 || y >= C) return;
  const A w = W ? load_as<A>(W[y * ws]) : A(1);
  A g = reduction == 0 ? load_as<A>(GO[i * gos]) : load_as<A>(GO[0]);
  if (reduction == 1) g /= load_as<A>(*TOTAL);
  G[i * C + y] = store_as<T>(-w * g);
}

// Cross entropy, fused: the row's log-sum-exp in one read, then the target's
// logit. Rows as kernel_table.cpp documents for the cpu vendor.

// Folds vectors [first, end) of a dense, 16-byte aligned row into `state`,
// kVecs 16-byte loads in flight a thread, one rescale per vector.
template <typename T, int kVecs, typename S>
__device__ __forceinline__ void fold_lse_vectors(const T* x, int64_t first, int64_t end, S& state) {
  using A = acc_t<T>;
  constexpr int V = 16 / sizeof(T);
  const auto* xv = reinterpret_cast<const Vec<T, V>*>(x);
  for (int64_t base = first + threadIdx.x; base < end; base += int64_t{kVecs} * blockDim.x) {
    Vec<T, V> p[kVecs];
#pragma unroll
    for (int k = 0; k < kVecs; ++k)
      if (base + k * blockDim.x < end) p[k] = xv[base + k * blockDim.x];
#pragma unroll
    for (int k = 0; k < kVecs; ++k) {
      if (base + k * blockDim.x >= end) continue;
      A m = state.mx;
#pragma unroll
      for (int j = 0; j < V; ++j) m = fmax(m, load_as<A>(p[k].v[j]));
      if (m > state.mx) { state.sum *= ::exp(state.mx - m); state.mx = m; }
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const A v = load_as<A>(p[k].v[j]);
        // while the max is -inf only NaN may lie here (fmax skips it): it must reach the sum
        state.sum += state.mx == -INFINITY ? (v == -INFINITY ? A(0) : v) : ::exp(v - state.mx);
      }
    }
  }
}

// Writes sample i's loss, weight and log-sum-exp from its folded state.
template <typename T, typename S>
__device__ __forceinline__ void write_cross_entropy_row(int64_t i, S state, int64_t C, const T* x, int64_t xs1,
                                                        const int64_t* Y, int64_t ys, const T* W, int64_t ws,
                                                        stat_t<T>* rows, int64_t rs0, int64_t rs1, int64_t ignore) {
  using A = acc_t<T>;
  const A lse = LsePolicy<A>::lse(state);
  const int64_t y = Y[i * ys];
  A loss = 0, w = 0;
  if (y != ignore && y >= 0 && y < C) {  // out-of-range targets count as ignored (no device-side raise)
    w = W ? load_as<A>(W[y * ws]) : A(1);
    loss = w * (lse - load_as<A>(x[y * xs1]));
  }
  rows[i * rs1] = static_cast<stat_t<T>>(loss);
  rows[rs0 + i * rs1] = static_cast<stat_t<T>>(w);
  rows[2 * rs0 + i * rs1] = static_cast<stat_t<T>>(lse);
}

// A block per row.
template <typename T, int kVecs, bool kDense>
__global__ void cross_entropy_rows(int64_t C, const T* X, int64_t xs0, int64_t xs1, const int64_t* Y, int64_t ys,
                                   const T* W, int64_t ws, stat_t<T>* rows, int64_t rs0, int64_t rs1, int64_t ignore) {
  using P = LsePolicy<acc_t<T>>;
  const int64_t i = blockIdx.x;
  const T* x = X + i * xs0;
  typename P::S state = P::init();
  if constexpr (kDense) fold_lse_vectors<T, kVecs>(x, 0, C / (16 / sizeof(T)), state);
  else
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) P::add(state, load_as<acc_t<T>>(x[j * xs1]), j);
  state = block_reduce<P>(state);
  if (threadIdx.x == 0) write_cross_entropy_row(i, state, C, x, xs1, Y, ys, W, ws, rows, rs0, rs1, ignore);
}

// Few long rows (a small batch over a large vocabulary): blockIdx.y is the
// row, blockIdx.x one of its chunks of `chunk` vectors; each block leaves its
// (max, sum) state, and cross_entropy_merge finishes the row.
template <typename T, int kVecs>
__global__ void cross_entropy_partials(int64_t C, int64_t chunk, const T* X, int64_t xs0,
                                       typename LsePolicy<acc_t<T>>::S* partials) {
  using P = LsePolicy<acc_t<T>>;
  const int64_t nv = C / (16 / sizeof(T)), first = int64_t{blockIdx.x} * chunk;
  typename P::S state = P::init();
  fold_lse_vectors<T, kVecs>(X + blockIdx.y * xs0, first, first + chunk < nv ? first + chunk : nv, state);
  state = block_reduce<P>(state);
  if (threadIdx.x == 0) partials[int64_t{blockIdx.y} * gridDim.x + blockIdx.x] = state;
}

// A warp per row merges its chunks' states (in chunk order: deterministic).
template <typename T>
__global__ void cross_entropy_merge(int64_t N, int chunks, const typename LsePolicy<acc_t<T>>::S* partials, int64_t C,
                                    const T* X, int64_t xs0, const int64_t* Y, int64_t ys, const T* W, int64_t ws,
                                    stat_t<T>* rows, int64_t rs0, int64_t rs1, int64_t ignore) {
  using P = LsePolicy<acc_t<T>>;
  const int64_t i = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (i >= N) return;
  typename P::S state = P::init();
  for (int k = lane; k < chunks; k += 32) state = P::merge(state, partials[i * chunks + k]);
  state = warp_reduce<P>(state);
  if (lane == 0) write_cross_entropy_row(i, state, C, X + i * xs0, 1, Y, ys, W, ws, rows, rs0, rs1, ignore);
}

// Its gradient, grad[j] = g * w * (exp(x[j] - lse) - (j == y)): blockIdx.y
// walks the rows (a grid holds at most 65535 of them), blockIdx.x takes a
// chunk of `chunk` vectors of a dense aligned row (kVecs 16-byte loads in
// flight a thread) or, for other rows, the whole row.
template <typename T, int kVecs, bool kDense>
__global__ void cross_entropy_backward_rows(int64_t N, int64_t C, int64_t chunk, T* G, int64_t gs0, int64_t gs1,
                                            const stat_t<T>* GO, int64_t gos, const T* X, int64_t xs0, int64_t xs1,
                                            const int64_t* Y, int64_t ys, const stat_t<T>* rows, int64_t rs0,
                                            int64_t rs1) {
  using A = acc_t<T>;
  constexpr int V = 16 / sizeof(T);
  for (int64_t i = blockIdx.y; i < N; i += gridDim.y) {
    const A scale = static_cast<A>(GO[i * gos]) * static_cast<A>(rows[rs0 + i * rs1]);
    const A lse = static_cast<A>(rows[2 * rs0 + i * rs1]);
    const int64_t y = Y[i * ys];
    const T* x = X + i * xs0;
    T* g = G + i * gs0;
    auto grad = [&](A v, int64_t j) { return store_as<T>(scale * (::exp(v - lse) - (j == y ? A(1) : A(0)))); };
    if constexpr (kDense) {
      const auto* xv = reinterpret_cast<const Vec<T, V>*>(x);
      auto* gv = reinterpret_cast<Vec<T, V>*>(g);
      const int64_t first = int64_t{blockIdx.x} * chunk, end = C / V < first + chunk ? C / V : first + chunk;
      for (int64_t base = first + threadIdx.x; base < end; base += int64_t{kVecs} * blockDim.x) {
        Vec<T, V> p[kVecs];
#pragma unroll
        for (int k = 0; k < kVecs; ++k)
          if (base + k * blockDim.x < end) p[k] = xv[base + k * blockDim.x];
#pragma unroll
        for (int k = 0; k < kVecs; ++k) {
          const int64_t v = base + k * blockDim.x;
          if (v >= end) continue;
          Vec<T, V> o;
#pragma unroll
          for (int j = 0; j < V; ++j) o.v[j] = grad(load_as<A>(p[k].v[j]), v * V + j);
          gv[v] = o;
        }
      }
    } else {
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) g[j * gs1] = grad(load_as<A>(x[j * xs1]), j);
    }
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

int k_nll_loss(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[2].sizes[0], C = t[2].sizes[1];
    nll_forward<T><<<1, 256, 0, stream_of(c)>>>(N, C, ptr<T>(t[2]), t[2].strides[0], t[2].strides[1],
                                                 ptr<int64_t>(t[3]), t[3].strides[0], ptr<T>(t[4]),
                                                 t[4].data ? t[4].strides[0] : 0, ptr<T>(t[0]),
                                                 t[0].ndim ? t[0].strides[0] : 0, ptr<T>(t[1]), c->scalars[0].i,
                                                 c->scalars[1].i);
  });
  return ok ? launch_status("nll_loss") : unsupported_dtype("nll_loss", t[2].dtype);
}

int k_cross_entropy(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(t[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[1].sizes[0], C = t[1].sizes[1];
    if (N == 0) return;
    constexpr int V = 16 / sizeof(T), kVecs = 4;
    const bool dense = t[1].strides[1] == 1 && C % V == 0 && t[1].strides[0] % V == 0 &&
                       reinterpret_cast<uintptr_t>(base_ptr(t[1])) % 16 == 0;
    const int64_t nv = C / V;
    // chunks a row so that a few rows still fill the GPU (at least 512 vectors a chunk)
    const int64_t chunks = dense ? std::min<int64_t>((4 * num_sms() + N - 1) / N, nv / 512) : 1;
    if (chunks >= 2 && N <= 65535) {
      using S = typename LsePolicy<acc_t<T>>::S;
      S* partials = nullptr;
      if ((status = scratch_malloc(reinterpret_cast<void**>(&partials), N * chunks * sizeof(S), stream_of(c)))) return;
      const int64_t chunk = (nv + chunks - 1) / chunks;
      cross_entropy_partials<T, kVecs><<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(N)),
                                         std::min(threads_for_row(chunk, 2 * kVecs), 256), 0, stream_of(c)>>>(
          C, chunk, ptr<T>(t[1]), t[1].strides[0], partials);
      cross_entropy_merge<T><<<static_cast<unsigned>((N * 32 + 255) / 256), 256, 0, stream_of(c)>>>(
          N, static_cast<int>(chunks), partials, C, ptr<T>(t[1]), t[1].strides[0], ptr<int64_t>(t[2]),
          t[2].strides[0], ptr<T>(t[3]), t[3].data ? t[3].strides[0] : 0, ptr<stat_t<T>>(t[0]), t[0].strides[0],
          t[0].strides[1], c->scalars[0].i);
      scratch_free(partials, stream_of(c));
      return;
    }
    const int threads = dense ? std::min(threads_for_row(nv, 2 * kVecs), 256) : block_for(C);
    auto kernel = dense ? cross_entropy_rows<T, kVecs, true> : cross_entropy_rows<T, kVecs, false>;
    kernel<<<static_cast<unsigned>(N), threads, 0, stream_of(c)>>>(
        C, ptr<T>(t[1]), t[1].strides[0], t[1].strides[1], ptr<int64_t>(t[2]), t[2].strides[0], ptr<T>(t[3]),
        t[3].data ? t[3].strides[0] : 0, ptr<stat_t<T>>(t[0]), t[0].strides[0], t[0].strides[1], c->scalars[0].i);
  });
  if (status != GEMS_OK) return status;
  return ok ? launch_status("cross_entropy") : unsupported_dtype("cross_entropy", t[1].dtype);
}

int k_cross_entropy_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[2].sizes[0], C = t[2].sizes[1];
    if (N == 0 || C == 0) return;
    constexpr int V = 16 / sizeof(T), kVecs = 4;
    auto aligned = [&](const gems_tensor& d) {
      return d.strides[1] == 1 && d.strides[0] % V == 0 && reinterpret_cast<uintptr_t>(base_ptr(d)) % 16 == 0;
    };
    const bool dense = C % V == 0 && aligned(t[0]) && aligned(t[2]);
    const int threads = dense ? std::min(threads_for_row(C / V, kVecs), 256) : block_for(C);
    // dense rows are cut into chunks of 4 passes of the block, so that few rows still fill the GPU
    const int64_t chunk = int64_t{threads} * kVecs * 4, chunks = dense ? (C / V + chunk - 1) / chunk : 1;
    auto kernel = dense ? cross_entropy_backward_rows<T, kVecs, true> : cross_entropy_backward_rows<T, kVecs, false>;
    kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(std::min<int64_t>(N, 65535))), threads, 0,
             stream_of(c)>>>(
        N, C, chunk, ptr<T>(t[0]), t[0].strides[0], t[0].strides[1], ptr<stat_t<T>>(t[1]), t[1].strides[0], ptr<T>(t[2]),
        t[2].strides[0], t[2].strides[1], ptr<int64_t>(t[3]), t[3].strides[0], ptr<stat_t<T>>(t[4]), t[4].strides[0],
        t[4].strides[1]);
  });
  return ok ? launch_status("cross_entropy_backward") : unsupported_dtype("cross_entropy_backward", t[2].dtype);
}

int k_nll_loss_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[0].sizes[0], C = t[0].sizes[1];
    cudaMemsetAsync(ptr<T>(t[0]), 0, N * C * sizeof(T), stream_of(c));
    if (N)
      nll_backward<T><<<static_cast<unsigned>((N + 255) / 256), 256, 0, stream_of(c)>>>(
          N, C, ptr<T>(t[0]), ptr<T>(t[1]), t[1].ndim ? t[1].strides[0] : 0, ptr<int64_t>(t[2]), t[2].strides[0],
          ptr<T>(t[3]), t[3].data ? t[3].strides[0] : 0, ptr<T>(t[4]), c->scalars[0].i, c->scalars[1].i);
  });
  return ok ? launch_status("nll_loss_backward") : unsupported_dtype("nll_loss_backward", t[0].dtype);
}

}  // namespace gems::nvidia
