// Host-side float16 / bfloat16 storage types with exact IEEE conversions.
// Vendors compute 16-bit types in float and store back with round-to-nearest-
// even, which is what PyTorch's CPU and CUDA kernels do.
#pragma once
#include <cstdint>
#include <cstring>

namespace gems {

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

struct bfloat16 {
  uint16_t x;
  bfloat16() = default;
  bfloat16(float f) {  // NOLINT: implicit by design, like c10::BFloat16
    uint32_t u = float_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) { x = 0x7fc0; return; }  // NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                  // RNE
    x = static_cast<uint16_t>(u >> 16);
  }
  operator float() const { return bits_to_float(static_cast<uint32_t>(x) << 16); }
};

struct float16 {
  uint16_t x;
  float16() = default;
  float16(float f) {  // NOLINT
    // Round-to-nearest-even conversion (after Fabian Giesen's public-domain
    // float_to_half_fast3_rtne).
    uint32_t u = float_to_bits(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t h;
    if (u >= 0x47800000u) {  // overflow, inf or NaN
      h = (u > 0x7f800000u) ? 0x7e00 : 0x7c00;
    } else if (u < 0x38800000u) {  // subnormal or zero
      float tmp = bits_to_float(u) + 0.5f;
      h = static_cast<uint16_t>(float_to_bits(tmp) - 0x3f000000u);
    } else {
      uint32_t mant_odd = (u >> 13) & 1u;
      u += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu;
      u += mant_odd;
      h = static_cast<uint16_t>(u >> 13);
    }
    x = static_cast<uint16_t>(h | (sign >> 16));
  }
  operator float() const {
    uint32_t sign = static_cast<uint32_t>(x & 0x8000u) << 16;
    uint32_t exp = (x >> 10) & 0x1fu;
    uint32_t mant = x & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
      u = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
      if (mant == 0) return bits_to_float(sign);
      // subnormal: value = mant * 2^-24
      float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
      return sign ? -v : v;
    } else {
      u = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    return bits_to_float(u);
  }
};

}  // namespace gems
