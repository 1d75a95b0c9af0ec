// Pointwise ops: type promotion and error checks here, the math in the
// vendor's kernels. Functional, in-place and out= forms share one body.
#include <limits>
#include <string>

#include <ATen/ops/result_type_native.h>

#include "ops.h"
#include "ops_common.h"

namespace gems::ops {
namespace {

// PyTorch's promotion rule, called directly: at::result_type is a dispatched
// op, a dispatcher round trip on every binary op (~0.1-0.2 us of host time).
at::ScalarType promote(const at::Tensor& a, const at::Tensor& b) { return at::native::result_type(a, b); }

// Unary ops whose result is floating (exp, log, ...): integers promote.
at::Tensor& unary_float(const Kernel& k, at::Tensor& out, OutKind kind, const at::Tensor& self,
                        std::initializer_list<gems_scalar> scalars = {}) {
  const at::ScalarType t = float_of(self.scalar_type());
  return pointwise(k, out, kind, t, t, {{self, t}}, scalars);
}

// Unary ops that keep the dtype (neg, abs, relu, ...).
at::Tensor& unary_same(const Kernel& k, at::Tensor& out, OutKind kind, const at::Tensor& self,
                       std::initializer_list<gems_scalar> scalars = {}) {
  const at::ScalarType t = self.scalar_type();
  return pointwise(k, out, kind, t, t, {{self, t}}, scalars);
}

void check_alpha(at::ScalarType t, const c10::Scalar& alpha) {
  TORCH_CHECK(!alpha.isBoolean() || t == at::kBool, "Boolean alpha only supported for Boolean results.");
  TORCH_CHECK(at::isFloatingType(t) || at::isComplexType(t) || alpha.isIntegral(true),
              "For integral input tensors, argument alpha must not be a floating point number.");
}

void check_sub(const at::Tensor& self, const at::Tensor& other) {
  TORCH_CHECK(self.scalar_type() != at::kBool || other.scalar_type() != at::kBool,
              "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.");
  TORCH_CHECK(self.scalar_type() != at::kBool && other.scalar_type() != at::kBool,
              "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
}

at::Tensor& add_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& other,
                     const c10::Scalar& alpha, bool subtract) {
  static const Kernel add("add"), sub("sub");
  if (subtract) check_sub(self, other);
  const at::ScalarType t = promote(self, other);
  check_alpha(t, alpha);
  return pointwise(subtract ? sub : add, out, kind, t, t, {{self, t}, {other, t}}, {scalar_arg(alpha)});
}

at::Tensor& mul_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& other) {
  static const Kernel mul("mul");
  const at::ScalarType t = promote(self, other);
  return pointwise(mul, out, kind, t, t, {{self, t}, {other, t}});
}

int64_t rounding_code(std::optional<c10::string_view> mode) {
  if (!mode) return 0;
  if (*mode == "trunc") return 1;
  if (*mode == "floor") return 2;
  TORCH_CHECK(false, "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", *mode, "'");
}

at::Tensor& div_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& other,
                     std::optional<c10::string_view> mode) {
  static const Kernel div("div");
  const int64_t code = rounding_code(mode);
  at::ScalarType t = promote(self, other);
  if (code == 0) t = float_of(t);  // true division promotes integers
  TORCH_CHECK_NOT_IMPLEMENTED(!(code != 0 && t == at::kBool), code == 2 ? "\"div_floor_cpu\"" : "\"div_trunc_cpu\"",
                              " not implemented for 'Bool'");
  return pointwise(div, out, kind, t, t, {{self, t}, {other, t}}, {int_arg(code)});
}

// reciprocal: 1 / x by the div kernel (integers give floats, as in PyTorch;
// clip_grad_norm_ and optimizers call it).
at::Tensor& reciprocal_impl(at::Tensor& out, OutKind kind, const at::Tensor& self) {
  static const Kernel div("div");
  const at::ScalarType t = float_of(self.scalar_type());
  return pointwise(div, out, kind, t, t, {{wrap_scalar(1), t}, {self, t}}, {int_arg(0)});
}

// remainder (Python's %, the sign of the divisor) and maximum/minimum: plain
// promoted binary ops. remainder.Scalar reaches remainder.Tensor through
// PyTorch's composite (the scalar wrapped in a 0-dim tensor).
at::Tensor& promoted_binary(const Kernel& k, at::Tensor& out, OutKind kind, const at::Tensor& self,
                            const at::Tensor& other, const char* bool_name) {
  const at::ScalarType t = promote(self, other);
  TORCH_CHECK_NOT_IMPLEMENTED(!(bool_name && t == at::kBool), "\"", bool_name, "\" not implemented for 'Bool'");
  return pointwise(k, out, kind, t, t, {{self, t}, {other, t}});
}
const Kernel& remainder_kernel() {
  static const Kernel k("remainder");
  return k;
}
const Kernel& maximum_kernel() {
  static const Kernel k("maximum");
  return k;
}
const Kernel& minimum_kernel() {
  static const Kernel k("minimum");
  return k;
}

at::Tensor& pow_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& exponent) {
  static const Kernel pow("pow");
  const at::ScalarType t = promote(self, exponent);
  return pointwise(pow, out, kind, t, t, {{self, t}, {exponent, t}});
}

at::Tensor& compare(const Kernel& k, at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& other) {
  const at::ScalarType t = promote(self, other);
  return pointwise(k, out, kind, t, at::kBool, {{self, t}, {other, t}});
}

at::Tensor& clamp_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const std::optional<c10::Scalar>& min,
                       const std::optional<c10::Scalar>& max) {
  static const Kernel clamp("clamp");
  TORCH_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  // PyTorch's CPU kernel serves bool for one bound (maximum or minimum) but not for both.
  TORCH_CHECK_NOT_IMPLEMENTED(self.scalar_type() != at::kBool || !min || !max, "\"clamp_cpu\" not implemented for 'Bool'");
  at::ScalarType t = self.scalar_type();
  if (min) t = at::result_type(at::scalar_tensor(0, self.options().device(c10::kCPU).dtype(t)), *min);
  if (max) t = c10::promoteTypes(t, at::result_type(at::scalar_tensor(0, self.options().device(c10::kCPU).dtype(self.scalar_type())), *max));
  const int64_t flags = (min ? 1 : 0) | (max ? 2 : 0);
  return pointwise(clamp, out, kind, t, t, {{self, t}},
                   {min ? scalar_arg(*min) : int_arg(0), max ? scalar_arg(*max) : int_arg(0), int_arg(flags)});
}

// clamp with tensor bounds (T5 in fp16 clamps by a 0-dim tensor): maximum
// with min, then minimum with max, in the type of all three operands (max
// wins where min > max, as in PyTorch; NaN in self stays NaN).
at::Tensor& clamp_tensor_impl(at::Tensor& out, OutKind kind, const at::Tensor& self,
                              const std::optional<at::Tensor>& min, const std::optional<at::Tensor>& max) {
  static const Kernel maximum("maximum"), minimum("minimum");
  TORCH_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  // PyTorch's CPU kernel serves bool for one bound (maximum or minimum) but not for both.
  TORCH_CHECK_NOT_IMPLEMENTED(self.scalar_type() != at::kBool || !min || !max, "\"clamp_cpu\" not implemented for 'Bool'");
  at::ScalarType t = self.scalar_type();
  if (min) t = at::result_type(self, *min);
  if (max) t = c10::promoteTypes(t, at::result_type(self, *max));
  if (!max) return pointwise(maximum, out, kind, t, t, {{self, t}, {*min, t}});
  if (!min) return pointwise(minimum, out, kind, t, t, {{self, t}, {*max, t}});
  at::Tensor low;
  pointwise(maximum, low, OutKind::Fresh, t, t, {{self, t}, {*min, t}});
  return pointwise(minimum, out, kind, t, t, {{low, t}, {*max, t}});
}

int64_t gelu_code(c10::string_view approximate) {
  if (approximate == "none") return 0;
  if (approximate == "tanh") return 1;
  TORCH_CHECK(false, "approximate argument must be either none or tanh.");
}

}  // namespace

// ---- arithmetic ----
at::Tensor add(const at::Tensor& self, const at::Tensor& other, const c10::Scalar& alpha) {
  at::Tensor out;
  return add_impl(out, OutKind::Fresh, self, other, alpha, false);
}
at::Tensor& add_(at::Tensor& self, const at::Tensor& other, const c10::Scalar& alpha) {
  return add_impl(self, OutKind::InPlace, self, other, alpha, false);
}
at::Tensor& add_out(const at::Tensor& self, const at::Tensor& other, const c10::Scalar& alpha, at::Tensor& out) {
  return add_impl(out, OutKind::Out, self, other, alpha, false);
}
at::Tensor sub(const at::Tensor& self, const at::Tensor& other, const c10::Scalar& alpha) {
  at::Tensor out;
  return add_impl(out, OutKind::Fresh, self, other, alpha, true);
}
at::Tensor& sub_(at::Tensor& self, const at::Tensor& other, const c10::Scalar& alpha) {
  return add_impl(self, OutKind::InPlace, self, other, alpha, true);
}
at::Tensor& sub_out(const at::Tensor& self, const at::Tensor& other, const c10::Scalar& alpha, at::Tensor& out) {
  return add_impl(out, OutKind::Out, self, other, alpha, true);
}
at::Tensor mul(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return mul_impl(out, OutKind::Fresh, self, other);
}
at::Tensor& mul_(at::Tensor& self, const at::Tensor& other) { return mul_impl(self, OutKind::InPlace, self, other); }
at::Tensor& mul_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return mul_impl(out, OutKind::Out, self, other);
}
at::Tensor div(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return div_impl(out, OutKind::Fresh, self, other, std::nullopt);
}
at::Tensor& div_(at::Tensor& self, const at::Tensor& other) {
  return div_impl(self, OutKind::InPlace, self, other, std::nullopt);
}
at::Tensor& div_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return div_impl(out, OutKind::Out, self, other, std::nullopt);
}
at::Tensor div_mode(const at::Tensor& self, const at::Tensor& other, std::optional<c10::string_view> mode) {
  at::Tensor out;
  return div_impl(out, OutKind::Fresh, self, other, mode);
}
at::Tensor& div_mode_(at::Tensor& self, const at::Tensor& other, std::optional<c10::string_view> mode) {
  return div_impl(self, OutKind::InPlace, self, other, mode);
}
at::Tensor& div_mode_out(const at::Tensor& self, const at::Tensor& other, std::optional<c10::string_view> mode,
                         at::Tensor& out) {
  return div_impl(out, OutKind::Out, self, other, mode);
}
at::Tensor remainder(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return promoted_binary(remainder_kernel(), out, OutKind::Fresh, self, other, "remainder_cpu");
}
at::Tensor& remainder_(at::Tensor& self, const at::Tensor& other) {
  return promoted_binary(remainder_kernel(), self, OutKind::InPlace, self, other, "remainder_cpu");
}
at::Tensor& remainder_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return promoted_binary(remainder_kernel(), out, OutKind::Out, self, other, "remainder_cpu");
}
at::Tensor maximum(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return promoted_binary(maximum_kernel(), out, OutKind::Fresh, self, other, nullptr);
}
at::Tensor& maximum_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return promoted_binary(maximum_kernel(), out, OutKind::Out, self, other, nullptr);
}
at::Tensor minimum(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return promoted_binary(minimum_kernel(), out, OutKind::Fresh, self, other, nullptr);
}
at::Tensor& minimum_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return promoted_binary(minimum_kernel(), out, OutKind::Out, self, other, nullptr);
}
// floor_divide is div with rounding_mode="floor" (PyTorch's own definition).
at::Tensor floor_divide(const at::Tensor& self, const at::Tensor& other) { return div_mode(self, other, "floor"); }
at::Tensor& floor_divide_(at::Tensor& self, const at::Tensor& other) { return div_mode_(self, other, "floor"); }
at::Tensor& floor_divide_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return div_mode_out(self, other, "floor", out);
}
at::Tensor pow_tensor(const at::Tensor& self, const at::Tensor& exponent) {
  at::Tensor out;
  return pow_impl(out, OutKind::Fresh, self, exponent);
}
at::Tensor pow_scalar(const at::Tensor& self, const c10::Scalar& exponent) {
  TORCH_CHECK(!(at::isIntegralType(self.scalar_type(), true) && exponent.isIntegral(true) && exponent.toLong() < 0),
              "Integers to negative integer powers are not allowed.");
  at::Tensor out;
  // x ** 2 (RMSNorm's square) is the product, which the power kernel computes
  // for it anyway: the mul kernel needs no scalar operand (a 0-dim tensor to
  // wrap and broadcast, ~1.5 us on the cpu vendor). Not for bool, which pow
  // promotes, or an integer tensor to a float 2.0, which gives floats.
  const bool square = exponent.equal(2) && self.scalar_type() != at::kBool &&
                      (at::isFloatingType(self.scalar_type()) || exponent.isIntegral(false));
  if (square) return mul_impl(out, OutKind::Fresh, self, self);
  return pow_impl(out, OutKind::Fresh, self, wrap_scalar(exponent));
}
at::Tensor& pow_tensor_out(const at::Tensor& self, const at::Tensor& exponent, at::Tensor& out) {
  return pow_impl(out, OutKind::Out, self, exponent);
}

// ---- unary ----
#define GEMS_UNARY(NAME, BODY)                                                                          \
  at::Tensor NAME(const at::Tensor& self) { at::Tensor out; return BODY(out, OutKind::Fresh, self); }    \
  at::Tensor& NAME##_(at::Tensor& self) { return BODY(self, OutKind::InPlace, self); }                   \
  at::Tensor& NAME##_out(const at::Tensor& self, at::Tensor& out) { return BODY(out, OutKind::Out, self); }

#define GEMS_FLOAT_BODY(NAME)                                                                   \
  [](at::Tensor& out, OutKind kind, const at::Tensor& self) -> at::Tensor& {                    \
    static const Kernel k(#NAME);                                                               \
    return unary_float(k, out, kind, self);                                              \
  }
#define GEMS_SAME_BODY(NAME)                                                                    \
  [](at::Tensor& out, OutKind kind, const at::Tensor& self) -> at::Tensor& {                    \
    static const Kernel k(#NAME);                                                               \
    return unary_same(k, out, kind, self);                                                      \
  }

GEMS_UNARY(exp, GEMS_FLOAT_BODY(exp))
GEMS_UNARY(log, GEMS_FLOAT_BODY(log))
GEMS_UNARY(sqrt, GEMS_FLOAT_BODY(sqrt))
GEMS_UNARY(rsqrt, GEMS_FLOAT_BODY(rsqrt))
GEMS_UNARY(sin, GEMS_FLOAT_BODY(sin))
GEMS_UNARY(cos, GEMS_FLOAT_BODY(cos))
GEMS_UNARY(tanh, GEMS_FLOAT_BODY(tanh))
GEMS_UNARY(sigmoid, GEMS_FLOAT_BODY(sigmoid))
GEMS_UNARY(silu, GEMS_FLOAT_BODY(silu))
GEMS_UNARY(abs, GEMS_SAME_BODY(abs))

namespace {
at::Tensor& neg_body(at::Tensor& out, OutKind kind, const at::Tensor& self) {
  static const Kernel k("neg");
  TORCH_CHECK(self.scalar_type() != at::kBool,
              "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  return unary_same(k, out, kind, self);
}
at::Tensor& relu_body(at::Tensor& out, OutKind kind, const at::Tensor& self) {
  static const Kernel k("relu");
  TORCH_CHECK(self.scalar_type() != at::kBool, "Boolean inputs not supported for relu");
  return unary_same(k, out, kind, self);
}
}  // namespace
GEMS_UNARY(neg, neg_body)
at::Tensor relu(const at::Tensor& self) { at::Tensor out; return relu_body(out, OutKind::Fresh, self); }
at::Tensor& relu_(at::Tensor& self) { return relu_body(self, OutKind::InPlace, self); }

at::Tensor gelu(const at::Tensor& self, c10::string_view approximate) {
  static const Kernel k("gelu");
  at::Tensor out;
  return unary_float(k, out, OutKind::Fresh, self, {int_arg(gelu_code(approximate))});
}
at::Tensor& gelu_(at::Tensor& self, c10::string_view approximate) {
  static const Kernel k("gelu");
  return unary_float(k, self, OutKind::InPlace, self, {int_arg(gelu_code(approximate))});
}
at::Tensor& gelu_out(const at::Tensor& self, c10::string_view approximate, at::Tensor& out) {
  static const Kernel k("gelu");
  return unary_float(k, out, OutKind::Out, self, {int_arg(gelu_code(approximate))});
}

at::Tensor clamp(const at::Tensor& self, const std::optional<c10::Scalar>& min, const std::optional<c10::Scalar>& max) {
  at::Tensor out;
  return clamp_impl(out, OutKind::Fresh, self, min, max);
}
at::Tensor& clamp_(at::Tensor& self, const std::optional<c10::Scalar>& min, const std::optional<c10::Scalar>& max) {
  return clamp_impl(self, OutKind::InPlace, self, min, max);
}
at::Tensor& clamp_out(const at::Tensor& self, const std::optional<c10::Scalar>& min,
                      const std::optional<c10::Scalar>& max, at::Tensor& out) {
  return clamp_impl(out, OutKind::Out, self, min, max);
}

// clamp_min / clamp_max with a number (F.normalize's clamp_min(eps)): clamp
// with one bound. Bool is refused as CPU refuses it; integer tensors go to
// PyTorch's kernel, whose range check of the bound gems does not repeat.
namespace {
at::Tensor& clamp_one_bound(at::Tensor& out, OutKind kind, const at::Tensor& self, const c10::Scalar& bound,
                            bool is_min) {
  TORCH_CHECK_NOT_IMPLEMENTED(self.scalar_type() != at::kBool, "\"", is_min ? "clamp_min" : "clamp_max",
                              "_scalar_cpu\" not implemented for 'Bool'");
  if (!at::isFloatingType(self.scalar_type())) throw NotServed("clamp of an integer tensor by a number");
  return is_min ? clamp_impl(out, kind, self, bound, std::nullopt) : clamp_impl(out, kind, self, std::nullopt, bound);
}
}  // namespace

at::Tensor clamp_min(const at::Tensor& self, const c10::Scalar& min) {
  at::Tensor out;
  return clamp_one_bound(out, OutKind::Fresh, self, min, true);
}
at::Tensor& clamp_min_(at::Tensor& self, const c10::Scalar& min) {
  return clamp_one_bound(self, OutKind::InPlace, self, min, true);
}
at::Tensor& clamp_min_out(const at::Tensor& self, const c10::Scalar& min, at::Tensor& out) {
  return clamp_one_bound(out, OutKind::Out, self, min, true);
}
at::Tensor clamp_max(const at::Tensor& self, const c10::Scalar& max) {
  at::Tensor out;
  return clamp_one_bound(out, OutKind::Fresh, self, max, false);
}
at::Tensor& clamp_max_(at::Tensor& self, const c10::Scalar& max) {
  return clamp_one_bound(self, OutKind::InPlace, self, max, false);
}
at::Tensor& clamp_max_out(const at::Tensor& self, const c10::Scalar& max, at::Tensor& out) {
  return clamp_one_bound(out, OutKind::Out, self, max, false);
}

at::Tensor clamp_tensor(const at::Tensor& self, const std::optional<at::Tensor>& min, const std::optional<at::Tensor>& max) {
  at::Tensor out;
  return clamp_tensor_impl(out, OutKind::Fresh, self, min, max);
}
at::Tensor& clamp_tensor_(at::Tensor& self, const std::optional<at::Tensor>& min, const std::optional<at::Tensor>& max) {
  return clamp_tensor_impl(self, OutKind::InPlace, self, min, max);
}
at::Tensor& clamp_tensor_out(const at::Tensor& self, const std::optional<at::Tensor>& min,
                             const std::optional<at::Tensor>& max, at::Tensor& out) {
  return clamp_tensor_impl(out, OutKind::Out, self, min, max);
}

at::Tensor clamp_min_tensor(const at::Tensor& self, const at::Tensor& min) {
  at::Tensor out;
  return clamp_tensor_impl(out, OutKind::Fresh, self, min, std::nullopt);
}
at::Tensor& clamp_min_tensor_(at::Tensor& self, const at::Tensor& min) {
  return clamp_tensor_impl(self, OutKind::InPlace, self, min, std::nullopt);
}
at::Tensor& clamp_min_tensor_out(const at::Tensor& self, const at::Tensor& min, at::Tensor& out) {
  return clamp_tensor_impl(out, OutKind::Out, self, min, std::nullopt);
}
at::Tensor clamp_max_tensor(const at::Tensor& self, const at::Tensor& max) {
  at::Tensor out;
  return clamp_tensor_impl(out, OutKind::Fresh, self, std::nullopt, max);
}
at::Tensor& clamp_max_tensor_(at::Tensor& self, const at::Tensor& max) {
  return clamp_tensor_impl(self, OutKind::InPlace, self, std::nullopt, max);
}
at::Tensor& clamp_max_tensor_out(const at::Tensor& self, const at::Tensor& max, at::Tensor& out) {
  return clamp_tensor_impl(out, OutKind::Out, self, std::nullopt, max);
}

at::Tensor reciprocal(const at::Tensor& self) {
  at::Tensor out;
  return reciprocal_impl(out, OutKind::Fresh, self);
}
at::Tensor& reciprocal_(at::Tensor& self) { return reciprocal_impl(self, OutKind::InPlace, self); }
at::Tensor& reciprocal_out(const at::Tensor& self, at::Tensor& out) { return reciprocal_impl(out, OutKind::Out, self); }

// ---- comparisons ----
#define GEMS_COMPARE(NAME)                                                                              \
  at::Tensor NAME##_tensor(const at::Tensor& self, const at::Tensor& other) {                          \
    static const Kernel k(#NAME);                                                                       \
    at::Tensor out;                                                                                     \
    return compare(k, out, OutKind::Fresh, self, other);                                                \
  }                                                                                                     \
  at::Tensor NAME##_scalar(const at::Tensor& self, const c10::Scalar& other) {                         \
    return NAME##_tensor(self, wrap_scalar(other));                                                     \
  }                                                                                                     \
  at::Tensor& NAME##_tensor_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {    \
    static const Kernel k(#NAME);                                                                       \
    return compare(k, out, OutKind::Out, self, other);                                                  \
  }
GEMS_COMPARE(eq)
GEMS_COMPARE(ne)
GEMS_COMPARE(lt)
GEMS_COMPARE(le)
GEMS_COMPARE(gt)
GEMS_COMPARE(ge)
#undef GEMS_COMPARE

namespace {
at::Tensor& where_impl(at::Tensor& out, OutKind kind, const at::Tensor& condition, const at::Tensor& self,
                       const at::Tensor& other) {
  static const Kernel k("where");
  TORCH_CHECK(condition.scalar_type() == at::kBool,
              "where expected condition to be a boolean tensor, but got a tensor with dtype ", condition.scalar_type());
  const at::ScalarType t = promote(self, other);
  return pointwise(k, out, kind, t, t, {{condition, at::kBool}, {self, t}, {other, t}});
}
}  // namespace

at::Tensor where(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return where_impl(out, OutKind::Fresh, condition, self, other);
}
at::Tensor& where_out(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return where_impl(out, OutKind::Out, condition, self, other);
}

// ---- bitwise ops on integers and bool masks (the vendors' bitwise kernels
// serve bool as the logical ops); -inf tests are "== -inf".
namespace {
at::Tensor& bitwise_binary(bool is_and, at::Tensor& out, OutKind kind, const at::Tensor& self,
                           const at::Tensor& other) {
  static const Kernel band("bitwise_and"), bor("bitwise_or");
  const at::ScalarType t = promote(self, other);
  TORCH_CHECK(at::isIntegralType(t, true), "\"bitwise_", is_and ? "and" : "or", "_cpu\" not implemented for '",
              c10::toString(t), "'");
  return pointwise(is_and ? band : bor, out, kind, t, t, {{self, t}, {other, t}});
}
at::Tensor& bitwise_not_impl(at::Tensor& out, OutKind kind, const at::Tensor& self) {
  static const Kernel bnot("bitwise_not");
  const at::ScalarType t = self.scalar_type();
  TORCH_CHECK(at::isIntegralType(t, true), "\"bitwise_not_cpu\" not implemented for '", c10::toString(t), "'");
  return pointwise(bnot, out, kind, t, t, {{self, t}});
}
at::Tensor& isneginf_impl(at::Tensor& out, OutKind kind, const at::Tensor& self) {
  static const Kernel eq("eq");
  TORCH_CHECK(!at::isComplexType(self.scalar_type()), "isneginf does not support complex inputs.");
  return compare(eq, out, kind, self, wrap_scalar(-std::numeric_limits<double>::infinity()));
}
// logical_not is "== 0", for every dtype (SDPA turns boolean masks into bias with it).
at::Tensor& logical_not_impl(at::Tensor& out, OutKind kind, const at::Tensor& self) {
  static const Kernel eq("eq");
  TORCH_CHECK(!at::isComplexType(self.scalar_type()), "gems: logical_not of complex inputs is not served");
  return compare(eq, out, kind, self, wrap_scalar(self.scalar_type() == at::kBool ? c10::Scalar(false) : c10::Scalar(0)));
}
}  // namespace

at::Tensor logical_not(const at::Tensor& self) {
  at::Tensor out;
  return logical_not_impl(out, OutKind::Fresh, self);
}
at::Tensor& logical_not_out(const at::Tensor& self, at::Tensor& out) {
  return logical_not_impl(out, OutKind::Out, self);
}

at::Tensor bitwise_and(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return bitwise_binary(true, out, OutKind::Fresh, self, other);
}
at::Tensor& bitwise_and_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return bitwise_binary(true, out, OutKind::Out, self, other);
}
at::Tensor bitwise_or(const at::Tensor& self, const at::Tensor& other) {
  at::Tensor out;
  return bitwise_binary(false, out, OutKind::Fresh, self, other);
}
at::Tensor& bitwise_or_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  return bitwise_binary(false, out, OutKind::Out, self, other);
}
at::Tensor bitwise_not(const at::Tensor& self) {
  at::Tensor out;
  return bitwise_not_impl(out, OutKind::Fresh, self);
}
at::Tensor& bitwise_not_out(const at::Tensor& self, at::Tensor& out) {
  return bitwise_not_impl(out, OutKind::Out, self);
}
at::Tensor isneginf(const at::Tensor& self) {
  at::Tensor out;
  return isneginf_impl(out, OutKind::Fresh, self);
}
at::Tensor& isneginf_out(const at::Tensor& self, at::Tensor& out) { return isneginf_impl(out, OutKind::Out, self); }

// masked_fill_ is where(mask, value, self) written into self.
at::Tensor& masked_fill_(at::Tensor& self, const at::Tensor& mask, const c10::Scalar& value) {
  static const Kernel k("where");
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
              mask.scalar_type());
  const at::ScalarType t = self.scalar_type();
  const at::Tensor v = wrap_scalar(value);
  return pointwise(k, self, OutKind::InPlace, t, t, {{mask, at::kBool}, {v, t}, {self, t}});
}

// The same with the value in a 0-dim tensor: a device value stays on the
// device (no read-back), a CPU one is read as a scalar.
at::Tensor& masked_fill_tensor_(at::Tensor& self, const at::Tensor& mask, const at::Tensor& value) {
  static const Kernel k("where");
  TORCH_CHECK(value.dim() == 0, "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with ",
              value.dim(), " dimension(s).");
  if (value.device().is_cpu()) return masked_fill_(self, mask, value.item());
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
              mask.scalar_type());
  const at::ScalarType t = self.scalar_type();
  return pointwise(k, self, OutKind::InPlace, t, t, {{mask, at::kBool}, {value, t}, {self, t}});
}

// ---- fill ----
at::Tensor& fill_(at::Tensor& self, const c10::Scalar& value) {
  static const Kernel k("fill");
  k.require(self.scalar_type(), self.dim());
  if (self.numel() == 0) return self;
  gems_tensor d[1] = {describe(self)};
  k.launch(launch_index(self.device()), d, 1, {scalar_arg(value)});
  return self;
}
at::Tensor& fill_tensor_(at::Tensor& self, const at::Tensor& value) {
  TORCH_CHECK(value.dim() == 0, "fill_ only supports 0-dimension value tensor but got tensor with ", value.dim(),
              " dimensions.");
  // A value on self's device is broadcast by the copy kernel (no read-back); a CPU one is read as a scalar.
  if (value.device() == self.device()) return self.copy_(value);
  return gems::ops::fill_(self, value.item());
}
at::Tensor& zero_(at::Tensor& self) { return gems::ops::fill_(self, 0); }

// ---- optimizer arithmetic (what Adam and friends run per step) ----
namespace {
at::Tensor& addc_impl(const Kernel& k, at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& a,
                      const at::Tensor& b, const c10::Scalar& value) {
  const at::ScalarType t = c10::promoteTypes(promote(self, a), promote(self, b));
  return pointwise(k, out, kind, t, t, {{self, t}, {a, t}, {b, t}}, {scalar_arg(value)});
}
at::Tensor& addcdiv_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& a,
                         const at::Tensor& b, const c10::Scalar& value) {
  static const Kernel k("addcdiv");
  TORCH_CHECK(!(at::isIntegralType(a.scalar_type(), true) && at::isIntegralType(b.scalar_type(), true)),
              "Integer division with addcdiv is no longer supported, and in a future release addcdiv will perform a "
              "true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as "
              "(input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as "
              "(input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter "
              "implementation: (input + value * tensor1 / tensor2), for all dtypes.");
  return addc_impl(k, out, kind, self, a, b, value);
}
at::Tensor& addcmul_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& a,
                         const at::Tensor& b, const c10::Scalar& value) {
  static const Kernel k("addcmul");
  return addc_impl(k, out, kind, self, a, b, value);
}
at::Tensor& lerp_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, const at::Tensor& end,
                      const c10::Scalar& weight) {
  static const Kernel k("lerp");
  TORCH_CHECK(self.scalar_type() == end.scalar_type(), "expected dtype ", self.scalar_type(),
              " for `end` but got dtype ", end.scalar_type());
  const at::ScalarType t = self.scalar_type();
  // The weight goes as a scalar (absent weight tensor): PyTorch takes a Python
  // weight in float for 16-bit tensors; a bfloat16 weight tensor rounded it.
  pointwise(k, out, kind, t, t, {{self, t}, {end, t}}, {scalar_arg(weight)});
  return out;
}
}  // namespace

at::Tensor addcmul(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& value) {
  at::Tensor out;
  return addcmul_impl(out, OutKind::Fresh, self, a, b, value);
}
at::Tensor& addcmul_(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& value) {
  return addcmul_impl(self, OutKind::InPlace, self, a, b, value);
}
at::Tensor& addcmul_out(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& value,
                        at::Tensor& out) {
  return addcmul_impl(out, OutKind::Out, self, a, b, value);
}
at::Tensor addcdiv(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& value) {
  at::Tensor out;
  return addcdiv_impl(out, OutKind::Fresh, self, a, b, value);
}
at::Tensor& addcdiv_(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& value) {
  return addcdiv_impl(self, OutKind::InPlace, self, a, b, value);
}
at::Tensor& addcdiv_out(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& value,
                        at::Tensor& out) {
  return addcdiv_impl(out, OutKind::Out, self, a, b, value);
}
at::Tensor lerp_scalar(const at::Tensor& self, const at::Tensor& end, const c10::Scalar& weight) {
  at::Tensor out;
  return lerp_impl(out, OutKind::Fresh, self, end, weight);
}
at::Tensor& lerp_scalar_(at::Tensor& self, const at::Tensor& end, const c10::Scalar& weight) {
  return lerp_impl(self, OutKind::InPlace, self, end, weight);
}
at::Tensor& lerp_scalar_out(const at::Tensor& self, const at::Tensor& end, const c10::Scalar& weight,
                            at::Tensor& out) {
  return lerp_impl(out, OutKind::Out, self, end, weight);
}

// ---- activation backward ----
namespace {
at::Tensor backward(const Kernel& k, const at::Tensor& grad, const at::Tensor& x,
                    std::initializer_list<gems_scalar> scalars = {}) {
  const at::ScalarType t = promote(grad, x);
  at::Tensor out;
  return pointwise(k, out, OutKind::Fresh, t, t, {{grad, t}, {x, t}}, scalars);
}
}  // namespace
at::Tensor threshold_backward(const at::Tensor& grad, const at::Tensor& self, const c10::Scalar& threshold) {
  static const Kernel k("threshold_backward");
  return backward(k, grad, self, {scalar_arg(threshold)});
}
at::Tensor gelu_backward(const at::Tensor& grad, const at::Tensor& self, c10::string_view approximate) {
  static const Kernel k("gelu_backward");
  return backward(k, grad, self, {int_arg(gelu_code(approximate))});
}
at::Tensor silu_backward(const at::Tensor& grad, const at::Tensor& self) {
  static const Kernel k("silu_backward");
  return backward(k, grad, self);
}
at::Tensor sigmoid_backward(const at::Tensor& grad, const at::Tensor& output) {
  static const Kernel k("sigmoid_backward");
  return backward(k, grad, output);
}
at::Tensor tanh_backward(const at::Tensor& grad, const at::Tensor& output) {
  static const Kernel k("tanh_backward");
  return backward(k, grad, output);
}

}  // namespace gems::ops
