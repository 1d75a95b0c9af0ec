// Host side of kernels/conv.clcpp: the three convolution kernels (operands in
// backends/cpu/kernel_table.cpp), each one work-item per output element.
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

enum class Pass { kForward, kInputGradient, kWeightGradient };

// The call's geometry, 1- and 2-d convolutions as 3-d ones with leading
// spatial dims of size 1. x, w and y are the operands in forward's roles.
bool geometry(const gems_kernel_call* c, const gems_tensor& x, const gems_tensor& w, const gems_tensor& y,
              gi_conv& g) {
  const int dims = x.ndim - 2, pad = 3 - dims;
  if (dims < 1 || dims > 3 || w.ndim != x.ndim || y.ndim != x.ndim || c->num_scalars != 2 + 3 * dims) return false;
  g = gi_conv{};
  g.N = x.sizes[0];
  g.C = x.sizes[1];
  g.K = w.sizes[0];
  g.groups = c->scalars[0].i;
  if (g.groups < 1 || g.C % g.groups != 0 || g.K % g.groups != 0 || w.sizes[1] * g.groups != g.C) return false;
  for (int d = 0; d < 3; ++d) {
    const int s = d - pad;  // the call's spatial dim, or < 0 for a padded one
    g.in[d] = s < 0 ? 1 : x.sizes[2 + s];
    g.out[d] = s < 0 ? 1 : y.sizes[2 + s];
    g.window[d] = s < 0 ? 1 : w.sizes[2 + s];
    g.stride[d] = s < 0 ? 1 : c->scalars[2 + s].i;
    g.padding[d] = s < 0 ? 0 : c->scalars[2 + dims + s].i;
    g.dilation[d] = s < 0 ? 1 : c->scalars[2 + 2 * dims + s].i;
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

int run(const gems_kernel_call* c, Pass pass, const char* kernel) {
  if (c->num_tensors != 3) return set_error(GEMS_INVALID_ARGUMENT, "convolution kernels take 3 tensors");
  const gems_tensor* t = c->tensors;
  const gems_tensor& x = pass == Pass::kForward ? t[1] : pass == Pass::kInputGradient ? t[0] : t[1];
  const gems_tensor& w = pass == Pass::kWeightGradient ? t[0] : t[2];
  const gems_tensor& y = pass == Pass::kForward ? t[0] : t[pass == Pass::kInputGradient ? 1 : 2];
  if (!served(kFloating, t[0].dtype)) return unsupported(kernel, t[0].dtype);
  gi_conv g;
  if (!geometry(c, x, w, y, g))
    return set_error(GEMS_INVALID_ARGUMENT, "convolution: expected x, w, y of 3 to 5 dims with matching groups, "
                                            "then groups, flags and stride, padding, dilation per spatial dim");
  const int64_t count = numel(t[0]);
  if (count == 0) return GEMS_OK;
  return Launch(c, kProgramConv, kernel_name(kernel, t[0].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).value(g).run(static_cast<size_t>(count));
}

}  // namespace

int k_convolution(const gems_kernel_call* c) { return run(c, Pass::kForward, "conv_forward"); }
int k_convolution_backward_input(const gems_kernel_call* c) {
  return run(c, Pass::kInputGradient, "conv_input_grad");
}
int k_convolution_backward_weight(const gems_kernel_call* c) {
  return run(c, Pass::kWeightGradient, "conv_weight_grad");
}

}  // namespace gems::intel
