// The formulas of the activations, one definition for every vendor. Each
// vendor supplies its elementary functions as a policy M with static exp(x),
// tanh(x) and one_plus_erf(z) (= 1 + erf(z)) in the compute type: the cpu
// vendor its vectorizable polynomials, CUDA/HIP and OpenCL their built-ins.
// The order of operations is part of the definition (results are compared
// bit for bit across refactors).
#pragma once
#include "host_device.h"

namespace gems {

constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kInvSqrt2 = 0.70710678118654752440;

template <typename M, typename A>
GEMS_HOST_DEVICE inline A sigmoid(A x) { return A(1) / (A(1) + M::exp(-x)); }

template <typename M, typename A>
GEMS_HOST_DEVICE inline A silu(A x) { return x / (A(1) + M::exp(-x)); }

// gelu's exact form, x Phi(x) = x / 2 (1 + erf(x / sqrt 2)).
template <typename M, typename A>
GEMS_HOST_DEVICE inline A gelu_erf(A x) { return x * A(0.5) * M::one_plus_erf(x * A(kInvSqrt2)); }

// gelu's tanh approximation.
template <typename M, typename A>
GEMS_HOST_DEVICE inline A gelu_tanh(A x) {
  return A(0.5) * x * (A(1) + M::tanh(A(kSqrt2OverPi) * (x + A(0.044715) * x * x * x)));
}

}  // namespace gems
