// The bin of one value in torch.histc: one definition for every vendor (host
// code on cpu, device code on CUDA), so that all place values alike.
#pragma once
#include <cstdint>

#include "host_device.h"

namespace gems {

// The bin of v among `bins` equal-width bins over [lo, hi] (lo < hi), or -1
// when v lies outside the range or is NaN. As PyTorch's CPU and CUDA kernels
// compute it: (v - lo) * bins / (hi - lo) truncated, in the compute type A
// (float for 16- and 32-bit floats, double for double and integers), the top
// edge counted in the last bin.
template <typename A>
GEMS_HOST_DEVICE inline int64_t histc_bin(A v, A lo, A hi, int64_t bins) {
  if (!(v >= lo && v <= hi)) return -1;
  const int64_t b = static_cast<int64_t>((v - lo) * static_cast<A>(bins) / (hi - lo));
  return b < bins ? b : bins - 1;
}

}  // namespace gems
