// Eight floats as one value (GCC's vector extension: a 32-byte AVX register
// under the module's x86-64-v3 build, two SSE registers or scalars elsewhere),
// for the register-blocked loops of the attention tiles and the few-row
// products, where the compiler's own vectorization would not keep the
// accumulators in registers.
#pragma once
#include <cstring>

namespace gems::cpu {

using f8 = float __attribute__((vector_size(32)));

inline f8 load8(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store8(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }

// x in every lane (an initializer, not f8{} + x: 0 + x cannot fold away under
// signed zeros, and GCC then added 0 before every broadcast).
inline f8 splat8(float x) { return f8{x, x, x, x, x, x, x, x}; }

// The lanes' sum, in a fixed order.
inline float lanes_sum(f8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

}  // namespace gems::cpu
