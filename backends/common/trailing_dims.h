// The trailing dims [k, ndim) of one tensor, coalesced: dims of size 1
// dropped, neighbours walked as one run merged, strides in elements. It is
// the block a reduction folds (reductions hand their reduced dims last), so
// the reduction engines of every vendor describe it alike.
#pragma once
#include <cstdint>

#include "../abi/gems_vendor_abi.h"

namespace gems {

struct TrailingDims {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[GEMS_MAX_DIMS];
  int64_t strides[GEMS_MAX_DIMS];

  TrailingDims(const gems_tensor& t, int k) {
    for (int d = k; d < t.ndim; ++d) {
      numel *= t.sizes[d];
      if (t.sizes[d] == 1) continue;
      if (ndim > 0 && strides[ndim - 1] == t.strides[d] * t.sizes[d]) {
        sizes[ndim - 1] *= t.sizes[d];
        strides[ndim - 1] = t.strides[d];
      } else {
        sizes[ndim] = t.sizes[d];
        strides[ndim] = t.strides[d];
        ++ndim;
      }
    }
    if (numel == 0) ndim = 0;
  }
};

}  // namespace gems
