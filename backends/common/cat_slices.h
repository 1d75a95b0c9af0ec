// cat: input i of a "cat" call fills the slice of the output that starts
// where the inputs before it end along dim and is as long as it there. Both
// vendors copy an input into its slice with their "copy" kernel whenever they
// do not batch the whole call into one launch.
#pragma once
#include <cstdint>

#include "../abi/gems_vendor_abi.h"

namespace gems {

// Calls copy(call) once per input, in order, with a call whose tensors are
// (the input's slice of the output, the input); stops at the first failure.
template <typename Copy>
int copy_cat_slices(const gems_kernel_call* c, Copy copy) {
  const gems_tensor& out = c->tensors[0];
  const int dim = static_cast<int>(c->scalars[0].i);
  int64_t offset = 0;
  for (int i = 1; i < c->num_tensors; ++i) {
    const gems_tensor& in = c->tensors[i];
    gems_tensor pair[2] = {out, in};
    pair[0].offset += offset * out.strides[dim];
    pair[0].sizes[dim] = in.sizes[dim];
    offset += in.sizes[dim];
    gems_kernel_call one = *c;
    one.tensors = pair;
    one.num_tensors = 2;
    one.scalars = nullptr;
    one.num_scalars = 0;
    if (int status = copy(&one)) return status;
  }
  return GEMS_OK;
}

}  // namespace gems
