// Pointwise kernels: each op is a functor handed to the elementwise engine.
// Functors work in the compute type (float for 16-bit floats); Typed<>
// converts operands on the way in and the result on the way out.
#include <string>

#include "../common/add_scaled.h"
#include "../common/division.h"
#include "../common/lerp.h"
#include "../common/power.h"
#include "elementwise.cuh"
#include "kernels.h"

namespace gems::nvidia {

int launch_status(const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return GEMS_OK;
  return set_error_string(GEMS_ERROR, (std::string("kernel '") + kernel + "': " + cudaGetErrorString(e)).c_str());
}

int unsupported_dtype(const char* kernel, int32_t dtype) {
  const std::string msg = std::string("nvidia vendor kernel '") + kernel + "' does not serve dtype code " +
                          std::to_string(dtype);
  return set_error_string(GEMS_UNSUPPORTED, msg.c_str());
}

namespace {

struct Scalar {
  double f;
  int64_t i;
  template <typename A>
  __device__ __forceinline__ A as() const {
    if constexpr (std::is_floating_point_v<A>) return static_cast<A>(f);
    else if constexpr (std::is_same_v<A, bool>) return i != 0;
    else return static_cast<A>(i);
  }
};
Scalar scalar(const gems_scalar& s) { return Scalar{s.f, s.i}; }

template <typename T, typename Op>
struct Typed1 {
  Op op;
  __device__ __forceinline__ T operator()(T x) const { return store_as<T>(op(load_as<acc_t<T>>(x))); }
};
template <typename T, typename R, typename Op>
struct Typed2 {
  Op op;
  __device__ __forceinline__ R operator()(T a, T b) const {
    return store_as<R>(op(load_as<acc_t<T>>(a), load_as<acc_t<T>>(b)));
  }
};

template <uint32_t MASK, typename Op>
int unary(const char* name, const gems_kernel_call* c, Op op) {
  const gems_tensor* in = &c->tensors[1];
  const bool ok = dispatch_dtype<MASK>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_elements<T, T>(c->tensors[0], &in, Typed1<T, Op>{op}, stream_of(c));
  });
  return ok ? launch_status(name) : unsupported_dtype(name, c->tensors[0].dtype);
}

// R = void: the result has the inputs' dtype; else R (bool for comparisons).
template <uint32_t MASK, typename R, typename Op>
int binary(const char* name, const gems_kernel_call* c, Op op) {
  const gems_tensor* ins[2] = {&c->tensors[1], &c->tensors[2]};
  const bool ok = dispatch_dtype<MASK>(c->tensors[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<std::is_void_v<R>, T, R>;
    map_elements<O, T, T>(c->tensors[0], ins, Typed2<T, O, Op>{op}, stream_of(c));
  });
  return ok ? launch_status(name) : unsupported_dtype(name, c->tensors[1].dtype);
}

constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kInvSqrt2 = 0.70710678118654752440;

template <typename O>
struct Convert {
  template <typename I>
  __device__ __forceinline__ O operator()(I x) const { return convert<O>(x); }
};

template <typename T>
__global__ void fill_strided(StridedShape<1> s, T* out, T v) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < s.numel; i += stride) {
    int64_t off[1];
    offsets_of(s, i, off);
    out[off[0]] = v;
  }
}

// The same over a dense tensor in 16-byte stores: at::zeros of a 32000x4096
// bf16 gradient took 298 us with one 2-byte store a thread (0.86 TB/s).
template <int V, typename T>
__global__ void fill_contiguous(int64_t n, T* out, T v) {
  contiguous_tile<V>(n, out, [](int, int64_t) {}, [&](int, int) { return v; }, [&](int64_t) { return v; });
}

}  // namespace

int k_copy(const gems_kernel_call* c) {
  const gems_tensor* in = &c->tensors[1];
  const bool ok = dispatch_dtype<kAll>(c->tensors[0].dtype, [&](auto otag) {
    using O = typename decltype(otag)::type;
    dispatch_dtype<kAll>(in->dtype, [&](auto itag) {
      using I = typename decltype(itag)::type;
      map_elements<O, I>(c->tensors[0], &in, Convert<O>{}, stream_of(c));
    });
  });
  return ok ? launch_status("copy") : unsupported_dtype("copy", c->tensors[0].dtype);
}

int k_fill(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const Scalar v = scalar(c->scalars[0]);
  const bool ok = dispatch_dtype<kAll>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    T value;
    // The value is converted on the host: fill has no device-side input.
    if constexpr (std::is_same_v<T, half>) value = __float2half_rn(static_cast<float>(v.f));
    else if constexpr (std::is_same_v<T, bf16>) value = __float2bfloat16_rn(static_cast<float>(v.f));
    else if constexpr (std::is_floating_point_v<A>) value = static_cast<T>(v.f);
    else if constexpr (std::is_same_v<T, bool>) value = v.i != 0;
    else value = static_cast<T>(v.i);
    const gems_tensor* ops[1] = {&out};
    StridedShape<1> s(ops);
    T* p = reinterpret_cast<T*>(base_ptr(out));
    constexpr int V = 16 / sizeof(T);
    if (s.numel == 0) return;
    if (s.contiguous() && reinterpret_cast<uintptr_t>(p) % 16 == 0)
      fill_contiguous<V, T><<<grid_for_tiles(s.numel / V), kBlock, 0, stream_of(c)>>>(s.numel, p, value);
    else
      fill_strided<T><<<grid_for(s.numel), kBlock, 0, stream_of(c)>>>(s, p, value);
  });
  return ok ? launch_status("fill") : unsupported_dtype("fill", out.dtype);
}

// ---- unary ----
struct NegOp { template <typename A> __device__ A operator()(A x) const { return -x; } };
struct AbsOp {
  template <typename A> __device__ A operator()(A x) const {
    if constexpr (std::is_unsigned_v<A>) return x;
    else return x < A(0) ? A(-x) : x;
  }
};
struct ReluOp {
  template <typename A> __device__ A operator()(A x) const { return (x > A(0) || x != x) ? x : A(0); }
};
#define GEMS_FLOAT_OP(NAME, EXPR) \
  struct NAME##Op { template <typename A> __device__ A operator()(A x) const { return EXPR; } };
GEMS_FLOAT_OP(Exp, ::exp(x))
GEMS_FLOAT_OP(Log, ::log(x))
GEMS_FLOAT_OP(Sqrt, ::sqrt(x))
GEMS_FLOAT_OP(Rsqrt, A(1) / ::sqrt(x))
GEMS_FLOAT_OP(Sin, ::sin(x))
GEMS_FLOAT_OP(Cos, ::cos(x))
GEMS_FLOAT_OP(Tanh, ::tanh(x))
GEMS_FLOAT_OP(Sigmoid, A(1) / (A(1) + ::exp(-x)))
GEMS_FLOAT_OP(Silu, x / (A(1) + ::exp(-x)))
GEMS_FLOAT_OP(GeluErf, x * A(0.5) * (A(1) + ::erf(x * A(kInvSqrt2))))
GEMS_FLOAT_OP(GeluTanh, A(0.5) * x * (A(1) + ::tanh(A(kSqrt2OverPi) * (x + A(0.044715) * x * x * x))))
#undef GEMS_FLOAT_OP

// 16-bit activations: the float math rounds to 8 (bf16) or 11 (f16) bits, so
// the hardware's approximate tanh (error ~2^-11) and exp, and a fast divide,
// change no result beyond that rounding, and keep these ops memory-bound.
__device__ __forceinline__ float tanh_fast(float x) {
#if defined(GEMS_HIP)
  return ::tanhf(x);  // (AMD has no tanh instruction)
#else
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#endif
}
struct SiluFastOp {
  __device__ float operator()(float x) const { return __fdividef(x, 1.0f + __expf(-x)); }
};
struct GeluTanhFastOp {
  __device__ float operator()(float x) const {
    return 0.5f * x * (1.0f + tanh_fast(float(kSqrt2OverPi) * (x + 0.044715f * x * x * x)));
  }
};
constexpr uint32_t k16Bit = GEMS_DTYPE_BIT(GEMS_FLOAT16) | GEMS_DTYPE_BIT(GEMS_BFLOAT16);
bool is_16bit(int32_t dtype) { return (k16Bit & GEMS_DTYPE_BIT(dtype)) != 0; }

int k_neg(const gems_kernel_call* c) { return unary<kNumeric>("neg", c, NegOp{}); }
int k_abs(const gems_kernel_call* c) { return unary<kNumeric>("abs", c, AbsOp{}); }
int k_relu(const gems_kernel_call* c) { return unary<kNumeric>("relu", c, ReluOp{}); }
int k_exp(const gems_kernel_call* c) { return unary<kFloating>("exp", c, ExpOp{}); }
int k_log(const gems_kernel_call* c) { return unary<kFloating>("log", c, LogOp{}); }
int k_sqrt(const gems_kernel_call* c) { return unary<kFloating>("sqrt", c, SqrtOp{}); }
int k_rsqrt(const gems_kernel_call* c) { return unary<kFloating>("rsqrt", c, RsqrtOp{}); }
int k_sin(const gems_kernel_call* c) { return unary<kFloating>("sin", c, SinOp{}); }
int k_cos(const gems_kernel_call* c) { return unary<kFloating>("cos", c, CosOp{}); }
int k_tanh(const gems_kernel_call* c) { return unary<kFloating>("tanh", c, TanhOp{}); }
int k_sigmoid(const gems_kernel_call* c) { return unary<kFloating>("sigmoid", c, SigmoidOp{}); }
int k_silu(const gems_kernel_call* c) {
  return is_16bit(c->tensors[0].dtype) ? unary<k16Bit>("silu", c, SiluFastOp{}) : unary<kFloating>("silu", c, SiluOp{});
}
int k_gelu(const gems_kernel_call* c) {
  if (c->scalars[0].i != 1) return unary<kFloating>("gelu", c, GeluErfOp{});
  return is_16bit(c->tensors[0].dtype) ? unary<k16Bit>("gelu", c, GeluTanhFastOp{})
                                        : unary<kFloating>("gelu", c, GeluTanhOp{});
}

// Bitwise ops on integers; on bool they are the logical ones.
struct BitAndOp {
  template <typename A> __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return static_cast<A>(a & b);
  }
};
struct BitOrOp {
  template <typename A> __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a || b;
    else return static_cast<A>(a | b);
  }
};
struct BitNotOp {
  template <typename A> __device__ A operator()(A x) const {
    if constexpr (std::is_same_v<A, bool>) return !x;
    else return static_cast<A>(~x);
  }
};
int k_bitwise_and(const gems_kernel_call* c) { return binary<kBitwise, void>("bitwise_and", c, BitAndOp{}); }
int k_bitwise_or(const gems_kernel_call* c) { return binary<kBitwise, void>("bitwise_or", c, BitOrOp{}); }
int k_bitwise_not(const gems_kernel_call* c) { return unary<kBitwise>("bitwise_not", c, BitNotOp{}); }

struct ClampOp {
  Scalar lo, hi;
  bool has_lo, has_hi;
  template <typename A> __device__ A operator()(A x) const {
    if (x != x) return x;
    if (has_lo) { const A m = lo.as<A>(); if (m != m) return m; x = x < m ? m : x; }
    if (has_hi) { const A m = hi.as<A>(); if (m != m) return m; x = x > m ? m : x; }
    return x;
  }
};
int k_clamp(const gems_kernel_call* c) {
  return unary<kNumeric>("clamp", c, ClampOp{scalar(c->scalars[0]), scalar(c->scalars[1]),
                                              (c->scalars[2].i & 1) != 0, (c->scalars[2].i & 2) != 0});
}

// ---- binary ----
struct AddOp {
  Scalar alpha;
  template <typename A> __device__ A operator()(A a, A b) const {
    return add_scaled(a, alpha.as<A>(), b);
  }
};
struct SubOp {
  Scalar alpha;
  template <typename A> __device__ A operator()(A a, A b) const { return static_cast<A>(a - alpha.as<A>() * b); }
};
struct MulOp {
  template <typename A> __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return static_cast<A>(a * b);
  }
};
struct DivTrueOp { template <typename A> __device__ A operator()(A a, A b) const { return a / b; } };
struct DivTruncOp {
  template <typename A> __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) return ::trunc(a / b);
    else return b == A(0) ? A(0) : div_integer(a, b, false);
  }
};
struct DivFloorOp {
  template <typename A> __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) return div_floor_floating(a, b);
    else return b == A(0) ? A(0) : div_integer(a, b, true);
  }
};
struct RemainderOp {
  template <typename A> __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) return remainder_floating(a, b);
    else return b == A(0) ? A(0) : remainder_integer(a, b);
  }
};
struct MaximumOp { template <typename A> __device__ A operator()(A a, A b) const { return maximum_of(a, b); } };
struct MinimumOp { template <typename A> __device__ A operator()(A a, A b) const { return minimum_of(a, b); } };
struct PowOp {
  template <typename A> __device__ A operator()(A a, A b) const { return power(a, b); }
};

int k_add(const gems_kernel_call* c) { return binary<kAll, void>("add", c, AddOp{scalar(c->scalars[0])}); }
int k_sub(const gems_kernel_call* c) { return binary<kNumeric, void>("sub", c, SubOp{scalar(c->scalars[0])}); }
int k_mul(const gems_kernel_call* c) { return binary<kAll, void>("mul", c, MulOp{}); }
int k_div(const gems_kernel_call* c) {
  // Integer division by zero gives 0 rather than raising (a kernel cannot
  // raise; PyTorch's CUDA kernels don't either).
  switch (c->scalars[0].i) {
    case 1: return binary<kNumeric, void>("div", c, DivTruncOp{});
    case 2: return binary<kNumeric, void>("div", c, DivFloorOp{});
    default: return binary<kFloating, void>("div", c, DivTrueOp{});
  }
}
int k_pow(const gems_kernel_call* c) { return binary<kNumeric, void>("pow", c, PowOp{}); }
// Integer remainder by zero gives 0, as integer division does here.
int k_remainder(const gems_kernel_call* c) { return binary<kNumeric, void>("remainder", c, RemainderOp{}); }
int k_maximum(const gems_kernel_call* c) { return binary<kAll, void>("maximum", c, MaximumOp{}); }
int k_minimum(const gems_kernel_call* c) { return binary<kAll, void>("minimum", c, MinimumOp{}); }

#define GEMS_COMPARE(NAME, OP)                                                                    \
  struct NAME##Op { template <typename A> __device__ bool operator()(A a, A b) const { return a OP b; } }; \
  int k_##NAME(const gems_kernel_call* c) { return binary<kAll, bool>(#NAME, c, NAME##Op{}); }
GEMS_COMPARE(eq, ==)
GEMS_COMPARE(ne, !=)
GEMS_COMPARE(lt, <)
GEMS_COMPARE(le, <=)
GEMS_COMPARE(gt, >)
GEMS_COMPARE(ge, >=)
#undef GEMS_COMPARE

struct WhereOp {
  template <typename T> __device__ T operator()(bool m, T a, T b) const { return m ? a : b; }
};
int k_where(const gems_kernel_call* c) {
  const gems_tensor* ins[3] = {&c->tensors[1], &c->tensors[2], &c->tensors[3]};
  const bool ok = dispatch_dtype<kAll>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_elements<T, bool, T, T>(c->tensors[0], ins, WhereOp{}, stream_of(c));
  });
  return ok ? launch_status("where") : unsupported_dtype("where", c->tensors[0].dtype);
}

// ---- optimizer arithmetic: out = f(self, a, b) ----
template <typename T, typename Op>
struct Typed3 {
  Op op;
  __device__ __forceinline__ T operator()(T x, T a, T b) const {
    using A = acc_t<T>;
    return store_as<T>(op(load_as<A>(x), load_as<A>(a), load_as<A>(b)));
  }
};
template <uint32_t MASK, typename Op>
int ternary(const char* name, const gems_kernel_call* c, Op op) {
  const gems_tensor* ins[3] = {&c->tensors[1], &c->tensors[2], &c->tensors[3]};
  const bool ok = dispatch_dtype<MASK>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_elements<T, T, T, T>(c->tensors[0], ins, Typed3<T, Op>{op}, stream_of(c));
  });
  return ok ? launch_status(name) : unsupported_dtype(name, c->tensors[0].dtype);
}
struct AddcmulOp {
  Scalar v;
  template <typename A> __device__ A operator()(A x, A a, A b) const { return static_cast<A>(x + v.as<A>() * a * b); }
};
struct AddcdivOp {
  Scalar v;
  template <typename A> __device__ A operator()(A x, A a, A b) const { return x + v.as<A>() * a / b; }
};
struct LerpOp {
  template <typename A> __device__ A operator()(A x, A e, A w) const { return lerp_of(x, e, w); }
};
struct LerpScalarOp {
  Scalar w;
  template <typename A> __device__ A operator()(A x, A e) const { return lerp_of(x, e, w.as<A>()); }
};
int k_addcmul(const gems_kernel_call* c) { return ternary<kNumeric>("addcmul", c, AddcmulOp{scalar(c->scalars[0])}); }
int k_addcdiv(const gems_kernel_call* c) { return ternary<kFloating>("addcdiv", c, AddcdivOp{scalar(c->scalars[0])}); }
// Without the weight tensor (three tensors), scalars[0] is the weight (in the compute type).
int k_lerp(const gems_kernel_call* c) {
  if (c->num_tensors < 4) return binary<kFloating, void>("lerp", c, LerpScalarOp{scalar(c->scalars[0])});
  return ternary<kFloating>("lerp", c, LerpOp{});
}

// ---- activation backward: grad_in = f(grad_out, x) ----
struct ThresholdBackwardOp {
  Scalar th;
  template <typename A> __device__ A operator()(A g, A x) const { return x <= th.as<A>() ? A(0) : g; }
};
struct GeluBackwardErfOp {
  template <typename A> __device__ A operator()(A g, A x) const {
    const A cdf = A(0.5) * (A(1) + ::erf(x * A(kInvSqrt2)));
    const A pdf = ::exp(A(-0.5) * x * x) * A(kSqrt2OverPi * 0.5);
    return g * (cdf + x * pdf);
  }
};
struct GeluBackwardTanhOp {
  template <typename A> __device__ A operator()(A g, A x) const {
    const A k = A(kSqrt2OverPi), k2 = A(0.044715);
    const A t = ::tanh(k * (x + k2 * x * x * x));
    const A dinner = k * (A(1) + A(3) * k2 * x * x);
    return g * (A(0.5) * (A(1) + t) + A(0.5) * x * (A(1) - t * t) * dinner);
  }
};
struct SiluBackwardOp {
  template <typename A> __device__ A operator()(A g, A x) const {
    const A s = A(1) / (A(1) + ::exp(-x));
    return g * s * (A(1) + x * (A(1) - s));
  }
};
struct SigmoidBackwardOp { template <typename A> __device__ A operator()(A g, A y) const { return g * (A(1) - y) * y; } };
struct TanhBackwardOp { template <typename A> __device__ A operator()(A g, A y) const { return g * (A(1) - y * y); } };

int k_threshold_backward(const gems_kernel_call* c) {
  return binary<kNumeric, void>("threshold_backward", c, ThresholdBackwardOp{scalar(c->scalars[0])});
}
int k_gelu_backward(const gems_kernel_call* c) {
  return c->scalars[0].i == 1 ? binary<kFloating, void>("gelu_backward", c, GeluBackwardTanhOp{})
                              : binary<kFloating, void>("gelu_backward", c, GeluBackwardErfOp{});
}
int k_silu_backward(const gems_kernel_call* c) { return binary<kFloating, void>("silu_backward", c, SiluBackwardOp{}); }
int k_sigmoid_backward(const gems_kernel_call* c) {
  return binary<kFloating, void>("sigmoid_backward", c, SigmoidBackwardOp{});
}
int k_tanh_backward(const gems_kernel_call* c) { return binary<kFloating, void>("tanh_backward", c, TanhBackwardOp{}); }

}  // namespace gems::nvidia
