// The operands of the three convolution kernels (documented in
// backends/cpu/kernel_table.cpp), decoded once for every vendor: the tensors
// in a forward convolution's roles whichever of them the kernel writes (x the
// image, w the weight, y the columns), and the scalars: groups, flags, then
// stride, padding and dilation per spatial dim. Host code.
#pragma once
#include <cstdint>

#include "../abi/gems_vendor_abi.h"

namespace gems {

enum class ConvPass { kForward, kInputGradient, kWeightGradient };

// Bits of the flags scalar.
constexpr int64_t kConvAllowTf32 = 1, kConvDeterministic = 2;

struct ConvOperands {
  static constexpr const char* kExpected =
      "convolution: expected 3 tensors of 3 to 5 dims, groups, flags and stride, padding and dilation per spatial dim";
  const gems_tensor* x = nullptr;
  const gems_tensor* w = nullptr;
  const gems_tensor* y = nullptr;
  int dims = 0;  // spatial dims (1 to 3); 0 when the call is malformed
  int64_t groups = 1, flags = 0;
  int64_t stride[3] = {}, padding[3] = {}, dilation[3] = {};

  ConvOperands(const gems_kernel_call* c, ConvPass pass) {
    if (c->num_tensors != 3) return;
    const gems_tensor* t = c->tensors;
    x = &t[pass == ConvPass::kInputGradient ? 0 : 1];
    w = &t[pass == ConvPass::kWeightGradient ? 0 : 2];
    y = &t[pass == ConvPass::kForward ? 0 : pass == ConvPass::kInputGradient ? 1 : 2];
    const int d = t[0].ndim - 2;
    if (d < 1 || d > 3 || t[1].ndim != t[0].ndim || t[2].ndim != t[0].ndim || c->num_scalars != 2 + 3 * d) return;
    groups = c->scalars[0].i;
    flags = c->scalars[1].i;
    for (int i = 0; i < d; ++i) {
      stride[i] = c->scalars[2 + i].i;
      padding[i] = c->scalars[2 + d + i].i;
      dilation[i] = c->scalars[2 + 2 * d + i].i;
    }
    dims = d;
  }
  bool valid() const { return dims > 0; }
};

}  // namespace gems
