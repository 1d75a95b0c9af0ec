// The bin of one value in torch.histc: one definition for every vendor (host
// code on cpu, device code on CUDA), so that all place values alike.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

// The type values are placed in, given the input's compute type Acc: float
// for 16- and 32-bit floats, double for double and for integers.
template <typename Acc>
using histc_compute_t = std::conditional_t<std::is_floating_point_v<Acc>, Acc, double>;

// The bin of v among `bins` equal-width bins over [lo, hi] (lo < hi), or -1
// when v lies outside the range or is NaN. As PyTorch's CPU and CUDA kernels
// compute it: (v - lo) * bins / (hi - lo) truncated, in A (histc_compute_t),
// the top edge counted in the last bin.
template <typename A>
GEMS_HOST_DEVICE inline int64_t histc_bin(A v, A lo, A hi, int64_t bins) {
  if (!(v >= lo && v <= hi)) return -1;
  const int64_t b = static_cast<int64_t>((v - lo) * static_cast<A>(bins) / (hi - lo));
  return b < bins ? b : bins - 1;
}

}  // namespace gems
