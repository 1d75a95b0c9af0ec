// The cpu vendor's reduction engine. Reductions, softmax and norms all have the
// same shape of work: for every position of some leading "outer" dims, walk a
// trailing block of the input. OuterLoop visits the outer positions in
// parallel; ReducedSpace walks the trailing block as runs of its inner dim.
#pragma once
#include <algorithm>
#include <cstdint>

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
  if (s == 1) {
    A acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += static_cast<A>(p[i + j]);
    for (; i < n; ++i) acc[i & 7] += static_cast<A>(p[i]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
  A acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<A>(p[i * s]);
  return acc;
}

}  // namespace gems::cpu
