// Eight floats as one value (GCC's vector extension: a 32-byte AVX register
// under the module's x86-64-v3 build, two SSE registers or scalars elsewhere),
// for the register-blocked loops of the attention tiles and the few-row
// products, where the compiler's own vectorization would not keep the
// accumulators in registers.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "dtype_dispatch.h"

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

// Eight values of a float, bfloat16 or float16 run, widened to float in
// registers: a 16-bit weight read as it is stored (no float copy of it).
inline f8 load8_as_float(const float* p) { return load8(p); }
inline f8 load8_as_float(const bfloat16* p) {
  typedef uint16_t u16x8 __attribute__((vector_size(16)));
  typedef uint32_t u32x8 __attribute__((vector_size(32)));
  u16x8 h;
  std::memcpy(&h, p, sizeof h);
  const u32x8 bits = __builtin_convertvector(h, u32x8) << 16;  // bfloat16 is a float's upper half
  f8 v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
inline f8 load8_as_float(const float16* p) {
#if defined(__F16C__)
  const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  f8 v;
  std::memcpy(&v, &w, sizeof v);
  return v;
#else
  float w[8];
  for (int i = 0; i < 8; ++i) w[i] = static_cast<float>(p[i]);
  return load8(w);
#endif
}

// The lanes' sum, in a fixed order.
inline float lanes_sum(f8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

}  // namespace gems::cpu
