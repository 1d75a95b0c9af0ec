// lerp(self, end, weight) with PyTorch's two-sided formula (exact at both
// ends), in the compute type, for every vendor.
#pragma once
#include "host_device.h"

namespace gems {

template <typename A>
GEMS_HOST_DEVICE inline A lerp_of(A x, A e, A w) {
  return (w < A(0.5) && w > A(-0.5)) ? x + w * (e - x) : e - (e - x) * (A(1) - w);
}

}  // namespace gems
