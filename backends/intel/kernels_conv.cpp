// Host side of kernels/conv.clcpp: the three convolution kernels (operands in
// backends/cpu/kernel_table.cpp, decoded by backends/common/conv_operands.h),
// each one work-item per output element.
#include "../common/conv_operands.h"
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

// The call's geometry, 1- and 2-d convolutions as 3-d ones with leading
// spatial dims of size 1.
bool geometry(const ConvOperands& op, gi_conv& g) {
  const gems_tensor &x = *op.x, &w = *op.w, &y = *op.y;
  const int pad = 3 - op.dims;
  g = gi_conv{};
  g.N = x.sizes[0];
  g.C = x.sizes[1];
  g.K = w.sizes[0];
  g.groups = op.groups;
  if (g.groups < 1 || g.C % g.groups != 0 || g.K % g.groups != 0 || w.sizes[1] * g.groups != g.C) return false;
  for (int d = 0; d < 3; ++d) {
    const int s = d - pad;  // the call's spatial dim, or < 0 for a padded one
    g.in[d] = s < 0 ? 1 : x.sizes[2 + s];
    g.out[d] = s < 0 ? 1 : y.sizes[2 + s];
    g.window[d] = s < 0 ? 1 : w.sizes[2 + s];
    g.stride[d] = s < 0 ? 1 : op.stride[s];
    g.padding[d] = s < 0 ? 0 : op.padding[s];
    g.dilation[d] = s < 0 ? 1 : op.dilation[s];
    g.x[2 + d] = s < 0 ? 0 : x.strides[2 + s];
    g.w[2 + d] = s < 0 ? 0 : w.strides[2 + s];
    g.y[2 + d] = s < 0 ? 0 : y.strides[2 + s];
  }
  for (int d = 0; d < 2; ++d) {
    g.x[d] = x.strides[d];
    g.w[d] = w.strides[d];
    g.y[d] = y.strides[d];
  }
  return true;
}

int run(const gems_kernel_call* c, ConvPass pass, const char* kernel) {
  const ConvOperands op(c, pass);
  gi_conv g;
  if (!op.valid() || !geometry(op, g))
    return set_error(GEMS_INVALID_ARGUMENT, "convolution: expected x, w, y of 3 to 5 dims with matching groups, "
                                            "then groups, flags and stride, padding, dilation per spatial dim");
  const gems_tensor* t = c->tensors;
  if (!served(kFloating, t[0].dtype)) return unsupported(kernel, t[0].dtype);
  const int64_t count = numel(t[0]);
  if (count == 0) return GEMS_OK;
  return Launch(c, kProgramConv, kernel_name(kernel, t[0].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).value(g).run(static_cast<size_t>(count));
}

}  // namespace

int k_convolution(const gems_kernel_call* c) { return run(c, ConvPass::kForward, "conv_forward"); }
int k_convolution_backward_input(const gems_kernel_call* c) {
  return run(c, ConvPass::kInputGradient, "conv_input_grad");
}
int k_convolution_backward_weight(const gems_kernel_call* c) {
  return run(c, ConvPass::kWeightGradient, "conv_weight_grad");
}

}  // namespace gems::intel
