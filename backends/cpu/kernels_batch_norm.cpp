// batch_norm's per-channel reductions (operands in kernel_table.cpp) over x
// viewed [N, C, S]: a task a channel; each of its N rows summed in double in
// eight lanes (two passes: the mean, then the squared deviations) and the
// rows' moments merged (backends/common/moments.h).
#include "../common/batch_norm_operands.h"
#include "../common/moments.h"
#include "dtype_dispatch.h"
#include "kernels.h"
#include "parallel.h"
#include "runtime.h"
#include "strided_loop.h"

namespace gems::cpu {
namespace {

// The sum over s < S of f(s), in double, in eight independent lanes: one
// running sum would chain every add on the one before (four cycles each).
template <typename F>
double lane_sum(int64_t S, F f) {
  constexpr int kLanes = 8;
  double lane[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= S; s += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] += f(s + k);
  for (; s < S; ++s) lane[0] += f(s);
  double total = 0;
  for (int k = 0; k < kLanes; ++k) total += lane[k];
  return total;
}

// The compute type of the statistics: double for double inputs, else float.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

}  // namespace

int k_batch_norm_stats(const gems_kernel_call* c) {
  const BatchNormOperands op(c, false);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, op.expected());
  const gems_tensor &mean = *op.out0, &var = *op.out1, &x = *op.x;
  const int64_t N = x.sizes[0], C = x.sizes[1], S = x.sizes[2];
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    const T* p = reinterpret_cast<const T*>(base_ptr(x));
    A* m = reinterpret_cast<A*>(base_ptr(mean));
    A* v = reinterpret_cast<A*>(base_ptr(var));
    parallel_for(0, C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        Moments<double> total{0, 0, 0};
        for (int64_t n = 0; n < N; ++n) {
          const T* row = p + n * x.strides[0] + ch * x.strides[1];
          const int64_t step = x.strides[2];
          auto at = [&](int64_t s) { return static_cast<double>(static_cast<acc_t<T>>(row[s * step])); };
          const double row_mean = S ? lane_sum(S, at) / static_cast<double>(S) : 0.0;
          const double m2 = lane_sum(S, [&](int64_t s) {
            const double d = at(s) - row_mean;
            return d * d;
          });
          total = moments_merge(total, Moments<double>{static_cast<double>(S), row_mean, m2});
        }
        m[ch * mean.strides[0]] = static_cast<A>(total.mean);
        v[ch * var.strides[0]] = static_cast<A>(total.count > 0 ? total.m2 / total.count : 0.0);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("batch_norm_stats", x.dtype);
}

int k_batch_norm_backward_reduce(const gems_kernel_call* c) {
  const BatchNormOperands op(c, true);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, op.expected());
  const gems_tensor &sum_dy = *op.out0, &sum_dy_xmu = *op.out1, &dy = *op.dy, &x = *op.x, &mean = *op.mean;
  const int64_t N = dy.sizes[0], C = dy.sizes[1], S = dy.sizes[2];
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    const T* g = reinterpret_cast<const T*>(base_ptr(dy));
    const T* p = reinterpret_cast<const T*>(base_ptr(x));
    const A* m = reinterpret_cast<const A*>(base_ptr(mean));
    A* out0 = reinterpret_cast<A*>(base_ptr(sum_dy));
    A* out1 = reinterpret_cast<A*>(base_ptr(sum_dy_xmu));
    parallel_for(0, C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        const double mu = static_cast<double>(m[ch * mean.strides[0]]);
        double s0 = 0, s1 = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* grow = g + n * dy.strides[0] + ch * dy.strides[1];
          const T* xrow = p + n * x.strides[0] + ch * x.strides[1];
          const int64_t gstep = dy.strides[2], xstep = x.strides[2];
          auto grad = [&](int64_t s) { return static_cast<double>(static_cast<acc_t<T>>(grow[s * gstep])); };
          s0 += lane_sum(S, grad);
          s1 += lane_sum(S, [&](int64_t s) {
            return grad(s) * (static_cast<double>(static_cast<acc_t<T>>(xrow[s * xstep])) - mu);
          });
        }
        out0[ch * sum_dy.strides[0]] = static_cast<A>(s0);
        out1[ch * sum_dy_xmu.strides[0]] = static_cast<A>(s1);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("batch_norm_backward_reduce", x.dtype);
}

}  // namespace gems::cpu
