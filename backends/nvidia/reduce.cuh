// The nvidia vendor's reduction engine: warp and block reductions over a
// policy (sum, max-with-index, ...), and the shapes of reduction work shared
// by reductions, softmax and norms.
#pragma once
#include <cfloat>
#include <climits>
#include <limits>

#include "elementwise.cuh"

namespace gems::nvidia {

// Policies: S is the running state, add() folds one element, merge() two
// states; merge must be associative (indices break ties toward the first).
template <typename A>
struct SumPolicy {
  struct S { A v; };
  __device__ static S init() { return {A(0)}; }
  __device__ static void add(S& s, A x, int64_t) { s.v += x; }
  __device__ static S merge(S a, S b) { return {a.v + b.v}; }
  __device__ static S shfl_down(S s, int d) { return {__shfl_down_sync(0xffffffffu, s.v, d)}; }
};

template <typename A, bool kMax>
struct ExtremePolicy {
  struct S { A v; int64_t i; };
  __device__ static A lowest() {
    if constexpr (std::is_floating_point_v<A>) return kMax ? -INFINITY : INFINITY;
    else return kMax ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
  __device__ static S init() { return {lowest(), LLONG_MAX}; }
  __device__ static S merge(S a, S b) {
    const bool an = a.v != a.v, bn = b.v != b.v;  // NaN wins; the first NaN
    if (an || bn) return (an && bn) ? (a.i < b.i ? a : b) : (an ? a : b);
    if (kMax ? a.v > b.v : a.v < b.v) return a;
    if (kMax ? b.v > a.v : b.v < a.v) return b;
    return a.i < b.i ? a : b;
  }
  __device__ static void add(S& s, A x, int64_t i) { s = merge(s, S{x, i}); }
  __device__ static S shfl_down(S s, int d) {
    return {__shfl_down_sync(0xffffffffu, s.v, d), static_cast<int64_t>(__shfl_down_sync(0xffffffffu, static_cast<long long>(s.i), d))};
  }
};

template <typename P>
__device__ __forceinline__ typename P::S warp_reduce(typename P::S s) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) s = P::merge(s, P::shfl_down(s, d));
  return s;
}

// Reduces over the block; the result is valid in thread 0.
template <typename P>
__device__ typename P::S block_reduce(typename P::S s) {
  __shared__ typename P::S partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  s = warp_reduce<P>(s);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = s;
  __syncthreads();
  const int nwarps = (blockDim.x + 31) >> 5;
  s = (threadIdx.x < nwarps) ? partial[lane] : P::init();
  if (warp == 0) s = warp_reduce<P>(s);
  return s;
}

template <typename A>
struct MaxPolicy {
  struct S { A v; };
  __device__ static S init() { return {-INFINITY}; }
  __device__ static S merge(S a, S b) { return {a.v > b.v ? a.v : b.v}; }
  __device__ static S shfl_down(S s, int d) { return {__shfl_down_sync(0xffffffffu, s.v, d)}; }
};

// Log-sum-exp of a stream of values as (max, sum of exp(v - max)): one read of
// the values, states merged in any order. A NaN value makes the sum NaN.
template <typename A>
struct LsePolicy {
  struct S { A mx, sum; };
  __device__ static S init() { return {-INFINITY, A(0)}; }
  __device__ static void add(S& s, A x, int64_t) {
    if (x > s.mx) { s.sum = s.sum * ::exp(s.mx - x) + A(1); s.mx = x; }  // exp(-inf) = 0 on the first
    else if (x != -INFINITY) s.sum += ::exp(x - s.mx);                    // -inf adds nothing
  }
  __device__ static S merge(S a, S b) {
    const A m = a.mx > b.mx ? a.mx : b.mx;
    if (m == -INFINITY) return {m, A(0)};
    return {m, a.sum * ::exp(a.mx - m) + b.sum * ::exp(b.mx - m)};
  }
  __device__ static S shfl_down(S s, int d) {
    return {__shfl_down_sync(0xffffffffu, s.mx, d), __shfl_down_sync(0xffffffffu, s.sum, d)};
  }
  __device__ static A lse(S s) { return s.mx == -INFINITY ? s.mx : ::log(s.sum) + s.mx; }
};

// Reduces over the block; the result is broadcast to every thread.
template <typename P>
__device__ typename P::S block_reduce_all(typename P::S s) {
  __shared__ typename P::S total;
  s = block_reduce<P>(s);
  if (threadIdx.x == 0) total = s;
  __syncthreads();
  s = total;
  __syncthreads();
  return s;
}

// Max over the block, broadcast to every thread.
template <typename A>
__device__ A block_max_all(A v) { return block_reduce_all<MaxPolicy<A>>({v}).v; }

// Row caching for row-wise ops: a dense row is read from global memory once
// (16-byte loads when aligned) into shared memory in the compute type.
template <typename T, typename A>
__device__ void load_row(const T* x, int64_t n, A* row) {
  constexpr int V = 16 / sizeof(T);
  int64_t done = 0;
  if (V > 1 && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
    const int64_t nv = n / V;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      const Vec<T, V> v = reinterpret_cast<const Vec<T, V>*>(x)[i];
#pragma unroll
      for (int j = 0; j < V; ++j) row[i * V + j] = load_as<A>(v.v[j]);
    }
    done = nv * V;
  }
  for (int64_t i = done + threadIdx.x; i < n; i += blockDim.x) row[i] = load_as<A>(x[i]);
  __syncthreads();
}

// y[i] = value(i) for a dense row, 16-byte stores when aligned.
template <typename T, typename Value>
__device__ void store_row(T* y, int64_t n, Value value) {
  constexpr int V = 16 / sizeof(T);
  int64_t done = 0;
  if (V > 1 && reinterpret_cast<uintptr_t>(y) % 16 == 0) {
    const int64_t nv = n / V;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      Vec<T, V> v;
#pragma unroll
      for (int j = 0; j < V; ++j) v.v[j] = store_as<T>(value(i * V + j));
      reinterpret_cast<Vec<T, V>*>(y)[i] = v;
    }
    done = nv * V;
  }
  for (int64_t i = done + threadIdx.x; i < n; i += blockDim.x) y[i] = store_as<T>(value(i));
}

// Rows of up to this many compute-type bytes are cached in shared memory
// (above 48 KB a kernel must opt in; Hopper and Ampere allow ~160+ KB).
constexpr int64_t kRowCacheBytes = 160 * 1024;

// Statistics (mean, rstd, log-sum-exp, per-sample losses) are kept in float
// for 16-bit and float inputs, in double for double ones.
template <typename T> using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// The typed data pointer of an operand, nullptr when it is absent.
template <typename T> T* ptr(const gems_tensor& t) { return t.data ? reinterpret_cast<T*>(base_ptr(t)) : nullptr; }

// Whether the rows of a matrix operand ([rows, cols]) are dense and each starts
// 16-byte aligned, so that they can be read as whole vectors of V elements.
inline bool rows_are_vectors(const gems_tensor& d, int V) {
  return d.strides[1] == 1 && d.sizes[1] % V == 0 && d.strides[0] % V == 0 &&
         reinterpret_cast<uintptr_t>(base_ptr(d)) % 16 == 0;
}

// Threads for a block that walks a strided row of n elements.
inline int block_for(int64_t n) { return n >= 4096 ? 512 : n >= 1024 ? 256 : n >= 256 ? 128 : 32; }

// Threads for a block that owns one row of n elements: about 32 elements a
// thread, so short rows don't pay for wide block reductions.
inline int row_block(int64_t n) {
  const int64_t t = (n / 32 + 31) / 32 * 32;
  return static_cast<int>(t < 64 ? 64 : t > 1024 ? 1024 : t);
}

// Threads for a block that owns one row of `items` units, each thread taking
// `per_thread` of them: whole warps, at least one, at most 1024.
inline int threads_for_row(int64_t items, int64_t per_thread) {
  const int64_t t = ((items + per_thread - 1) / per_thread + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : t > 1024 ? 1024 : t);
}

// Vectors a thread of a row-in-registers kernel holds (1, 2 or 4; rows of up
// to 4096 vectors), from the warps the launch would have at 4: few rows are
// spread over more threads each (more loads in flight a row), many rows
// (several waves of blocks) take shorter blocks, and in between 4 a thread
// keeps the block reductions fewest. Measured on an H100, 4096-wide bf16 rows:
// softmax over 256 rows 0.88x -> 1.05x torch at 1 a thread, RMSNorm over 4096
// rows 1.11x -> 1.17x at 2, softmax over 1024 rows best at 4 (1.39x; 1.26x at 2).
inline int vectors_per_thread(int64_t rows, int64_t row_vectors) {
  const int64_t warps_at_4 = rows * ((row_vectors + 127) / 128);
  if (warps_at_4 < 16 * int64_t{num_sms()} && row_vectors <= 1024) return 1;
  if (warps_at_4 > 64 * int64_t{num_sms()} && row_vectors <= 2048) return 2;
  return 4;
}

// Calls f(std::integral_constant<int, k>{}) for k = vectors_per_thread(...).
template <typename F>
void with_vectors_per_thread(int k, F&& f) {
  if (k == 1) f(std::integral_constant<int, 1>{});
  else if (k == 2) f(std::integral_constant<int, 2>{});
  else f(std::integral_constant<int, 4>{});
}

// A row held in registers by the row kernels (softmax, norms): each thread
// owns kVecs 16-byte vectors of it, adjacent threads adjacent vectors, so the
// loads coalesce and the row is read once. load() fills them and calls
// fold(x) on every element it loaded; has(k) says whether vector k of this
// thread lies in the row.
template <typename T, int kVecs>
struct RowInRegisters {
  static constexpr int V = 16 / sizeof(T);
  using A = acc_t<T>;
  A v[kVecs][V];
  int64_t nv = 0;

  __device__ __forceinline__ int64_t index(int k) const { return threadIdx.x + static_cast<int64_t>(k) * blockDim.x; }
  __device__ __forceinline__ bool has(int k) const { return index(k) < nv; }

  template <typename Fold>
  __device__ __forceinline__ void load(const T* row, int64_t n, Fold fold) {
    nv = n / V;
    const auto* x = reinterpret_cast<const Vec<T, V>*>(row);
#pragma unroll
    for (int k = 0; k < kVecs; ++k) {
      if (!has(k)) continue;
      const Vec<T, V> p = x[index(k)];
#pragma unroll
      for (int j = 0; j < V; ++j) {
        v[k][j] = load_as<A>(p.v[j]);
        fold(v[k][j]);
      }
    }
  }
};

// Sum over the block, broadcast to every thread.
template <typename A>
__device__ A block_sum_all(A v) { return block_reduce_all<SumPolicy<A>>({v}).v; }

template <typename A>
__device__ __forceinline__ A warp_sum_all(A v) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// The leading k dims of N operands (the positions of outputs or rows).
template <int N>
StridedShape<N> outer_shape(const gems_tensor* const* ops, int k) {
  gems_tensor trimmed[N];
  const gems_tensor* p[N];
  for (int j = 0; j < N; ++j) {
    trimmed[j] = *ops[j];
    trimmed[j].ndim = k;
    p[j] = &trimmed[j];
  }
  // sizes come from operand 0, which must have at least k dims
  for (int j = 1; j < N; ++j)
    for (int d = 0; d < k; ++d) trimmed[j].sizes[d] = trimmed[0].sizes[d];
  return StridedShape<N>(p);
}

}  // namespace gems::nvidia
