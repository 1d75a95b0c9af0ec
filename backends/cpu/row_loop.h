// The cpu vendor's reduction engine. Reductions, softmax and norms all have the
// same shape of work: for every position of some leading "outer" dims, walk a
// trailing block of the input. OuterLoop visits the outer positions in
// parallel; ReducedSpace walks the trailing block as runs of its inner dim.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "strided_loop.h"
#include "../common/trailing_dims.h"

namespace gems::cpu {

// Visits every index of the first `k` dims shared by N operands.
template <int N>
struct OuterLoop {
  int ndim = 0;
  int64_t sizes[GEMS_MAX_DIMS];
  int64_t strides[N][GEMS_MAX_DIMS];  // bytes
  char* base[N];
  int64_t numel = 1;

  OuterLoop(const gems_tensor* const* ops, int k) {
    for (int j = 0; j < N; ++j) base[j] = base_ptr(*ops[j]);
    for (int d = 0; d < k; ++d) {
      numel *= ops[0]->sizes[d];
      if (ops[0]->sizes[d] == 1) continue;
      sizes[ndim] = ops[0]->sizes[d];
      for (int j = 0; j < N; ++j) strides[j][ndim] = ops[j]->strides[d] * element_size(ops[j]->dtype);
      ++ndim;
    }
  }

  // f(outer_linear_index, char* ptrs[N]) for every outer position.
  template <typename F>
  void for_each(int64_t work_per_item, F f) const {
    parallel_for(0, numel, grain_for(work_per_item), [&](int64_t begin, int64_t end) {
      int64_t idx[GEMS_MAX_DIMS];
      int64_t rem = begin;
      for (int d = ndim - 1; d >= 0; --d) { idx[d] = rem % sizes[d]; rem /= sizes[d]; }
      char* p[N];
      for (int j = 0; j < N; ++j) {
        p[j] = base[j];
        for (int d = 0; d < ndim; ++d) p[j] += idx[d] * strides[j][d];
      }
      for (int64_t i = begin; i < end; ++i) {
        f(i, p);
        for (int d = ndim - 1; d >= 0; --d) {
          for (int j = 0; j < N; ++j) p[j] += strides[j][d];
          if (++idx[d] < sizes[d]) break;
          for (int j = 0; j < N; ++j) p[j] -= sizes[d] * strides[j][d];
          idx[d] = 0;
        }
      }
    });
  }
};

// The trailing block of one tensor (backends/common/trailing_dims.h), walked as runs.
struct ReducedSpace : TrailingDims {
  using TrailingDims::TrailingDims;

  // run(const T* ptr, int64_t count, int64_t stride, int64_t first_linear_index)
  // over the block in row-major order, so linear indices match a flatten().
  template <typename T, typename Run>
  void visit(const T* p, Run&& run) const {
    if (numel == 0) return;
    if (ndim <= 1) {
      run(p, ndim ? sizes[0] : int64_t{1}, ndim ? strides[0] : int64_t{1}, int64_t{0});
      return;
    }
    int64_t idx[GEMS_MAX_DIMS] = {0};
    const int inner = ndim - 1;
    for (int64_t linear = 0; linear < numel; linear += sizes[inner]) {
      run(p, sizes[inner], strides[inner], linear);
      for (int d = inner - 1; d >= 0; --d) {
        p += strides[d];
        if (++idx[d] < sizes[d]) break;
        p -= sizes[d] * strides[d];
        idx[d] = 0;
      }
    }
  }
};

// Sum of f(i) over i < n in A with eight partial sums: no add waits on the
// one before (a single running sum costs an add's latency an element, and
// cannot vectorize without reassociation); contiguous operands vectorize.
template <typename A, typename F>
inline A sum_of(int64_t n, F f) {
  A acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += f(i + j);
  for (; i < n; ++i) acc[i & 7] += f(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Sum of a strided run in the compute type A; eight partial sums keep the
// contiguous case vectorized and the rounding error low.
template <typename A, typename T>
inline A sum_run(const T* p, int64_t n, int64_t s) {
  // Cascade: halves summed apart above 4096 elements, so that rounding error
  // grows with log(n) rather than n (PyTorch's CPU sum cascades too).
  if (n > 4096) {
    const int64_t half = n / 2 / 8 * 8;
    return sum_run<A>(p, half, s) + sum_run<A>(p + half * s, n - half, s);
  }
  if (s == 1) return sum_of<A>(n, [&](int64_t i) { return static_cast<A>(p[i]); });
  A acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<A>(p[i * s]);
  return acc;
}

// Sum of (x[i] - center)^2 over a contiguous run, in A: the norms' variance
// and mean square (one running sum had cost layer_norm 0.37-0.45x torch CPU's
// time over 64 rows of 1024).
template <typename A, typename T>
inline A squares_run(const T* x, int64_t n, A center) {
  return sum_of<A>(n, [&](int64_t i) {
    const A d = static_cast<A>(x[i]) - center;
    return d * d;
  });
}

// Scratch row `which` of this thread, at least n long (kept between calls: no
// allocation a row). Asked for only when needed: a thread_local's access is a
// call in a shared library, which a row of a few dozen elements notices.
template <typename A>
A* scratch_row(int which, int64_t n) {
  thread_local std::vector<A> rows[2];
  std::vector<A>& r = rows[which];
  if (r.size() < static_cast<size_t>(n)) r.resize(static_cast<size_t>(n));
  return r.data();
}

// The row x[0, n) with stride s in the compute type A, contiguous: x itself
// when it already is, else copied into scratch row 0.
template <typename A, typename T>
const A* contiguous_row(const T* x, int64_t n, int64_t s) {
  if constexpr (std::is_same_v<A, T>)
    if (s == 1) return x;
  A* copy = scratch_row<A>(0, n);
  for (int64_t i = 0; i < n; ++i) copy[i] = static_cast<A>(x[i * s]);
  return copy;
}

// The largest of x[0, n), NaN ignored (softmax and cross entropy still see a
// NaN, through its exponential). One 32-byte vector of running maxima (GCC's vector
// extension: the compiler kept eight scalar maxima in scalar registers).
template <typename A>
A max_run(const A* x, int64_t n) {
  constexpr int kLanes = 32 / sizeof(A);
  typedef A Lanes __attribute__((vector_size(32)));
  Lanes m;
  for (int j = 0; j < kLanes; ++j) m[j] = -std::numeric_limits<A>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Lanes v;
    std::memcpy(&v, x + i, sizeof(v));
    m = v > m ? v : m;
  }
  A best = -std::numeric_limits<A>::infinity();
  for (int j = 0; j < kLanes; ++j) best = m[j] > best ? m[j] : best;
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

}  // namespace gems::cpu
