// a + alpha * b, the arithmetic of add and sub (with -alpha) with PyTorch's
// alpha, for every dtype and every vendor. On bool, + is "or" and * is "and":
// add(a, b, alpha=False) is a itself.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

template <typename A>
GEMS_HOST_DEVICE inline A add_scaled(A a, A alpha, A b) {
  if constexpr (std::is_same_v<A, bool>) return a || (alpha && b);
  else return static_cast<A>(a + alpha * b);
}

}  // namespace gems
