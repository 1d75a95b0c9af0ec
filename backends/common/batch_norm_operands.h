// The operands of batch_norm's kernels (documented in
// backends/cpu/kernel_table.cpp), checked once for every vendor. Host code.
#pragma once
#include "../abi/gems_vendor_abi.h"
#include "batch_norm_apply.h"
#include "group_norm_coefficients.h"

namespace gems {

// batch_norm_stats:           mean [C], var [C], x [N, C, S]
// batch_norm_backward_reduce: sum_dy [C], sum_dy_xmu [C], dy [N, C, S], x [N, C, S], mean [C]
struct BatchNormOperands {
  const gems_tensor* out0 = nullptr;  // mean, or sum_dy
  const gems_tensor* out1 = nullptr;  // var, or sum_dy_xmu
  const gems_tensor* x = nullptr;
  const gems_tensor* dy = nullptr;    // the backward's
  const gems_tensor* mean = nullptr;  // the backward's
  bool ok = false;
  bool backward;

  // The error text of a call whose operands do not fit.
  const char* expected() const {
    return backward ? "batch_norm_backward_reduce: expected sum_dy [C], sum_dy_xmu [C], dy [N, C, S], x [N, C, S], mean [C]"
                    : "batch_norm_stats: expected mean [C], var [C], x [N, C, S]";
  }

  BatchNormOperands(const gems_kernel_call* c, bool backward) : backward(backward) {
    const gems_tensor* t = c->tensors;
    if (c->num_tensors != (backward ? 5 : 3)) return;
    out0 = &t[0];
    out1 = &t[1];
    x = &t[backward ? 3 : 2];
    if (backward) {
      dy = &t[2];
      mean = &t[4];
      if (dy->ndim != 3 || mean->ndim != 1 || mean->dtype != out0->dtype) return;
      for (int d = 0; d < 3; ++d)
        if (dy->sizes[d] != x->sizes[d]) return;
    }
    ok = x->ndim == 3 && out0->ndim == 1 && out1->ndim == 1 && out0->sizes[0] == x->sizes[1] &&
         out1->sizes[0] == x->sizes[1] && out0->dtype == out1->dtype;
  }
};

// The vectors of batch_norm_coefficients and group_norm_coefficients: the
// first in the computation dtype A (float32, or float64), the others of any
// float dtype (float32, float64, float16, bfloat16), each element read and
// written converting to and from A. So parameters, running statistics and
// saved statistics take part in their own dtypes, without a conversion
// launched before or after the call.
inline bool coefficient_vector_types(const gems_tensor* t, int n) {
  if (t[0].dtype != GEMS_FLOAT32 && t[0].dtype != GEMS_FLOAT64) return false;
  for (int k = 1; k < n; ++k)
    if (t[k].dtype != GEMS_FLOAT32 && t[k].dtype != GEMS_FLOAT64 && t[k].dtype != GEMS_FLOAT16 &&
        t[k].dtype != GEMS_BFLOAT16)
      return false;
  return true;
}

// batch_norm_coefficients (backends/common/batch_norm_apply.h), nine [C]
// vectors (float dtypes as above), a tenth in the forward under
// kBatchNormSaveMean, and scalars mode, flags, eps, momentum, count (elements
// a channel):
//   forward:  scale, shift, invstd (written), mean, var, weight, bias,
//             running_mean, running_var (the last two written under
//             kBatchNormUpdateRunning), saved_mean (written under kBatchNormSaveMean)
//   backward: a, b, c, grad_weight (written), mean, invstd, weight, sum_dy, sum_dy_xmu
// An operand its flags leave out may be any [C] vector (it is not read).
struct BatchNormCoefficientsOperands {
  static constexpr int kTensors = 10;  // the most a call passes
  static constexpr const char* kExpected =
      "batch_norm_coefficients: expected nine [C] vectors of float dtypes, the first float32 or float64 (a tenth, the "
      "saved mean, in the forward with flag kBatchNormSaveMean), and scalars mode, flags, eps, momentum, count";
  const gems_tensor* t = nullptr;
  int n = 0;  // vectors passed
  int64_t C = 0, mode = 0, flags = 0;
  double eps = 0, momentum = 0, count = 0;
  bool ok = false;

  explicit BatchNormCoefficientsOperands(const gems_kernel_call* c) {
    if ((c->num_tensors != kTensors - 1 && c->num_tensors != kTensors) || c->num_scalars != 5) return;
    t = c->tensors;
    n = c->num_tensors;
    C = t[0].sizes[0];
    for (int k = 0; k < n; ++k)
      if (t[k].ndim != 1 || t[k].sizes[0] != C) return;
    if (!coefficient_vector_types(t, n)) return;
    mode = c->scalars[0].i;
    flags = c->scalars[1].i;
    eps = c->scalars[2].f;
    momentum = c->scalars[3].f;
    count = c->scalars[4].f;
    // The tenth vector exactly when the forward writes the saved mean.
    const bool saves_mean = flags & kBatchNormSaveMean;
    ok = (mode == kBatchNormForward || (mode == kBatchNormBackward && !saves_mean)) && saves_mean == (n == kTensors);
  }
};

// group_norm_coefficients (backends/common/group_norm_coefficients.h): seven
// (forward; eight under kBatchNormSaveMean) or ten (backward) vectors (float
// dtypes as above) in the order written there, and scalars mode, flags, eps,
// count (elements a group). N, C and G come from the vectors' sizes: [N*C],
// [C] and [N*G].
struct GroupNormCoefficientsOperands {
  static constexpr const char* kExpected =
      "group_norm_coefficients: expected forward scale, shift [N*C], rstd, mean, var [N*G], weight, bias [C] (and "
      "saved_mean [N*G] with flag kBatchNormSaveMean), or backward dy_scale, x_scale, shift [N*C], grad_weight, grad_bias [C], sum_dy, sum_dy_x [N*C], mean, rstd "
      "[N*G], weight [C], of float dtypes, the first float32 or float64; scalars mode, flags, eps, count";
  const gems_tensor* t = nullptr;
  int64_t N = 0, C = 0, G = 0, mode = 0, flags = 0;
  double eps = 0, count = 0;
  bool ok = false;

  explicit GroupNormCoefficientsOperands(const gems_kernel_call* c) {
    if (c->num_scalars != 4) return;
    mode = c->scalars[0].i;
    flags = c->scalars[1].i;
    eps = c->scalars[2].f;
    count = c->scalars[3].f;
    const bool forward = mode == kBatchNormForward, saves_mean = flags & kBatchNormSaveMean;
    if ((!forward && mode != kBatchNormBackward) || (saves_mean && !forward) ||
        c->num_tensors != (forward ? (saves_mean ? 8 : 7) : 10))
      return;
    t = c->tensors;
    for (int k = 0; k < c->num_tensors; ++k)
      if (t[k].ndim != 1) return;
    if (!coefficient_vector_types(t, c->num_tensors)) return;
    C = t[forward ? 5 : 9].sizes[0];
    const int64_t NG = t[forward ? 3 : 7].sizes[0];
    if (C <= 0 || t[0].sizes[0] % C != 0) return;
    N = t[0].sizes[0] / C;
    if (N <= 0 || NG % N != 0) return;
    G = NG / N;
    if (G <= 0 || C % G != 0) return;
    // Every vector's size: one of [N*C], [N*G], [C] in the documented order.
    const int64_t fwd[8] = {N * C, N * C, NG, NG, NG, C, C, NG};
    const int64_t bwd[10] = {N * C, N * C, N * C, C, C, N * C, N * C, NG, NG, C};
    for (int k = 0; k < c->num_tensors; ++k)
      if (t[k].sizes[0] != (forward ? fwd[k] : bwd[k])) return;
    ok = true;
  }
};

// channel_affine (backends/common/batch_norm_apply.h): y [N, C, S], x [N, C, S],
// scale [C], shift [C], and for the backward's form dy [N, C, S], dy_scale [C];
// the vectors in the statistics' dtype (float32, float64 for float64 x).
struct ChannelAffineOperands {
  static constexpr const char* kExpected =
      "channel_affine: expected y [N, C, S], x [N, C, S], scale [C], shift [C], and optionally dy [N, C, S], "
      "dy_scale [C]";
  const gems_tensor *y = nullptr, *x = nullptr, *scale = nullptr, *shift = nullptr, *dy = nullptr,
                    *dy_scale = nullptr;
  bool ok = false;

  explicit ChannelAffineOperands(const gems_kernel_call* c) {
    if (c->num_tensors != 4 && c->num_tensors != 6) return;
    const gems_tensor* t = c->tensors;
    y = &t[0];
    x = &t[1];
    scale = &t[2];
    shift = &t[3];
    if (c->num_tensors == 6) {
      dy = &t[4];
      dy_scale = &t[5];
    }
    auto same_shape = [this](const gems_tensor* u) {
      if (u->ndim != 3 || u->dtype != x->dtype) return false;
      for (int d = 0; d < 3; ++d)
        if (u->sizes[d] != x->sizes[d]) return false;
      return true;
    };
    const int32_t stat = x->dtype == GEMS_FLOAT64 ? GEMS_FLOAT64 : GEMS_FLOAT32;
    auto vector = [&](const gems_tensor* u) { return u->ndim == 1 && u->sizes[0] == x->sizes[1] && u->dtype == stat; };
    ok = x->ndim == 3 && same_shape(y) && vector(scale) && vector(shift) && (!dy || (same_shape(dy) && vector(dy_scale)));
  }
  // Elements of [N, C, S].
  int64_t count() const { return x->sizes[0] * x->sizes[1] * x->sizes[2]; }
};

}  // namespace gems
