// Host side of kernels/pool.clcpp: the two pooling kernels and interpolate
// (operands in backends/cpu/kernel_table.cpp, decoded by
// backends/common/pool_operands.h and interpolate_operands.h), one work-item
// per element of the written tensor.
#include "../common/interpolate_operands.h"
#include "../common/pool_operands.h"
#include "kernels.h"
#include "launch.h"

namespace gems::intel {

int k_pool(const gems_kernel_call* c) {
  const PoolOperands op(c, false);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, PoolOperands::kExpected);
  if (!served(pool_is_max(op.g) ? kNumeric : kPoolAverageDtypes, op.x->dtype)) return unsupported("pool", op.x->dtype);
  if (op.count() == 0) return GEMS_OK;
  // The averaging kinds have no indices: the kernel's indices argument (never
  // written then) gets y's address.
  return Launch(c, kProgramPool, kernel_name("pool_forward", op.x->dtype))
      .tensor(*op.y).tensor(op.indices ? *op.indices : *op.y).tensor(*op.x).value(op.g)
      .run(static_cast<size_t>(op.count()));
}

int k_pool_backward(const gems_kernel_call* c) {
  const PoolOperands op(c, true);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, PoolOperands::kExpected);
  if (!served(kFloating, op.x->dtype)) return unsupported("pool_backward", op.x->dtype);
  if (op.count() == 0) return GEMS_OK;
  return Launch(c, kProgramPool, kernel_name("pool_backward", op.x->dtype))
      .tensor(*op.x).tensor(*op.y).tensor(op.indices ? *op.indices : *op.y).value(op.g)
      .run(static_cast<size_t>(op.count()));
}

int k_interpolate(const gems_kernel_call* c) {
  const InterpolateOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, InterpolateOperands::kExpected);
  const bool fixed_point = op.x->dtype == GEMS_UINT8;  // uint8: interpolate_u8, with the weights' precision
  if (!fixed_point && !served(kFloating, op.x->dtype)) return unsupported("interpolate", op.x->dtype);
  if (op.count() == 0) return GEMS_OK;
  const int pad = 3 - op.dims;
  Launch launch(c, kProgramPool, kernel_name("interpolate", op.x->dtype));
  launch.tensor(*op.y).tensor(*op.x);
  for (int d = 0; d < 3; ++d) {
    if (d < pad) launch.tensor(*op.y).tensor(*op.y);
    else launch.tensor(*op.index[d - pad]).tensor(*op.weight[d - pad]);
  }
  launch.value(pad);
  if (fixed_point) launch.value(op.precision);
  return launch.value(op.g).run(static_cast<size_t>(op.count()));
}

}  // namespace gems::intel
