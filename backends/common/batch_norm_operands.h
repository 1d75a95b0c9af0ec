// The operands of batch_norm's two per-channel reductions (documented in
// backends/cpu/kernel_table.cpp), checked once for every vendor. Host code.
#pragma once
#include "../abi/gems_vendor_abi.h"

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

}  // namespace gems
