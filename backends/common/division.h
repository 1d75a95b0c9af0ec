// Division with PyTorch's rounding modes, remainder, maximum and minimum: one
// definition for every vendor (host code on cpu, device code on CUDA) so that
// all give the same results.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

// floor(a / b) for floats as PyTorch's div_floor_floating computes it: from
// fmod, so that the result is the floor of the exact quotient.
template <typename A>
GEMS_HOST_DEVICE inline A div_floor_floating(A a, A b) {
  using std::copysign;
  using std::floor;
  using std::fmod;
  if (b == A(0)) return a / b;
  const A mod = fmod(a, b);
  A div = (a - mod) / b;
  if (mod != A(0) && (b < A(0)) != (mod < A(0))) div -= A(1);
  if (div != A(0)) {
    A fl = floor(div);
    if (div - fl > A(0.5)) fl += A(1);
    return fl;
  }
  return copysign(A(0), a / b);
}

// a / b for integers, b != 0, rounded toward zero or (floor) down. Dividing
// by -1 is a negation: INT_MIN / -1 would trap.
template <typename A>
GEMS_HOST_DEVICE inline A div_integer(A a, A b, bool floor) {
  if constexpr (std::is_signed_v<A>) {
    if (b == A(-1)) return static_cast<A>(-a);
    A q = static_cast<A>(a / b);
    if (floor && (a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return static_cast<A>(a / b);
  }
}

// a - b * floor(a / b) for floats, as PyTorch computes it: the sign of b.
template <typename A>
GEMS_HOST_DEVICE inline A remainder_floating(A a, A b) {
  using std::fmod;
  A mod = fmod(a, b);
  if (mod != A(0) && (b < A(0)) != (mod < A(0))) mod += b;
  return mod;
}

// The same for integers, b != 0. Modulo -1 is 0: INT_MIN % -1 would trap.
template <typename A>
GEMS_HOST_DEVICE inline A remainder_integer(A a, A b) {
  if constexpr (std::is_signed_v<A>) {
    if (b == A(-1)) return A(0);
    A mod = static_cast<A>(a % b);
    if (mod != 0 && (mod < 0) != (b < 0)) mod = static_cast<A>(mod + b);
    return mod;
  } else {
    return static_cast<A>(a % b);
  }
}

// Elementwise maximum (kMax) or minimum as torch.maximum/minimum: a NaN
// operand gives NaN (std::max would return the other operand or the NaN by
// position).
template <bool kMax, typename A>
GEMS_HOST_DEVICE inline A extreme_of(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return (kMax ? a < b : b < a) ? b : a;
}
template <typename A>
GEMS_HOST_DEVICE inline A maximum_of(A a, A b) { return extreme_of<true>(a, b); }
template <typename A>
GEMS_HOST_DEVICE inline A minimum_of(A a, A b) { return extreme_of<false>(a, b); }

}  // namespace gems
