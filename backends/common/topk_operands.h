// The operands of the "topk" kernel (documented in backends/cpu/kernel_table.cpp),
// decoded once for every vendor: rows of n elements along the last dim (a
// 0-dim input is one row of one element) and k winners a row.
#pragma once
#include <cstdint>

#include "../abi/gems_vendor_abi.h"

namespace gems {

struct TopkOperands {
  const gems_tensor& values;
  const gems_tensor& indices;
  const gems_tensor& in;
  bool largest;
  int last;            // the row dim; -1 for a 0-dim input
  int64_t n, k;        // elements and winners a row
  int64_t vs, is, xs;  // strides along the row of values, indices and in

  explicit TopkOperands(const gems_kernel_call* c)
      : values(c->tensors[0]),
        indices(c->tensors[1]),
        in(c->tensors[2]),
        largest(c->scalars[0].i != 0),
        last(in.ndim - 1),
        n(last >= 0 ? in.sizes[last] : 1),
        k(last >= 0 ? values.sizes[last] : 1),
        vs(last >= 0 ? values.strides[last] : 1),
        is(last >= 0 ? indices.strides[last] : 1),
        xs(last >= 0 ? in.strides[last] : 1) {}
};

}  // namespace gems
