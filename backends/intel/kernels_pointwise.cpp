// Host side of the pointwise kernels (kernels/pointwise.clcpp): every entry
// is one of a few kernels per dtype with an operation code.
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {


// Operands tensors[0..n) in one layout, then extra by-value arguments.
template <typename... Extra>
int pointwise(const gems_kernel_call* c, const char* kernel, int32_t dtype, uint32_t mask, int n, const Extra&... extra) {
  if (!served(mask, dtype)) return unsupported(kernel, dtype);
  const gems_tensor* ops[GI_MAX_OPERANDS];
  for (int k = 0; k < n; ++k) ops[k] = &c->tensors[k];
  const int64_t count = numel(c->tensors[0]);
  if (count == 0) return GEMS_OK;
  Launch l(c, kProgramPointwise, kernel_name(kernel, dtype));
  for (int k = 0; k < n; ++k) l.tensor(c->tensors[k]);
  l.value(make_layout(ops, n));
  (l.value(extra), ...);
  return l.run(static_cast<size_t>(count));
}

int unary(const gems_kernel_call* c, uint32_t mask, int op) {
  return pointwise(c, "unary", c->tensors[0].dtype, mask, 2, op);
}
int binary(const gems_kernel_call* c, uint32_t mask, int op, gems_scalar alpha = {1.0, 1}) {
  return pointwise(c, "binary", c->tensors[0].dtype, mask, 3, op, scalar_for(c->tensors[0].dtype, alpha));
}
int compare(const gems_kernel_call* c, int op) {
  return pointwise(c, "compare", c->tensors[1].dtype, kAll, 3, op);
}
gems_scalar scalar_arg(const gems_kernel_call* c, int i, gems_scalar fallback) {
  return i < c->num_scalars ? c->scalars[i] : fallback;
}

}  // namespace

int k_copy(const gems_kernel_call* c) {
  return pointwise(c, "copy", c->tensors[0].dtype, kAll, 2, static_cast<int>(c->tensors[1].dtype));
}
// cat: each input copied (with copy's casts) into its slice of out along dim.
int k_cat(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const int64_t dim = c->scalars[0].i;
  if (dim < 0 || dim >= out.ndim) return set_error(GEMS_INVALID_ARGUMENT, "cat: dim out of range");
  int64_t start = 0;
  for (int k = 1; k < c->num_tensors; ++k) {
    gems_tensor slice = out;
    slice.offset += start * out.strides[dim];
    slice.sizes[dim] = c->tensors[k].sizes[dim];
    start += slice.sizes[dim];
    gems_tensor ops[2] = {slice, c->tensors[k]};
    gems_kernel_call one = *c;
    one.tensors = ops;
    one.num_tensors = 2;
    if (int s = k_copy(&one)) return s;
  }
  return GEMS_OK;
}

int k_fill(const gems_kernel_call* c) {
  return pointwise(c, "fill", c->tensors[0].dtype, kAll, 1, scalar_for(c->tensors[0].dtype, c->scalars[0]));
}
int k_neg(const gems_kernel_call* c) { return unary(c, kNumeric, GI_NEG); }
int k_abs(const gems_kernel_call* c) { return unary(c, kNumeric, GI_ABS); }
int k_relu(const gems_kernel_call* c) { return unary(c, kNumeric, GI_RELU); }
int k_exp(const gems_kernel_call* c) { return unary(c, kFloating, GI_EXP); }
int k_log(const gems_kernel_call* c) { return unary(c, kFloating, GI_LOG); }
int k_sqrt(const gems_kernel_call* c) { return unary(c, kFloating, GI_SQRT); }
int k_rsqrt(const gems_kernel_call* c) { return unary(c, kFloating, GI_RSQRT); }
int k_sin(const gems_kernel_call* c) { return unary(c, kFloating, GI_SIN); }
int k_cos(const gems_kernel_call* c) { return unary(c, kFloating, GI_COS); }
int k_tanh(const gems_kernel_call* c) { return unary(c, kFloating, GI_TANH); }
int k_sigmoid(const gems_kernel_call* c) { return unary(c, kFloating, GI_SIGMOID); }
int k_silu(const gems_kernel_call* c) { return unary(c, kFloating, GI_SILU); }
int k_gelu(const gems_kernel_call* c) {
  return unary(c, kFloating, scalar_arg(c, 0, {0, 0}).i == 1 ? GI_GELU_TANH : GI_GELU_ERF);
}
int k_bitwise_not(const gems_kernel_call* c) {
  return unary(c, kBitwise, c->tensors[0].dtype == GEMS_BOOL ? GI_LOGICAL_NOT : GI_BITWISE_NOT);
}
int k_clamp(const gems_kernel_call* c) {
  const int32_t dt = c->tensors[0].dtype;
  return pointwise(c, "clamp", dt, kNumeric, 2, scalar_for(dt, c->scalars[0]), scalar_for(dt, c->scalars[1]),
                   static_cast<int>(c->scalars[2].i));
}

int k_add(const gems_kernel_call* c) { return binary(c, kAll, GI_ADD, scalar_arg(c, 0, {1.0, 1})); }
int k_sub(const gems_kernel_call* c) { return binary(c, kNumeric, GI_SUB, scalar_arg(c, 0, {1.0, 1})); }
int k_mul(const gems_kernel_call* c) { return binary(c, kAll, GI_MUL); }
int k_div(const gems_kernel_call* c) {
  const int64_t mode = scalar_arg(c, 0, {0, 0}).i;
  if (mode == 0 && !served(kFloating, c->tensors[0].dtype)) return unsupported("div (true division of integers)", c->tensors[0].dtype);
  return binary(c, kNumeric, mode == 0 ? GI_DIV_TRUE : mode == 1 ? GI_DIV_TRUNC : GI_DIV_FLOOR);
}
int k_remainder(const gems_kernel_call* c) { return binary(c, kNumeric, GI_REMAINDER); }
int k_maximum(const gems_kernel_call* c) { return binary(c, kAll, GI_MAXIMUM); }
int k_minimum(const gems_kernel_call* c) { return binary(c, kAll, GI_MINIMUM); }
int k_pow(const gems_kernel_call* c) { return binary(c, kNumeric, GI_POW); }
int k_bitwise_and(const gems_kernel_call* c) { return binary(c, kBitwise, GI_BITWISE_AND); }
int k_bitwise_or(const gems_kernel_call* c) { return binary(c, kBitwise, GI_BITWISE_OR); }
int k_eq(const gems_kernel_call* c) { return compare(c, GI_EQ); }
int k_ne(const gems_kernel_call* c) { return compare(c, GI_NE); }
int k_lt(const gems_kernel_call* c) { return compare(c, GI_LT); }
int k_le(const gems_kernel_call* c) { return compare(c, GI_LE); }
int k_gt(const gems_kernel_call* c) { return compare(c, GI_GT); }
int k_ge(const gems_kernel_call* c) { return compare(c, GI_GE); }
int k_where(const gems_kernel_call* c) { return pointwise(c, "where", c->tensors[0].dtype, kAll, 4); }

int k_threshold_backward(const gems_kernel_call* c) { return binary(c, kNumeric, GI_THRESHOLD_BACKWARD, c->scalars[0]); }
int k_gelu_backward(const gems_kernel_call* c) {
  return binary(c, kFloating, scalar_arg(c, 0, {0, 0}).i == 1 ? GI_GELU_TANH_BACKWARD : GI_GELU_ERF_BACKWARD);
}
int k_silu_backward(const gems_kernel_call* c) { return binary(c, kFloating, GI_SILU_BACKWARD); }
int k_sigmoid_backward(const gems_kernel_call* c) { return binary(c, kFloating, GI_SIGMOID_BACKWARD); }
int k_tanh_backward(const gems_kernel_call* c) { return binary(c, kFloating, GI_TANH_BACKWARD); }

int k_addcmul(const gems_kernel_call* c) {
  return pointwise(c, "ternary", c->tensors[0].dtype, kNumeric, 4, 0, scalar_for(c->tensors[0].dtype, c->scalars[0]));
}
int k_addcdiv(const gems_kernel_call* c) {
  return pointwise(c, "ternary", c->tensors[0].dtype, kFloating, 4, 1, scalar_for(c->tensors[0].dtype, c->scalars[0]));
}
int k_lerp(const gems_kernel_call* c) {
  const int32_t dt = c->tensors[0].dtype;
  if (c->num_tensors >= 4 && c->tensors[3].data) return pointwise(c, "ternary", dt, kFloating, 4, 2, gi_scalar{});
  // A scalar weight: the kernel's fourth operand is not read; end stands in for it.
  gems_kernel_call three = *c;
  gems_tensor ops[4] = {c->tensors[0], c->tensors[1], c->tensors[2], c->tensors[2]};
  three.tensors = ops;
  three.num_tensors = 4;
  return pointwise(&three, "ternary", dt, kFloating, 4, 3, scalar_for(dt, c->scalars[0]));
}

// Random numbers: scalars a, b, seed, counter offset (kernel_table.cpp).
int random_fill(const gems_kernel_call* c, const char* kernel) {
  return pointwise(c, kernel, c->tensors[0].dtype, kFloating, 1, c->scalars[0].f, c->scalars[1].f,
                   static_cast<uint64_t>(c->scalars[2].i), static_cast<uint64_t>(c->scalars[3].i));
}
int k_uniform(const gems_kernel_call* c) { return random_fill(c, "uniform"); }
int k_normal(const gems_kernel_call* c) { return random_fill(c, "normal"); }
int k_dropout(const gems_kernel_call* c) {
  // scalars keep, scale, seed, counter offset, draw
  return pointwise(c, "dropout", c->tensors[0].dtype, kFloating, 3, c->scalars[0].f, static_cast<float>(c->scalars[1].f),
                   static_cast<uint64_t>(c->scalars[2].i), static_cast<uint64_t>(c->scalars[3].i),
                   static_cast<int>(c->scalars[4].i));
}

int k_arange(const gems_kernel_call* c) {
  const int32_t dt = c->tensors[0].dtype;
  gi_scalar start{}, step{};
  const bool floating = kFloating & GEMS_DTYPE_BIT(dt);
  if (floating) { start.f64 = c->scalars[0].f; step.f64 = c->scalars[1].f; }
  else { start.i64 = c->scalars[0].i; step.i64 = c->scalars[1].i; }
  return pointwise(c, "arange", dt, kNumeric, 1, start, step);
}

int k_tril(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  if (!served(kAll, out.dtype)) return unsupported("tril", out.dtype);
  if (out.ndim < 2) return set_error(GEMS_INVALID_ARGUMENT, "tril needs at least 2 dims");
  if (numel(out) == 0) return GEMS_OK;
  const gems_tensor* ops[2] = {&c->tensors[0], &c->tensors[1]};
  return Launch(c, kProgramPointwise, kernel_name("tril", out.dtype))
      .tensor(c->tensors[0]).tensor(c->tensors[1]).value(make_layout(ops, 2, 2))
      .value(static_cast<int64_t>(c->scalars[0].i)).value(static_cast<int>(c->scalars[1].i))
      .run(static_cast<size_t>(numel(out)));
}

}  // namespace gems::intel
