// The bin of one value in torch.histc: one definition for every vendor (host
// code on cpu, device code on CUDA), so that all place values alike.
#pragma once
#include <cstdint>

#include "division.h"
#include "host_device.h"

namespace gems {

// The bin of v among `bins` equal-width bins over [lo, hi] (lo < hi), or -1
// when v lies outside the range or is NaN. As PyTorch computes it: floor of
// (v - lo) * bins / (hi - lo) in double, the top edge counted in the last bin.
GEMS_HOST_DEVICE inline int64_t histc_bin(double v, double lo, double hi, int64_t bins) {
  if (!(v >= lo && v <= hi)) return -1;
  const double b = div_floor_floating((v - lo) * static_cast<double>(bins), hi - lo);
  return b < static_cast<double>(bins) ? static_cast<int64_t>(b) : bins - 1;
}

}  // namespace gems
