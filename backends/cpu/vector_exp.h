// exp over an array in a loop the compiler vectorises (no library call per
// element): Cephes' single-precision exp (a degree-6 polynomial on
// [-ln2/2, ln2/2] scaled by 2^n), within 2 ulp of expf over its range.
// Inputs below -87.34 (where expf leaves the normal numbers) give 0, and -inf
// gives 0; inputs are at most 88.37. Doubles go through std::exp.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace gems::cpu {

// out[j] = exp(x[j] - shift) for j < n.
inline void exp_shifted(const float* x, float shift, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    float v = x[j] - shift;
    const bool tiny = !(v >= -87.33654f);  // -inf and NaN-free underflow: 0
    v = v < -87.33654f ? -87.33654f : v > 88.37626f ? 88.37626f : v;
    // n = round(v / ln2) by the 1.5 * 2^23 trick (exact for |n| < 2^22, no library call)
    const float fn = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = v - fn * 0.693359375f;
    r -= fn * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(fn) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    out[j] = tiny ? 0.0f : y * scale;
  }
}

inline void exp_shifted(const double* x, double shift, double* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = std::exp(x[j] - shift);
}

}  // namespace gems::cpu
