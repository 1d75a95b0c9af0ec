// Host side of kernels/batch_norm.clcpp: batch_norm's two per-channel
// reductions and its coefficients (operands in backends/cpu/kernel_table.cpp),
// a work-item a channel; channel_affine, a work-item an element.
#include "../common/batch_norm_operands.h"
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

// A coefficient vector's float dtype as its kernel names it.
gi_i64 vector_type(int32_t dtype) {
  switch (dtype) {
    case GEMS_FLOAT32: return GI_VECTOR_F32;
    case GEMS_FLOAT64: return GI_VECTOR_F64;
    case GEMS_FLOAT16: return GI_VECTOR_F16;
    default: return GI_VECTOR_BF16;
  }
}

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

int k_batch_norm_coefficients(const gems_kernel_call* c) {
  const BatchNormCoefficientsOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, BatchNormCoefficientsOperands::kExpected);
  const int32_t dtype = op.t[0].dtype;
  if (!served(GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), dtype))
    return unsupported("batch_norm_coefficients", dtype);
  if (op.C == 0) return GEMS_OK;
  gi_coefficients g{};
  g.C = op.C;
  g.mode = op.mode;
  g.flags = op.flags;
  g.eps = scalar_for(dtype, c->scalars[2]);
  g.momentum = scalar_for(dtype, c->scalars[3]);
  g.count = scalar_for(dtype, c->scalars[4]);
  Launch launch(c, kProgramBatchNorm, kernel_name("batch_norm_coefficients", dtype));
  for (int k = 0; k < BatchNormCoefficientsOperands::kTensors; ++k) {  // nine, the first again where a tenth is not read
    const gems_tensor& t = op.t[k < op.n ? k : 0];
    g.step[k] = t.strides[0];
    g.type[k] = vector_type(t.dtype);
    launch.tensor(t);
  }
  return launch.value(g).run(static_cast<size_t>(op.C));
}

int k_group_norm_coefficients(const gems_kernel_call* c) {
  const GroupNormCoefficientsOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, GroupNormCoefficientsOperands::kExpected);
  const int32_t dtype = op.t[0].dtype;
  if (!served(GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), dtype))
    return unsupported("group_norm_coefficients", dtype);
  gi_group_coefficients g{};
  g.N = op.N;
  g.C = op.C;
  g.G = op.G;
  g.mode = op.mode;
  g.flags = op.flags;
  g.eps = scalar_for(dtype, c->scalars[2]);
  g.count = scalar_for(dtype, c->scalars[3]);
  Launch launch(c, kProgramBatchNorm, kernel_name("group_norm_coefficients", dtype));
  for (int k = 0; k < 10; ++k) {  // the forward's seven, then its first again where the kernel takes ten
    const gems_tensor& t = op.t[k < c->num_tensors ? k : 0];
    g.step[k] = t.strides[0];
    g.type[k] = vector_type(t.dtype);
    launch.tensor(t);
  }
  return launch.value(g).run(static_cast<size_t>(op.C));
}

int k_channel_affine(const gems_kernel_call* c) {
  const ChannelAffineOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, ChannelAffineOperands::kExpected);
  const gems_tensor &y = *op.y, &x = *op.x;
  if (!served(kFloating, x.dtype)) return unsupported("channel_affine", x.dtype);
  if (op.count() == 0) return GEMS_OK;
  const gems_tensor& dy = op.dy ? *op.dy : x;
  const gems_tensor& dy_scale = op.dy_scale ? *op.dy_scale : *op.scale;
  gi_affine g{};
  g.N = x.sizes[0];
  g.C = x.sizes[1];
  g.S = x.sizes[2];
  g.has_dy = op.dy != nullptr;
  for (int d = 0; d < 3; ++d) {
    g.y[d] = y.strides[d];
    g.x[d] = x.strides[d];
    g.dy[d] = dy.strides[d];
  }
  g.scale = op.scale->strides[0];
  g.shift = op.shift->strides[0];
  g.dy_scale = dy_scale.strides[0];
  return Launch(c, kProgramBatchNorm, kernel_name("channel_affine", x.dtype))
      .tensor(y).tensor(x).tensor(*op.scale).tensor(*op.shift).tensor(dy).tensor(dy_scale).value(g)
      .run(static_cast<size_t>(op.count()));
}

}  // namespace gems::intel
