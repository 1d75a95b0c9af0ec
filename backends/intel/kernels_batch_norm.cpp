// Host side of kernels/batch_norm.clcpp: batch_norm's two per-channel
// reductions (operands in backends/cpu/kernel_table.cpp), a work-item a channel.
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

bool per_channel_operands(const gems_kernel_call* c, int inputs) {
  if (c->num_tensors != 2 + inputs) return false;
  const gems_tensor& x = c->tensors[2];
  if (x.ndim != 3 || c->tensors[0].ndim != 1 || c->tensors[1].ndim != 1 || c->tensors[0].sizes[0] != x.sizes[1])
    return false;
  for (int k = 3; k < 2 + inputs; ++k)
    if (c->tensors[k].ndim != (k == 4 ? 1 : 3)) return false;
  return c->tensors[0].dtype == c->tensors[1].dtype;
}

gi_channels channels_of(const gems_kernel_call* c, const gems_tensor& x, const gems_tensor* dy,
                        const gems_tensor* mean) {
  gi_channels g{};
  g.N = x.sizes[0];
  g.C = x.sizes[1];
  g.S = x.sizes[2];
  for (int d = 0; d < 3; ++d) {
    g.x[d] = x.strides[d];
    g.y[d] = dy ? dy->strides[d] : 0;
  }
  g.out0 = c->tensors[0].strides[0];
  g.out1 = c->tensors[1].strides[0];
  g.mean = mean ? mean->strides[0] : 0;
  return g;
}

}  // namespace

int k_batch_norm_stats(const gems_kernel_call* c) {
  if (!per_channel_operands(c, 1))
    return set_error(GEMS_INVALID_ARGUMENT, "batch_norm_stats: expected mean [C], var [C], x [N, C, S]");
  const gems_tensor& x = c->tensors[2];
  if (!served(kFloating, x.dtype)) return unsupported("batch_norm_stats", x.dtype);
  if (x.sizes[1] == 0) return GEMS_OK;
  return Launch(c, kProgramBatchNorm, kernel_name("batch_norm_stats", x.dtype))
      .tensor(c->tensors[0]).tensor(c->tensors[1]).tensor(x).value(channels_of(c, x, nullptr, nullptr))
      .run(static_cast<size_t>(x.sizes[1]));
}

int k_batch_norm_backward_reduce(const gems_kernel_call* c) {
  if (!per_channel_operands(c, 3))
    return set_error(GEMS_INVALID_ARGUMENT, "batch_norm_backward_reduce: expected sum_dy [C], sum_dy_xmu [C], "
                                            "dy [N, C, S], x [N, C, S], mean [C]");
  const gems_tensor &dy = c->tensors[2], &x = c->tensors[3], &mean = c->tensors[4];
  if (!served(kFloating, x.dtype)) return unsupported("batch_norm_backward_reduce", x.dtype);
  if (x.sizes[1] == 0) return GEMS_OK;
  return Launch(c, kProgramBatchNorm, kernel_name("batch_norm_backward_reduce", x.dtype))
      .tensor(c->tensors[0]).tensor(c->tensors[1]).tensor(dy).tensor(x).tensor(mean)
      .value(channels_of(c, x, &dy, &mean))
      .run(static_cast<size_t>(x.sizes[1]));
}

}  // namespace gems::intel
