// The operands of the two pooling kernels (documented in
// backends/cpu/kernel_table.cpp), decoded once for every vendor into the
// geometry of backends/common/pooling.h. Host code.
#pragma once
#include <cstdint>

#include "../abi/gems_vendor_abi.h"
#include "pooling.h"

namespace gems {

// The dtypes the average kind serves: floating types and, as on PyTorch's
// CPU, int64 (summed in int64, divided with truncation).
constexpr uint32_t kPoolAverageDtypes = GEMS_MASK_FLOATING | GEMS_DTYPE_BIT(GEMS_INT64);

// pool:          y, [indices], x
// pool_backward: dx, dy, [indices]
// (indices for the max kinds); scalars kind, count_include_pad, divisor
// override (0: none), then window, stride, padding and dilation per spatial dim.
struct PoolOperands {
  const gems_tensor* x = nullptr;        // the input, or its gradient
  const gems_tensor* y = nullptr;        // the output, or its gradient
  const gems_tensor* indices = nullptr;  // int64, for the max kinds
  PoolGeometry g{};
  bool backward;  // pool_backward's operands: the kernel walks dx, not y
  bool ok = false;

  // The error text of a call whose operands do not fit.
  static constexpr const char* kExpected =
      "pool: expected y, indices (max kinds), x (or dx, dy, indices) of 3 to 5 dims, then kind, count_include_pad, "
      "divisor and window, stride, padding, dilation per spatial dim";

  PoolOperands(const gems_kernel_call* c, bool backward) : backward(backward) {
    if (c->num_scalars < 3) return;
    g.kind = c->scalars[0].i;
    if (g.kind != kPoolMax && g.kind != kPoolAverage && g.kind != kPoolAdaptiveMax) return;
    const int want = pool_is_max(g) ? 3 : 2;
    if (c->num_tensors != want) return;
    const gems_tensor* t = c->tensors;
    x = backward ? &t[0] : &t[want - 1];
    y = backward ? &t[1] : &t[0];
    if (want == 3) indices = backward ? &t[2] : &t[1];
    const int dims = x->ndim - 2;
    if (dims < 1 || dims > 3 || y->ndim != x->ndim || c->num_scalars != 3 + 4 * dims) return;
    if (indices && (indices->ndim != x->ndim || indices->dtype != GEMS_INT64)) return;
    g.count_include_pad = c->scalars[1].i;
    g.divisor = c->scalars[2].i;
    g.N = x->sizes[0];
    g.C = x->sizes[1];
    if (y->sizes[0] != g.N || y->sizes[1] != g.C) return;
    for (int k = 0; k < 2; ++k) {
      g.x[k] = x->strides[k];
      g.y[k] = y->strides[k];
      g.z[k] = indices ? indices->strides[k] : 0;
    }
    const int pad = 3 - dims;
    for (int d = 0; d < 3; ++d) {
      const int s = d - pad;  // the call's spatial dim, or < 0 for a padded one
      g.in[d] = s < 0 ? 1 : x->sizes[2 + s];
      g.out[d] = s < 0 ? 1 : y->sizes[2 + s];
      g.window[d] = s < 0 ? 1 : c->scalars[3 + s].i;
      g.stride[d] = s < 0 ? 1 : c->scalars[3 + dims + s].i;
      g.padding[d] = s < 0 ? 0 : c->scalars[3 + 2 * dims + s].i;
      g.dilation[d] = s < 0 ? 1 : c->scalars[3 + 3 * dims + s].i;
      g.x[2 + d] = s < 0 ? 0 : x->strides[2 + s];
      g.y[2 + d] = s < 0 ? 0 : y->strides[2 + s];
      g.z[2 + d] = s < 0 || !indices ? 0 : indices->strides[2 + s];
      if (indices && s >= 0 && indices->sizes[2 + s] != g.out[d]) return;
      if (g.kind != kPoolAdaptiveMax && (g.window[d] < 1 || g.stride[d] < 1 || g.dilation[d] < 1 || g.padding[d] < 0))
        return;
      if (g.kind == kPoolAdaptiveMax && g.out[d] > 0 && g.in[d] < 1) return;
    }
    // Walk the written tensor channels fastest when that is its memory order.
    const gems_tensor& walked = backward ? *x : *y;
    g.channels_last = walked.strides[1] == 1 && g.C > 1;
    ok = true;
  }
  // The walked tensor's spatial sizes (padded to three) and element count:
  // one work-item an element.
  const int64_t* walked_sizes() const { return backward ? g.in : g.out; }
  int64_t count() const {
    const int64_t* s = walked_sizes();
    return g.N * g.C * s[0] * s[1] * s[2];
  }
  // Whether every offset, count and product of pooling.h's index math fits in
  // int32_t, so that a GPU kernel may do it in 32 bits: elements of the
  // walked tensors, the furthest element of each operand, and the adaptive
  // kind's products of an input and an output extent.
  bool fits_int32() const {
    const int64_t limit = INT32_MAX / 2;  // headroom for a window's reach past an edge
    auto extent = [](const gems_tensor* t) {
      if (!t) return int64_t{0};
      int64_t last = 0;
      for (int d = 0; d < t->ndim; ++d) last += (t->sizes[d] - 1) * (t->strides[d] < 0 ? -t->strides[d] : t->strides[d]);
      return last + 1;
    };
    if (extent(x) > limit || extent(y) > limit || extent(indices) > limit) return false;
    if (g.N * g.C * g.in[0] * g.in[1] * g.in[2] > limit || g.N * g.C * g.out[0] * g.out[1] * g.out[2] > limit)
      return false;
    for (int d = 0; d < 3; ++d)
      if ((g.in[d] + 1) * (g.out[d] + 1) > limit || g.padding[d] > limit / 4 ||
          (g.window[d] - 1) * g.dilation[d] + g.stride[d] > limit / 4)
        return false;
    return true;
  }
};

}  // namespace gems
