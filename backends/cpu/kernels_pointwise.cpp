// Pointwise kernels: each is a functor handed to the elementwise engine.
#include <cmath>
#include <string>

#include "../common/add_scaled.h"
#include "../common/division.h"
#include "../common/lerp.h"
#include "../common/power.h"
#include "../common/cat_slices.h"
#include "kernels.h"
#include "runtime.h"
#include "strided_loop.h"
#include "vector_exp.h"

namespace gems::cpu {

int unsupported_dtype(const char* kernel, int32_t dtype) {
  std::string msg = std::string("cpu vendor kernel '") + kernel + "' does not serve dtype code " + std::to_string(dtype);
  return set_error(GEMS_UNSUPPORTED, msg.c_str());
}

namespace {

// out = f(in) with out and in of the same dtype; f works in the compute type.
template <uint32_t MASK, typename F>
int unary(const char* name, const gems_kernel_call* c, F f) {
  const gems_tensor* in = &c->tensors[1];
  bool ok = dispatch_dtype<MASK>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    map_elements<T, T>(c->tensors[0], &in, [&](T x) -> T { return static_cast<T>(f(static_cast<A>(x))); });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, c->tensors[0].dtype);
}

// unary() for ops with a loop over dense float runs in vector_exp.h (also
// compiled for AVX-512): float tensors take it wherever a run is dense, every
// other case f element by element.
template <typename Run, typename F>
int unary_with_float_runs(const char* name, const gems_kernel_call* c, Run run, F f) {
  if (c->tensors[0].dtype != GEMS_FLOAT32 || c->tensors[1].dtype != GEMS_FLOAT32) return unary<kFloating>(name, c, f);
  const gems_tensor* ops[2] = {&c->tensors[0], &c->tensors[1]};
  StridedLoop<2> loop(ops);
  loop.for_each_run([&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(float) && s[1] == sizeof(float)) {
      run(reinterpret_cast<const float*>(p[1]), reinterpret_cast<float*>(p[0]), n);
      return;
    }
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<float*>(p[0] + i * s[0]) = f(*reinterpret_cast<const float*>(p[1] + i * s[1]));
  });
  return GEMS_OK;
}

// out = f(a, b) with a, b (and out unless Out is fixed) of one dtype.
template <uint32_t MASK, typename OutFixed, typename F>
int binary(const char* name, const gems_kernel_call* c, F f) {
  const gems_tensor* ins[2] = {&c->tensors[1], &c->tensors[2]};
  bool ok = dispatch_dtype<MASK>(c->tensors[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    using O = std::conditional_t<std::is_void_v<OutFixed>, T, OutFixed>;
    map_elements<O, T, T>(c->tensors[0], ins, [&](T a, T b) -> O {
      return static_cast<O>(f(static_cast<A>(a), static_cast<A>(b)));
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, c->tensors[1].dtype);
}

template <typename A> A scalar_as(const gems_scalar& s) {
  if constexpr (std::is_floating_point_v<A>) return static_cast<A>(s.f);
  else if constexpr (std::is_same_v<A, bool>) return s.i != 0;
  else return static_cast<A>(s.i);
}

// grad_in = f(grad_out, x) for activation backward kernels (floating only).
template <typename F>
int backward(const char* name, const gems_kernel_call* c, F f) {
  return binary<kFloating, void>(name, c, f);
}


}  // namespace

int k_copy(const gems_kernel_call* c) {
  const gems_tensor* in = &c->tensors[1];
  bool ok = dispatch_dtype<kAll>(c->tensors[0].dtype, [&](auto otag) {
    using O = typename decltype(otag)::type;
    dispatch_dtype<kAll>(in->dtype, [&](auto itag) {
      using I = typename decltype(itag)::type;
      map_elements<O, I>(c->tensors[0], &in, [](I x) { return convert<O>(x); });
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("copy", c->tensors[0].dtype);
}

// cat: each input copied into its slice of out.
int k_cat(const gems_kernel_call* c) { return copy_cat_slices(c, k_copy); }

int k_fill(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  bool ok = dispatch_dtype<kAll>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = static_cast<T>(scalar_as<acc_t<T>>(c->scalars[0]));
    const gems_tensor* ops[1] = {&out};
    StridedLoop<1> loop(ops);
    loop.for_each_run([&](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("fill", out.dtype);
}

int k_neg(const gems_kernel_call* c) {
  return unary<kNumeric>("neg", c, [](auto x) { return -x; });
}
int k_abs(const gems_kernel_call* c) {
  return unary<kNumeric>("abs", c, [](auto x) {
    using A = decltype(x);
    if constexpr (std::is_unsigned_v<A>) return x;
    else return x < A(0) ? A(-x) : x;
  });
}
int k_relu(const gems_kernel_call* c) {
  // NaN stays NaN, as in PyTorch (clamp_min(x, 0) propagates it).
  return unary<kNumeric>("relu", c, [](auto x) { using A = decltype(x); return x > A(0) || x != x ? x : A(0); });
}

#define GEMS_FLOAT_UNARY(NAME, EXPR) \
  int k_##NAME(const gems_kernel_call* c) { \
    return unary<kFloating>(#NAME, c, [](auto x) { using A = decltype(x); (void)sizeof(A); return EXPR; }); \
  }
int k_exp(const gems_kernel_call* c) {
  return unary_with_float_runs("exp", c, exp_floats, [](auto x) { return exp_of(x); });
}
GEMS_FLOAT_UNARY(sqrt, std::sqrt(x))
GEMS_FLOAT_UNARY(rsqrt, A(1) / std::sqrt(x))
GEMS_FLOAT_UNARY(sin, std::sin(x))
GEMS_FLOAT_UNARY(cos, std::cos(x))
int k_log(const gems_kernel_call* c) {
  return unary_with_float_runs("log", c, log_floats, [](auto x) { return log_of(x); });
}
int k_tanh(const gems_kernel_call* c) {
  return unary_with_float_runs("tanh", c, tanh_floats, [](auto x) { return tanh_of(x); });
}
int k_sigmoid(const gems_kernel_call* c) {
  return unary_with_float_runs("sigmoid", c, sigmoid_floats, [](auto x) { return sigmoid_of(x); });
}
int k_silu(const gems_kernel_call* c) {
  return unary_with_float_runs("silu", c, silu_floats, [](auto x) { return silu_of(x); });
}
#undef GEMS_FLOAT_UNARY

// scalars[0].i: 0 = exact (erf), 1 = tanh approximation
int k_gelu(const gems_kernel_call* c) {
  if (c->scalars[0].i == 1)
    return unary<kFloating>("gelu", c, [](auto x) { return gems::gelu_tanh<CpuMath>(x); });
  return unary_with_float_runs("gelu", c, gelu_erf_floats, [](auto x) { return gelu_erf_of(x); });
}

// scalars: [0] min, [1] max, [2].i bit 0 = has min, bit 1 = has max
int k_clamp(const gems_kernel_call* c) {
  const bool has_min = c->scalars[2].i & 1, has_max = c->scalars[2].i & 2;
  const gems_scalar lo = c->scalars[0], hi = c->scalars[1];
  return unary<kNumeric>("clamp", c, [=](auto x) {
    using A = decltype(x);
    if (x != x) return x;  // NaN propagates
    if (has_min) { A m = scalar_as<A>(lo); if (m != m) return m; x = x < m ? m : x; }
    if (has_max) { A m = scalar_as<A>(hi); if (m != m) return m; x = x > m ? m : x; }
    return x;
  });
}

// scalars[0]: alpha, so out = a + alpha * b
int k_add(const gems_kernel_call* c) {
  const gems_scalar alpha = c->scalars[0];
  return binary<kAll, void>("add", c, [=](auto a, auto b) { return add_scaled(a, scalar_as<decltype(a)>(alpha), b); });
}
int k_sub(const gems_kernel_call* c) {
  const gems_scalar alpha = c->scalars[0];
  return binary<kNumeric, void>("sub", c, [=](auto a, auto b) {
    using A = decltype(a);
    return static_cast<A>(a - scalar_as<A>(alpha) * b);
  });
}
int k_mul(const gems_kernel_call* c) {
  if (c->tensors[1].dtype == GEMS_BOOL)
    return binary<kAll, void>("mul", c, [](bool a, bool b) { return a && b; });
  return binary<kNumeric, void>("mul", c, [](auto a, auto b) { return static_cast<decltype(a)>(a * b); });
}

// scalars[0].i: rounding mode, 0 = true division, 1 = trunc, 2 = floor
int k_div(const gems_kernel_call* c) {
  const int64_t mode = c->scalars[0].i;
  if (c->tensors[1].dtype == GEMS_BOOL || !(kFloating & GEMS_DTYPE_BIT(c->tensors[1].dtype))) {
    bool zero_division = false;
    int status = binary<kIntegral, void>("div", c, [&](auto a, auto b) {
      using A = decltype(a);
      if (b == A(0)) { zero_division = true; return A(0); }
      return div_integer(a, b, mode == 2);
    });
    if (status == GEMS_OK && zero_division) return set_error(GEMS_INVALID_ARGUMENT, "ZeroDivisionError");
    return status;
  }
  if (mode == 1) return binary<kFloating, void>("div", c, [](auto a, auto b) { return std::trunc(a / b); });
  if (mode == 2) return binary<kFloating, void>("div", c, [](auto a, auto b) { return div_floor_floating(a, b); });
  return binary<kFloating, void>("div", c, [](auto a, auto b) { return a / b; });
}

// Integer remainder by zero raises ZeroDivisionError, as on PyTorch's CPU.
int k_remainder(const gems_kernel_call* c) {
  if (kFloating & GEMS_DTYPE_BIT(c->tensors[1].dtype))
    return binary<kFloating, void>("remainder", c, [](auto a, auto b) { return remainder_floating(a, b); });
  bool zero_division = false;
  int status = binary<kIntegral, void>("remainder", c, [&](auto a, auto b) {
    using A = decltype(a);
    if (b == A(0)) { zero_division = true; return A(0); }
    return remainder_integer(a, b);
  });
  if (status == GEMS_OK && zero_division) return set_error(GEMS_INVALID_ARGUMENT, "ZeroDivisionError");
  return status;
}
int k_maximum(const gems_kernel_call* c) {
  return binary<kAll, void>("maximum", c, [](auto a, auto b) { return maximum_of(a, b); });
}
int k_minimum(const gems_kernel_call* c) {
  return binary<kAll, void>("minimum", c, [](auto a, auto b) { return minimum_of(a, b); });
}

int k_pow(const gems_kernel_call* c) {
  return binary<kNumeric, void>("pow", c, [](auto a, auto b) { return power(a, b); });
}

#define GEMS_COMPARE(NAME, OP) \
  int k_##NAME(const gems_kernel_call* c) { \
    return binary<kAll, bool>(#NAME, c, [](auto a, auto b) { return a OP b; }); \
  }
GEMS_COMPARE(eq, ==)
GEMS_COMPARE(ne, !=)
GEMS_COMPARE(lt, <)
GEMS_COMPARE(le, <=)
GEMS_COMPARE(gt, >)
GEMS_COMPARE(ge, >=)
#undef GEMS_COMPARE

// Integer (and bool) bitwise ops: out, a, b / out, in.
int k_bitwise_and(const gems_kernel_call* c) {
  return binary<kIntegral | GEMS_DTYPE_BIT(GEMS_BOOL), void>("bitwise_and", c, [](auto a, auto b) {
    using A = decltype(a);
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return static_cast<A>(a & b);
  });
}
int k_bitwise_or(const gems_kernel_call* c) {
  return binary<kIntegral | GEMS_DTYPE_BIT(GEMS_BOOL), void>("bitwise_or", c, [](auto a, auto b) {
    using A = decltype(a);
    if constexpr (std::is_same_v<A, bool>) return a || b;
    else return static_cast<A>(a | b);
  });
}
int k_bitwise_not(const gems_kernel_call* c) {
  return unary<kIntegral | GEMS_DTYPE_BIT(GEMS_BOOL)>("bitwise_not", c, [](auto x) {
    using A = decltype(x);
    if constexpr (std::is_same_v<A, bool>) return !x;
    else return static_cast<A>(~x);
  });
}

// tensors: out, cond (bool), a, b (a, b and out of one dtype)
int k_where(const gems_kernel_call* c) {
  const gems_tensor* ins[3] = {&c->tensors[1], &c->tensors[2], &c->tensors[3]};
  bool ok = dispatch_dtype<kAll>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_elements<T, bool, T, T>(c->tensors[0], ins, [](bool m, T a, T b) { return m ? a : b; });
  });
  return ok ? GEMS_OK : unsupported_dtype("where", c->tensors[0].dtype);
}

// Optimizer arithmetic: out, self, a, b (one dtype); scalars[0] value/weight.
namespace {
template <uint32_t MASK, typename F>
int ternary(const char* name, const gems_kernel_call* c, F f) {
  const gems_tensor* ins[3] = {&c->tensors[1], &c->tensors[2], &c->tensors[3]};
  bool ok = dispatch_dtype<MASK>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    map_elements<T, T, T, T>(c->tensors[0], ins, [&](T x, T a, T b) -> T {
      return static_cast<T>(f(static_cast<A>(x), static_cast<A>(a), static_cast<A>(b)));
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, c->tensors[0].dtype);
}
}  // namespace

// out = self + value * a * b
int k_addcmul(const gems_kernel_call* c) {
  const gems_scalar v = c->scalars[0];
  return ternary<kNumeric>("addcmul", c, [=](auto x, auto a, auto b) {
    using A = decltype(x);
    return static_cast<A>(x + scalar_as<A>(v) * a * b);
  });
}
// out = self + value * a / b
int k_addcdiv(const gems_kernel_call* c) {
  const gems_scalar v = c->scalars[0];
  return ternary<kFloating>("addcdiv", c, [=](auto x, auto a, auto b) { using A = decltype(x); return x + scalar_as<A>(v) * a / b; });
}
// out = lerp(self, end, weight); tensors out, self, end, weight, or, without the
// weight tensor (three tensors), scalars[0] as the weight in the compute
// type (a Python weight is not rounded to the 16-bit dtype first).
int k_lerp(const gems_kernel_call* c) {
  if (c->num_tensors < 4) {
    const gems_scalar w = c->scalars[0];
    return binary<kFloating, void>("lerp", c, [=](auto x, auto e) { return lerp_of(x, e, scalar_as<decltype(x)>(w)); });
  }
  return ternary<kFloating>("lerp", c, [](auto x, auto e, auto w) { return lerp_of(x, e, w); });
}

// tensors: grad_in, grad_out, x; scalars[0]: threshold
int k_threshold_backward(const gems_kernel_call* c) {
  const gems_scalar th = c->scalars[0];
  return binary<kNumeric, void>("threshold_backward", c, [=](auto g, auto x) {
    using A = decltype(g);
    return x <= scalar_as<A>(th) ? A(0) : g;
  });
}
// tensors: grad_in, grad_out, x; scalars[0].i: 0 = exact, 1 = tanh
int k_gelu_backward(const gems_kernel_call* c) {
  if (c->scalars[0].i == 1)
    return backward("gelu_backward", c, [](auto g, auto x) {
      using A = decltype(g);
      const A k = A(kSqrt2OverPi), k2 = A(0.044715);
      A inner = k * (x + k2 * x * x * x);
      A t = tanh_of(inner);
      A dinner = k * (A(1) + A(3) * k2 * x * x);
      return g * (A(0.5) * (A(1) + t) + A(0.5) * x * (A(1) - t * t) * dinner);
    });
  return backward("gelu_backward", c, [](auto g, auto x) { return gelu_erf_backward_of(g, x); });
}
int k_silu_backward(const gems_kernel_call* c) {
  return backward("silu_backward", c, [](auto g, auto x) {
    using A = decltype(g);
    const A s = sigmoid_of(x);
    return g * s * (A(1) + x * (A(1) - s));
  });
}
// tensors: grad_in, grad_out, y (the forward output)
int k_sigmoid_backward(const gems_kernel_call* c) {
  return backward("sigmoid_backward", c, [](auto g, auto y) { using A = decltype(g); return g * (A(1) - y) * y; });
}
int k_tanh_backward(const gems_kernel_call* c) {
  return backward("tanh_backward", c, [](auto g, auto y) { using A = decltype(g); return g * (A(1) - y * y); });
}

}  // namespace gems::cpu
