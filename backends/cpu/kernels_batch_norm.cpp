// batch_norm's kernels (operands in kernel_table.cpp). The per-channel
// reductions over x viewed [N, C, S]: a task a channel; each of its N rows
// summed in double in eight lanes (two passes: the mean, then the squared
// deviations) and the rows' moments merged (backends/common/moments.h). The
// coefficients and the pass over the input: backends/common/batch_norm_apply.h.
#include "../common/batch_norm_apply.h"
#include "../common/batch_norm_operands.h"
#include "../common/moments.h"
#include "dtype_dispatch.h"
#include "kernels.h"
#include "parallel.h"
#include "runtime.h"
#include "strided_loop.h"

namespace gems::cpu {
namespace {

// The sum over s < S of f(s), in double, in 32 independent lanes (eight
// vector registers): one running sum would chain every add on the one before
// (four cycles each).
template <typename F>
double lane_sum(int64_t S, F f) {
  constexpr int kLanes = 32;
  double lane[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= S; s += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] += f(s + k);
  for (; s < S; ++s) lane[0] += f(s);
  double total = 0;
  for (int k = 0; k < kLanes; ++k) total += lane[k];
  return total;
}

// f(steps...) with the rows' steps as compile-time 1s where they all are 1
// (so that the lanes' loads are contiguous vector loads), else as the
// run-time values.
template <typename>
using UnitStep = std::integral_constant<int64_t, 1>;
template <typename F, typename... Steps>
void with_unit_steps(F f, Steps... steps) {
  if (((steps == 1) && ...))
    f(UnitStep<Steps>{}...);
  else
    f(steps...);
}

// The compute type of the statistics: double for double inputs, else float.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Element i of a coefficient vector of any float dtype, read and written as
// A (backends/common/batch_norm_operands.h): what the shared coefficient code
// gets for *at(...).
template <typename A>
struct VectorElement {
  const gems_tensor* t;
  int64_t i;
  template <typename F>
  auto with_type(F f) const {
    char* p = static_cast<char*>(base_ptr(*t)) + i * t->strides[0] * element_size(t->dtype);
    switch (t->dtype) {
      case GEMS_FLOAT32: return f(reinterpret_cast<float*>(p));
      case GEMS_FLOAT64: return f(reinterpret_cast<double*>(p));
      case GEMS_FLOAT16: return f(reinterpret_cast<float16*>(p));
      default: return f(reinterpret_cast<bfloat16*>(p));
    }
  }
  operator A() const {
    return with_type([](auto* p) { return convert<A>(*p); });
  }
  const VectorElement& operator=(A v) const {
    with_type([v](auto* p) { *p = convert<std::remove_pointer_t<decltype(p)>>(v); });
    return *this;
  }
};
template <typename A>
struct VectorPointer {
  VectorElement<A> e;
  VectorElement<A> operator*() const { return e; }
};

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
          with_unit_steps([&](auto step) {
            auto at = [&](int64_t s) { return static_cast<double>(static_cast<acc_t<T>>(row[s * step])); };
            const double row_mean = S ? lane_sum(S, at) / static_cast<double>(S) : 0.0;
            const double m2 = lane_sum(S, [&](int64_t s) {
              const double d = at(s) - row_mean;
              return d * d;
            });
            total = moments_merge(total, Moments<double>{static_cast<double>(S), row_mean, m2});
          }, x.strides[2]);
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
          with_unit_steps([&](auto gs, auto xs) {
            auto grad = [&](int64_t s) { return static_cast<double>(static_cast<acc_t<T>>(grow[s * gs])); };
            s0 += lane_sum(S, grad);
            s1 += lane_sum(S, [&](int64_t s) {
              return grad(s) * (static_cast<double>(static_cast<acc_t<T>>(xrow[s * xs])) - mu);
            });
          }, dy.strides[2], x.strides[2]);
        }
        out0[ch * sum_dy.strides[0]] = static_cast<A>(s0);
        out1[ch * sum_dy_xmu.strides[0]] = static_cast<A>(s1);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("batch_norm_backward_reduce", x.dtype);
}

int k_batch_norm_coefficients(const gems_kernel_call* c) {
  const BatchNormCoefficientsOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, BatchNormCoefficientsOperands::kExpected);
  const gems_tensor* t = op.t;
  const bool ok = dispatch_dtype<GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64)>(t[0].dtype, [&](auto tag) {
    using A = typename decltype(tag)::type;
    const A eps = A(op.eps), momentum = A(op.momentum), count = A(op.count);
    for (int64_t ch = 0; ch < op.C; ++ch)
      batch_norm_coefficients_at<A>(op.mode, op.flags, eps, momentum, count,
                                    [&](int k) { return VectorPointer<A>{{&t[k], ch}}; });
  });
  return ok ? GEMS_OK : unsupported_dtype("batch_norm_coefficients", t[0].dtype);
}

int k_group_norm_coefficients(const gems_kernel_call* c) {
  const GroupNormCoefficientsOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, GroupNormCoefficientsOperands::kExpected);
  const gems_tensor* t = op.t;
  const bool ok = dispatch_dtype<GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64)>(t[0].dtype, [&](auto tag) {
    using A = typename decltype(tag)::type;
    auto at = [&](int k, int64_t i) { return VectorPointer<A>{{&t[k], i}}; };
    for (int64_t ch = 0; ch < op.C; ++ch)
      group_norm_coefficients_at<A>(op.mode, op.flags, A(op.eps), A(op.count), op.N, op.C, op.G, ch, at);
  });
  return ok ? GEMS_OK : unsupported_dtype("group_norm_coefficients", t[0].dtype);
}

int k_channel_affine(const gems_kernel_call* c) {
  const ChannelAffineOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, ChannelAffineOperands::kExpected);
  const gems_tensor &y = *op.y, &x = *op.x;
  const int64_t N = x.sizes[0], C = x.sizes[1], S = x.sizes[2];
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    auto vec = [](const gems_tensor* v) { return v ? reinterpret_cast<const A*>(base_ptr(*v)) : nullptr; };
    const A *scale = vec(op.scale), *shift = vec(op.shift), *dy_scale = vec(op.dy_scale);
    const int64_t vs = op.scale->strides[0], hs = op.shift->strides[0], ds = op.dy_scale ? op.dy_scale->strides[0] : 0;
    T* out = reinterpret_cast<T*>(base_ptr(y));
    const T* in = reinterpret_cast<const T*>(base_ptr(x));
    const T* grad = op.dy ? reinterpret_cast<const T*>(base_ptr(*op.dy)) : nullptr;
    const int64_t* gs = op.dy ? op.dy->strides : x.strides;
    auto load = [](T v) { return static_cast<A>(static_cast<acc_t<T>>(v)); };
    // One run of len elements: x, dy and y at steps xs, gst, ys; the
    // coefficients at step cs (0: the run is one channel's). The unit-step
    // loop is the one the compiler vectorizes.
    auto run = [&](const T* xp, int64_t xs, const T* gp, int64_t gst, T* yp, int64_t ys, int64_t ch, int64_t cs,
                   int64_t len) {
      const A *sc = scale + ch * vs, *sh = shift + ch * hs, *dsc = dy_scale ? dy_scale + ch * ds : nullptr;
      const int64_t step_s = cs * vs, step_h = cs * hs, step_d = cs * ds;
      if (!gp && xs == 1 && ys == 1 && cs == 0) {
        const A a = sc[0], b = sh[0];
        for (int64_t i = 0; i < len; ++i) yp[i] = static_cast<T>(channel_affine_at<A>(load(xp[i]), a, b));
      } else if (gp && xs == 1 && ys == 1 && gst == 1 && cs == 0) {
        const A a = sc[0], b = sh[0], d = dsc[0];
        for (int64_t i = 0; i < len; ++i)
          yp[i] = static_cast<T>(channel_affine_at<A>(load(xp[i]), a, b, load(gp[i]), d));
      } else {
        for (int64_t i = 0; i < len; ++i) {
          const A v = load(xp[i * xs]);
          const A r = gp ? channel_affine_at<A>(v, sc[i * step_s], sh[i * step_h], load(gp[i * gst]), dsc[i * step_d])
                         : channel_affine_at<A>(v, sc[i * step_s], sh[i * step_h]);
          yp[i * ys] = static_cast<T>(r);
        }
      }
    };
    auto grad_at = [&](int64_t n, int64_t ch, int64_t s) { return grad ? grad + n * gs[0] + ch * gs[1] + s * gs[2] : nullptr; };
    if (x.strides[1] == 1 && y.strides[1] == 1 && gs[1] == 1 && C > 1) {
      // Channels-last memory: a run is one (n, s) position's C channels.
      parallel_for(0, N * S, grain_for(C), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t n = r / S, sp = r % S;
          run(in + n * x.strides[0] + sp * x.strides[2], 1, grad_at(n, 0, sp), 1,
              out + n * y.strides[0] + sp * y.strides[2], 1, 0, 1, C);
        }
      });
    } else {
      parallel_for(0, N * C, grain_for(S), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t n = r / C, ch = r % C;
          run(in + n * x.strides[0] + ch * x.strides[1], x.strides[2], grad_at(n, ch, 0), gs[2],
              out + n * y.strides[0] + ch * y.strides[1], y.strides[2], ch, 0, S);
        }
      });
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("channel_affine", x.dtype);
}

}  // namespace gems::cpu
