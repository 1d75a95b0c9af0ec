// The operands of the interpolate kernel (documented in
// backends/cpu/kernel_table.cpp), decoded once for every vendor into the
// geometry of backends/common/interpolate.h. Host code.
#pragma once
#include <climits>
#include <cstdint>

#include "../abi/gems_vendor_abi.h"
#include "interpolate.h"

namespace gems {

// interpolate: y [N, C, O...], x [N, C, I...] (1 to 3 spatial dims, any
// strides, one floating dtype or uint8), then for each spatial dim d its
// taps: index [K_d, O_d] (int64, contiguous, each in [0, I_d)) and weight
// [K_d, O_d] (float32, float64 for a float64 x; contiguous). uint8 takes
// int32 weights in fixed point and one scalar, their precision in bits (1 to
// 22; fixed_point_to_uint8).
struct InterpolateOperands {
  static constexpr const char* kExpected =
      "interpolate: expected y [N, C, O...], x [N, C, I...] of 1 to 3 spatial dims, then per spatial dim a "
      "contiguous int64 index [K, O] and weight [K, O] (float32; float64 for float64; int32 for uint8, with "
      "the weights' precision in bits, 1 to 22, as the one scalar)";
  const gems_tensor* y = nullptr;
  const gems_tensor* x = nullptr;
  const gems_tensor* index[3] = {nullptr, nullptr, nullptr};   // per spatial dim of the call
  const gems_tensor* weight[3] = {nullptr, nullptr, nullptr};
  int dims = 0;  // spatial dims of the call; the geometry pads them to three in front
  int32_t precision = 0;  // uint8's fixed-point weights: bits after the point
  InterpolateGeometry g{};
  bool ok = false;

  explicit InterpolateOperands(const gems_kernel_call* c) {
    if (c->num_tensors < 4) return;
    y = &c->tensors[0];
    x = &c->tensors[1];
    dims = x->ndim - 2;
    if (dims < 1 || dims > 3 || y->ndim != x->ndim || c->num_tensors != 2 + 2 * dims || y->dtype != x->dtype) return;
    const int32_t stat = x->dtype == GEMS_FLOAT64 ? GEMS_FLOAT64 : x->dtype == GEMS_UINT8 ? GEMS_INT32 : GEMS_FLOAT32;
    if (x->dtype == GEMS_UINT8) {
      if (c->num_scalars != 1 || c->scalars[0].i < 1 || c->scalars[0].i > 22) return;
      precision = static_cast<int32_t>(c->scalars[0].i);
    }
    g.N = x->sizes[0];
    g.C = x->sizes[1];
    if (y->sizes[0] != g.N || y->sizes[1] != g.C) return;
    for (int k = 0; k < 2; ++k) {
      g.x[k] = x->strides[k];
      g.y[k] = y->strides[k];
    }
    const int pad = 3 - dims;
    for (int d = 0; d < 3; ++d) {
      const int s = d - pad;  // the call's spatial dim, or < 0 for a padded one
      g.in[d] = s < 0 ? 1 : x->sizes[2 + s];
      g.out[d] = s < 0 ? 1 : y->sizes[2 + s];
      g.x[2 + d] = s < 0 ? 0 : x->strides[2 + s];
      g.y[2 + d] = s < 0 ? 0 : y->strides[2 + s];
      g.taps[d] = 1;
      if (s < 0) continue;
      const gems_tensor& idx = c->tensors[2 + 2 * s];
      const gems_tensor& w = c->tensors[3 + 2 * s];
      if (idx.ndim != 2 || w.ndim != 2 || idx.dtype != GEMS_INT64 || w.dtype != stat) return;
      if (idx.sizes[1] != g.out[d] || w.sizes[0] != idx.sizes[0] || w.sizes[1] != g.out[d] || idx.sizes[0] < 1) return;
      if (idx.strides[1] != 1 || idx.strides[0] != g.out[d] || w.strides[1] != 1 || w.strides[0] != g.out[d]) return;
      if (g.in[d] < 1) return;
      g.taps[d] = idx.sizes[0];
      index[s] = &idx;
      weight[s] = &w;
    }
    g.channels_last = y->strides[1] == 1 && g.C > 1;
    ok = true;
  }

  // Elements of the output: one work-item each.
  int64_t count() const { return g.N * g.C * g.out[0] * g.out[1] * g.out[2]; }

  // Whether every offset and count of the call fits int32_t (the GPUs' index math).
  bool fits_int32() const {
    auto extent = [](const gems_tensor* t) {
      int64_t last = 0;
      for (int d = 0; d < t->ndim; ++d) last += (t->sizes[d] - 1) * (t->strides[d] < 0 ? -t->strides[d] : t->strides[d]);
      return last + 1;
    };
    const int64_t limit = INT32_MAX;
    int64_t table = 0;
    for (int d = 0; d < 3; ++d) table = table > g.taps[d] * g.out[d] ? table : g.taps[d] * g.out[d];
    return extent(x) < limit && extent(y) < limit && count() < limit && table < limit;
  }
};

}  // namespace gems
