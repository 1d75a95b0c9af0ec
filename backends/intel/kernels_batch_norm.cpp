// Host side of kernels/batch_norm.clcpp: batch_norm's two per-channel
// reductions (operands in backends/cpu/kernel_table.cpp), a work-item a channel.
#include "../common/batch_norm_operands.h"
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

gi_channels channels_of(const BatchNormOperands& op) {
  const gems_tensor &x = *op.x, *dy = op.dy, *mean = op.mean;
  gi_channels g{};
  g.N = x.sizes[0];
  g.C = x.sizes[1];
  g.S = x.sizes[2];
  for (int d = 0; d < 3; ++d) {
    g.x[d] = x.strides[d];
    g.y[d] = dy ? dy->strides[d] : 0;
  }
  g.out0 = op.out0->strides[0];
  g.out1 = op.out1->strides[0];
  g.mean = mean ? mean->strides[0] : 0;
  return g;
}

}  // namespace

int k_batch_norm_stats(const gems_kernel_call* c) {
  const BatchNormOperands op(c, false);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, op.expected());
  const gems_tensor& x = *op.x;
  if (!served(kFloating, x.dtype)) return unsupported("batch_norm_stats", x.dtype);
  if (x.sizes[1] == 0) return GEMS_OK;
  return Launch(c, kProgramBatchNorm, kernel_name("batch_norm_stats", x.dtype))
      .tensor(*op.out0).tensor(*op.out1).tensor(x).value(channels_of(op))
      .run(static_cast<size_t>(x.sizes[1]));
}

int k_batch_norm_backward_reduce(const gems_kernel_call* c) {
  const BatchNormOperands op(c, true);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, op.expected());
  const gems_tensor &dy = *op.dy, &x = *op.x, &mean = *op.mean;
  if (!served(kFloating, x.dtype)) return unsupported("batch_norm_backward_reduce", x.dtype);
  if (x.sizes[1] == 0) return GEMS_OK;
  return Launch(c, kProgramBatchNorm, kernel_name("batch_norm_backward_reduce", x.dtype))
      .tensor(*op.out0).tensor(*op.out1).tensor(dy).tensor(x).tensor(mean).value(channels_of(op))
      .run(static_cast<size_t>(x.sizes[1]));
}

}  // namespace gems::intel
