// Powers as PyTorch computes them, one definition for every vendor (host code
// on cpu, device code on CUDA) so that all give the same results.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

// a ** b. Floats: the exponents models use most as PyTorch computes them (a
// square is the product, rounded once; a half power is the square root), else
// pow. Integers: by squaring; negative exponents as PyTorch's powi (1 and -1
// keep a magnitude of one, every other base gives 0).
template <typename A>
GEMS_HOST_DEVICE inline A power(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) {
    using std::pow;
    using std::sqrt;
    if (b == A(2)) return a * a;
    if (b == A(0.5)) return sqrt(a);
    return pow(a, b);
  } else {
    if constexpr (std::is_signed_v<A>) {
      if (b < 0) return static_cast<A>(a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0));
    }
    A result = 1, base = a;
    A e = b;
    while (e) {
      if (e & 1) result = static_cast<A>(result * base);
      base = static_cast<A>(base * base);
      e = static_cast<A>(e >> 1);
    }
    return result;
  }
}

}  // namespace gems
