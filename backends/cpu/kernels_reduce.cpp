// Reductions, softmax and norms, on top of row_loop.h.
// Every kernel here reduces over the trailing dims of its input: the core
// permutes the reduced dims to the end before it calls (see kernel_table.cpp).
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/histogram.h"

#include "kernels.h"
#include "row_loop.h"
#include "runtime.h"
#include "vector_exp.h"

namespace gems::cpu {
namespace {

// out (k dims) = reduction of in (k + r dims) over its last r dims.
template <bool kMean>
int reduce_sum_like(const char* name, const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const gems_tensor& in = c->tensors[1];
  bool ok = dispatch_dtype<kNumeric>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_integral_v<T>, int64_t, std::conditional_t<std::is_same_v<T, double>, double, float>>;
    const gems_tensor* ops[2] = {&out, &in};
    OuterLoop<2> outer(ops, out.ndim);
    ReducedSpace rs(in, out.ndim);
    outer.for_each(rs.numel, [&](int64_t, char** p) {
      A total = 0;
      rs.visit(reinterpret_cast<const T*>(p[1]), [&](const T* q, int64_t n, int64_t s, int64_t) {
        total += sum_run<A>(q, n, s);
      });
      if constexpr (kMean) {
        *reinterpret_cast<T*>(p[0]) = static_cast<T>(rs.numel ? total / static_cast<A>(rs.numel)
                                                               : std::numeric_limits<A>::quiet_NaN());
      } else {
        *reinterpret_cast<T*>(p[0]) = static_cast<T>(total);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, in.dtype);
}

// values (k dims) and optionally indices (int64, k dims) of the max or min of
// in over its last r dims. NaN wins, as in PyTorch; ties keep the first index.
template <bool kMax>
int reduce_extreme(const char* name, const gems_kernel_call* c) {
  const gems_tensor& values = c->tensors[0];
  const gems_tensor& in = c->tensors[1];
  const bool with_indices = c->num_tensors > 2;
  const gems_tensor& indices = with_indices ? c->tensors[2] : c->tensors[0];
  bool ok = dispatch_dtype<kAll>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const gems_tensor* ops[3] = {&values, &in, &indices};
    OuterLoop<3> outer(ops, values.ndim);
    ReducedSpace rs(in, values.ndim);
    outer.for_each(rs.numel, [&](int64_t, char** p) {
      A best = static_cast<A>(*reinterpret_cast<const T*>(p[1]));
      int64_t best_index = 0;
      bool found_nan = false;
      rs.visit(reinterpret_cast<const T*>(p[1]), [&](const T* q, int64_t n, int64_t s, int64_t first) {
        if (found_nan) return;
        for (int64_t i = 0; i < n; ++i) {
          const A v = static_cast<A>(q[i * s]);
          if (v != v) { best = v; best_index = first + i; found_nan = true; return; }
          if (kMax ? v > best : v < best) { best = v; best_index = first + i; }
        }
      });
      *reinterpret_cast<T*>(p[0]) = static_cast<T>(best);
      if (with_indices) *reinterpret_cast<int64_t*>(p[2]) = best_index;
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, in.dtype);
}

// Calls f(std::true_type{}) when has is true, else f(std::false_type{}): a
// loop's optional operand as a compile-time choice, so the loop has no test.
template <typename F>
void with_weight(bool has, F&& f) {
  if (has) f(std::true_type{});
  else f(std::false_type{});
}

// Shared driver for row-wise ops over the last dim: tensors all have the same
// number of dims and share the outer ones. f(ptrs, n, strides_of_last_dim).
template <int N, typename T, typename F>
void for_each_row(const gems_kernel_call* c, F f) {
  const gems_tensor* ops[N];
  for (int j = 0; j < N; ++j) ops[j] = &c->tensors[j];
  const int k = c->tensors[0].ndim - 1;
  const int64_t n = k >= 0 ? c->tensors[0].sizes[k] : 1;
  int64_t s[N];
  for (int j = 0; j < N; ++j) s[j] = k >= 0 ? c->tensors[j].strides[k] : 1;
  OuterLoop<N> outer(ops, k < 0 ? 0 : k);
  outer.for_each(n * 4, [&](int64_t, char** p) {
    T* rows[N];
    for (int j = 0; j < N; ++j) rows[j] = reinterpret_cast<T*>(p[j]);
    f(rows, n, s);
  });
}

// Softmax over rows: each row in the compute type, contiguous, its
// exponentials and their sum computed in one vectorized pass (exp_shifted_sum,
// no library call an element); the float output row itself holds them when
// it can. (Two libm exp calls an element over strided loops had cost
// 0.11-0.16x torch CPU's time.)
template <bool kLog>
int softmax_forward(const char* name, const gems_kernel_call* c) {
  bool ok = dispatch_dtype<kFloating>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    for_each_row<2, T>(c, [](T** r, int64_t n, const int64_t* s) {
      const A* x = contiguous_row<A>(r[1], n, s[1]);
      A mx = max_run(x, n);
      if (std::isinf(mx) && mx < 0) mx = 0;  // an all -inf row: exp gives 0s (then 0 / 0), not inf - inf
      A* e = nullptr;
      if constexpr (std::is_same_v<A, T> && !kLog)
        if (s[0] == 1) e = r[0];
      if (!e) e = scratch_row<A>(1, n);
      const A sum = exp_shifted_sum(x, mx, e, n);
      // (the contiguous output apart, so that its loop vectorizes)
      T* o = r[0];
      const int64_t os = s[0];
      if constexpr (kLog) {
        const A lse = std::log(sum) + mx;
        if (os == 1)
          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(x[i] - lse);
        else
          for (int64_t i = 0; i < n; ++i) o[i * os] = static_cast<T>(x[i] - lse);
      } else {
        const A inv = A(1) / sum;
        if (os == 1)
          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(e[i] * inv);
        else
          for (int64_t i = 0; i < n; ++i) o[i * os] = static_cast<T>(e[i] * inv);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, c->tensors[0].dtype);
}

// tensors: grad_in, grad_out, output
template <bool kLog>
int softmax_backward_impl(const char* name, const gems_kernel_call* c) {
  bool ok = dispatch_dtype<kFloating>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    for_each_row<3, T>(c, [](T** r, int64_t n, const int64_t* s) {
      const A dot = sum_of<A>(n, [&](int64_t i) {
        const A g = static_cast<A>(r[1][i * s[1]]);
        return kLog ? g : g * static_cast<A>(r[2][i * s[2]]);
      });
      for (int64_t i = 0; i < n; ++i) {
        const A g = static_cast<A>(r[1][i * s[1]]), y = static_cast<A>(r[2][i * s[2]]);
        r[0][i * s[0]] = static_cast<T>(kLog ? g - exp_of(y) * dot : y * (g - dot));
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, c->tensors[0].dtype);
}

}  // namespace

int k_reduce_sum(const gems_kernel_call* c) { return reduce_sum_like<false>("reduce_sum", c); }
int k_reduce_mean(const gems_kernel_call* c) { return reduce_sum_like<true>("reduce_mean", c); }
int k_reduce_max(const gems_kernel_call* c) { return reduce_extreme<true>("reduce_max", c); }
int k_reduce_min(const gems_kernel_call* c) { return reduce_extreme<false>("reduce_min", c); }
int k_softmax(const gems_kernel_call* c) { return softmax_forward<false>("softmax", c); }
int k_log_softmax(const gems_kernel_call* c) { return softmax_forward<true>("log_softmax", c); }
int k_softmax_backward(const gems_kernel_call* c) { return softmax_backward_impl<false>("softmax_backward", c); }
int k_log_softmax_backward(const gems_kernel_call* c) { return softmax_backward_impl<true>("log_softmax_backward", c); }

// tensors: out, in (same shape); cumulative sum along the last dim, in the
// compute type (float for 16-bit floats).
int k_cumsum(const gems_kernel_call* c) {
  bool ok = dispatch_dtype<kNumeric>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;
    for_each_row<2, T>(c, [](T** r, int64_t n, const int64_t* s) {
      A acc = 0;
      for (int64_t i = 0; i < n; ++i) {
        acc += static_cast<A>(r[1][i * s[1]]);
        r[0][i * s[0]] = static_cast<T>(acc);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("cumsum", c->tensors[0].dtype);
}

// tensors: counts (x's dtype, contiguous, one per bin), x (1-D, any stride);
// scalars [0].f lo, [1].f hi (lo < hi). counts[b] = how many x fall in bin b
// (histc_bin). Each task counts a slice into its own histogram; the sums are
// integers, so the result does not depend on how the slices fall.
int k_histc(const gems_kernel_call* c) {
  const gems_tensor &counts = c->tensors[0], &x = c->tensors[1];
  const double lo = c->scalars[0].f, hi = c->scalars[1].f;
  const int64_t bins = counts.sizes[0], n = x.ndim ? x.sizes[0] : 1, stride = x.ndim ? x.strides[0] : 0;
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), n / kTaskWork));
  std::vector<std::vector<int64_t>> partial(static_cast<size_t>(tasks), std::vector<int64_t>(static_cast<size_t>(bins)));
  bool ok = dispatch_dtype<kNumeric>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = histc_compute_t<acc_t<T>>;
    const T* p = reinterpret_cast<const T*>(base_ptr(x));
    parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        std::vector<int64_t>& mine = partial[static_cast<size_t>(t)];
        for (int64_t i = n * t / tasks, end = n * (t + 1) / tasks; i < end; ++i) {
          const int64_t b = histc_bin<A>(static_cast<A>(static_cast<acc_t<T>>(p[i * stride])), static_cast<A>(lo),
                                         static_cast<A>(hi), bins);
          if (b >= 0) ++mine[static_cast<size_t>(b)];
        }
      }
    });
    T* out = reinterpret_cast<T*>(base_ptr(counts));
    for (int64_t b = 0; b < bins; ++b) {
      int64_t total = 0;
      for (const std::vector<int64_t>& h : partial) total += h[static_cast<size_t>(b)];
      out[b] = static_cast<T>(total);
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("histc", x.dtype);
}

// tensors: out [..., R, C], in (same shape); scalars: [0].i diagonal,
// [1].i 0 = tril (keep j - i <= diagonal), 1 = triu (keep j - i >= diagonal).
int k_tril(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const int64_t diagonal = c->scalars[0].i;
  const bool upper = c->scalars[1].i != 0;
  bool ok = dispatch_dtype<kAll>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int k = out.ndim - 2;
    const int64_t R = out.sizes[k], C = out.sizes[k + 1];
    const gems_tensor* ops[2] = {&out, &in};
    OuterLoop<2> outer(ops, k);
    outer.for_each(R * C, [&](int64_t, char** p) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* x = reinterpret_cast<const T*>(p[1]);
      for (int64_t i = 0; i < R; ++i)
        for (int64_t j = 0; j < C; ++j) {
          const bool keep = upper ? j - i >= diagonal : j - i <= diagonal;
          o[i * out.strides[k] + j * out.strides[k + 1]] = keep ? x[i * in.strides[k] + j * in.strides[k + 1]] : T(0);
        }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("tril", out.dtype);
}

// tensors: out [M,N], mean [M] (float), rstd [M] (float), in [M,N], weight [N]
// or absent (data NULL), bias [N] or absent; scalars[0]: eps. Rows of in and
// out have unit stride in their last dim.
int k_layer_norm(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &mean = c->tensors[1], &rstd = c->tensors[2], &in = c->tensors[3];
  const gems_tensor &w = c->tensors[4], &b = c->tensors[5];
  const double eps = c->scalars[0].f;
  bool ok = dispatch_dtype<kFloating>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    using S = std::conditional_t<std::is_same_v<T, double>, double, float>;  // mean/rstd type
    const int64_t M = in.sizes[0], N = in.sizes[1];
    const T* X = reinterpret_cast<const T*>(base_ptr(in));
    T* Y = reinterpret_cast<T*>(base_ptr(out));
    const T* W = present(w) ? reinterpret_cast<const T*>(base_ptr(w)) : nullptr;
    const T* B = present(b) ? reinterpret_cast<const T*>(base_ptr(b)) : nullptr;
    S* MEAN = reinterpret_cast<S*>(base_ptr(mean));
    S* RSTD = reinterpret_cast<S*>(base_ptr(rstd));
    parallel_for(0, M, grain_for(N), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* x = X + r * in.strides[0];
        T* y = Y + r * out.strides[0];
        const A mu = N ? sum_run<A>(x, N, 1) / A(N) : A(0);
        const A var = N ? squares_run<A>(x, N, mu) / A(N) : A(0);
        const A rs = A(1) / std::sqrt(var + A(eps));
        // (one loop per affine case: no test an element, so each vectorizes)
        if (W && B)
          for (int64_t i = 0; i < N; ++i)
            y[i] = static_cast<T>((static_cast<A>(x[i]) - mu) * rs * static_cast<A>(W[i]) + static_cast<A>(B[i]));
        else if (W)
          for (int64_t i = 0; i < N; ++i) y[i] = static_cast<T>((static_cast<A>(x[i]) - mu) * rs * static_cast<A>(W[i]));
        else
          for (int64_t i = 0; i < N; ++i) {
            A v = (static_cast<A>(x[i]) - mu) * rs;
            if (B) v += static_cast<A>(B[i]);
            y[i] = static_cast<T>(v);
          }
        MEAN[r * mean.strides[0]] = static_cast<S>(mu);
        RSTD[r * rstd.strides[0]] = static_cast<S>(rs);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("layer_norm", in.dtype);
}

// tensors: grad_in [M,N] or absent, grad_weight [N] or absent, grad_bias [N]
// or absent, grad_out [M,N], in [M,N], mean [M], rstd [M], weight [N] or absent.
// All row-major contiguous.
int k_layer_norm_backward(const gems_kernel_call* c) {
  const gems_tensor *t = c->tensors;
  bool ok = dispatch_dtype<kFloating>(t[4].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t M = t[4].sizes[0], N = t[4].sizes[1];
    T* dX = present(t[0]) ? reinterpret_cast<T*>(base_ptr(t[0])) : nullptr;
    T* dW = present(t[1]) ? reinterpret_cast<T*>(base_ptr(t[1])) : nullptr;
    T* dB = present(t[2]) ? reinterpret_cast<T*>(base_ptr(t[2])) : nullptr;
    const T* dY = reinterpret_cast<const T*>(base_ptr(t[3]));
    const T* X = reinterpret_cast<const T*>(base_ptr(t[4]));
    const S* MEAN = reinterpret_cast<const S*>(base_ptr(t[5]));
    const S* RSTD = reinterpret_cast<const S*>(base_ptr(t[6]));
    const T* W = present(t[7]) ? reinterpret_cast<const T*>(base_ptr(t[7])) : nullptr;
    if (dX) {
      // (with and without a weight as two loops: no test an element, so each vectorizes)
      with_weight(W != nullptr, [&](auto has_w) {
        constexpr bool kW = decltype(has_w)::value;
        parallel_for(0, M, grain_for(N), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const T* x = X + r * N; const T* dy = dY + r * N; T* dx = dX + r * N;
            const A mu = static_cast<A>(MEAN[r]), rs = static_cast<A>(RSTD[r]);
            const auto g_at = [&](int64_t i) { return static_cast<A>(dy[i]) * (kW ? static_cast<A>(W[i]) : A(1)); };
            const A sum_g = sum_of<A>(N, g_at);
            const A sum_gx = sum_of<A>(N, [&](int64_t i) { return g_at(i) * (static_cast<A>(x[i]) - mu) * rs; });
            for (int64_t i = 0; i < N; ++i) {
              const A xhat = (static_cast<A>(x[i]) - mu) * rs;
              dx[i] = static_cast<T>(rs * (g_at(i) - sum_g / A(N) - xhat * sum_gx / A(N)));
            }
          }
        });
      });
    }
    if (dW || dB) {
      // Rows outer, a task's columns inner (contiguous, vectorized); each column still sums its rows in order.
      parallel_for(0, N, 64, [&](int64_t c0, int64_t c1) {
        std::vector<A> gw(static_cast<size_t>(c1 - c0)), gb(static_cast<size_t>(c1 - c0));
        for (int64_t r = 0; r < M; ++r) {
          const A mu = static_cast<A>(MEAN[r]), rs = static_cast<A>(RSTD[r]);
          const T* dy = dY + r * N + c0;
          const T* x = X + r * N + c0;
          for (int64_t i = 0; i < c1 - c0; ++i) {
            const A g = static_cast<A>(dy[i]);
            gw[i] += g * (static_cast<A>(x[i]) - mu) * rs;
            gb[i] += g;
          }
        }
        for (int64_t i = c0; i < c1; ++i) {
          if (dW) dW[i] = static_cast<T>(gw[i - c0]);
          if (dB) dB[i] = static_cast<T>(gb[i - c0]);
        }
      });
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("layer_norm_backward", t[4].dtype);
}

// tensors: out [M,N], rstd [M] (float), in [M,N], weight [N] or absent;
// scalars[0]: eps. Row-major contiguous.
int k_rms_norm(const gems_kernel_call* c) {
  const gems_tensor *t = c->tensors;
  const double eps = c->scalars[0].f;
  bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t M = t[2].sizes[0], N = t[2].sizes[1];
    T* Y = reinterpret_cast<T*>(base_ptr(t[0]));
    S* RSTD = reinterpret_cast<S*>(base_ptr(t[1]));
    const T* X = reinterpret_cast<const T*>(base_ptr(t[2]));
    const T* W = present(t[3]) ? reinterpret_cast<const T*>(base_ptr(t[3])) : nullptr;
    parallel_for(0, M, grain_for(N), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* x = X + r * N; T* y = Y + r * N;
        const A ss = squares_run<A>(x, N, A(0));
        const A rs = A(1) / std::sqrt(ss / A(N ? N : 1) + A(eps));
        if (W)
          for (int64_t i = 0; i < N; ++i) y[i] = static_cast<T>(static_cast<A>(x[i]) * rs * static_cast<A>(W[i]));
        else
          for (int64_t i = 0; i < N; ++i) y[i] = static_cast<T>(static_cast<A>(x[i]) * rs);
        RSTD[r] = static_cast<S>(rs);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("rms_norm", t[2].dtype);
}

// tensors: grad_in [M,N] or absent, grad_weight [N] or absent, grad_out [M,N],
// in [M,N], rstd [M], weight [N] or absent. Row-major contiguous.
int k_rms_norm_backward(const gems_kernel_call* c) {
  const gems_tensor *t = c->tensors;
  bool ok = dispatch_dtype<kFloating>(t[3].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t M = t[3].sizes[0], N = t[3].sizes[1];
    T* dX = present(t[0]) ? reinterpret_cast<T*>(base_ptr(t[0])) : nullptr;
    T* dW = present(t[1]) ? reinterpret_cast<T*>(base_ptr(t[1])) : nullptr;
    const T* dY = reinterpret_cast<const T*>(base_ptr(t[2]));
    const T* X = reinterpret_cast<const T*>(base_ptr(t[3]));
    const S* RSTD = reinterpret_cast<const S*>(base_ptr(t[4]));
    const T* W = present(t[5]) ? reinterpret_cast<const T*>(base_ptr(t[5])) : nullptr;
    if (dX) {
      with_weight(W != nullptr, [&](auto has_w) {  // as layer_norm's
        constexpr bool kW = decltype(has_w)::value;
        parallel_for(0, M, grain_for(N), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const T* x = X + r * N; const T* dy = dY + r * N; T* dx = dX + r * N;
            const A rs = static_cast<A>(RSTD[r]);
            const auto g_at = [&](int64_t i) { return static_cast<A>(dy[i]) * (kW ? static_cast<A>(W[i]) : A(1)); };
            const A dot = sum_of<A>(N, [&](int64_t i) { return g_at(i) * static_cast<A>(x[i]); });
            const A k = rs * rs * rs * dot / A(N);
            for (int64_t i = 0; i < N; ++i) dx[i] = static_cast<T>(g_at(i) * rs - static_cast<A>(x[i]) * k);
          }
        });
      });
    }
    if (dW) {
      parallel_for(0, N, 64, [&](int64_t c0, int64_t c1) {  // rows outer, as layer_norm's
        std::vector<A> gw(static_cast<size_t>(c1 - c0));
        for (int64_t r = 0; r < M; ++r) {
          const A rs = static_cast<A>(RSTD[r]);
          const T* dy = dY + r * N + c0;
          const T* x = X + r * N + c0;
          for (int64_t i = 0; i < c1 - c0; ++i) gw[i] += static_cast<A>(dy[i]) * static_cast<A>(x[i]) * rs;
        }
        for (int64_t i = c0; i < c1; ++i) dW[i] = static_cast<T>(gw[i - c0]);
      });
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("rms_norm_backward", t[3].dtype);
}

}  // namespace gems::cpu
