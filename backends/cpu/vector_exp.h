// exp in loops the compiler vectorises (no library call per element):
// Cephes' single-precision exp (a degree-6 polynomial on [-ln2/2, ln2/2]
// scaled by 2^n), within 1 ulp of expf, with expf's special values. Doubles
// go through std::exp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../common/activations.h"

namespace gems::cpu {

// c[0] x^(N-1) + c[1] x^(N-2) + ... + c[N-1], by Horner's rule (the
// polynomials of the functions below; unrolled, so loops still vectorize).
template <size_t N>
inline float horner(float x, const float (&c)[N]) {
  float y = c[0];
  for (size_t i = 1; i < N; ++i) y = y * x + c[i];
  return y;
}

// expf for one value, written so that a loop calling it vectorizes (no
// library call): the same polynomial, the power of two applied as two factors
// so that every result from the smallest subnormal to FLT_MAX is reached.
// Special values as expf: NaN stays NaN, +inf and x > 88.7228 give inf, -inf
// and x < -103.972 give 0.
inline float exp_float(float x) {
  const bool nan = x != x;
  float v = nan ? 0.0f : x;
  v = v < -103.97208f ? -103.97208f : v > 88.72284f ? 88.72284f : v;
  const float fn = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(v / ln2), in [-150, 128]
  float r = v - fn * 0.693359375f;
  r -= fn * -2.12194440e-4f;
  float y = horner(r, {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                       5.0000001201e-1f});
  y = y * r * r + r + 1.0f;
  const int32_t n = static_cast<int32_t>(fn), n1 = n / 2, n2 = n - n1;  // each in [-75, 64]: normal scales
  const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof(s1));
  std::memcpy(&s2, &b2, sizeof(s2));
  float e = y * s1 * s2;
  e = x > 88.72284f ? INFINITY : e;
  e = x < -103.97208f ? 0.0f : e;
  return nan ? x : e;
}


// exp in a kernel's compute type: float (and 16-bit floats, computed in
// float) by exp_float, double by std::exp.
inline float exp_of(float x) { return exp_float(x); }
inline double exp_of(double x) { return std::exp(x); }

// tanhf written so that a loop calling it vectorizes: Cephes' single-precision
// tanh, an odd polynomial below |x| = 0.625 (where 1 - 2 / (e^2x + 1) would
// cancel) and 1 - 2 / (exp_float(2|x|) + 1) above, with the sign restored;
// within 2 ulp of tanhf. NaN stays NaN, +-inf gives +-1.
inline float tanh_float(float x) {
  const float a = x < 0 ? -x : x;
  const float z = x * x;
  const float small =
      horner(z, {-5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f, -3.33332819422e-1f}) *
          z * x +
      x;
  const float e = exp_float(2.0f * (a < 44.0f ? a : 44.0f));  // tanh(44) is 1 in float; inf would make 2 / inf
  float large = 1.0f - 2.0f / (e + 1.0f);
  large = x < 0 ? -large : large;
  return a < 0.625f ? small : (x != x ? x : large);
}

// logf written so that a loop calling it vectorizes: Cephes' single-precision
// log (x = m 2^e with m in [sqrt(1/2), sqrt(2)), a degree-9 polynomial in
// m - 1), within 1-2 ulp of logf; subnormal inputs are scaled up first. As
// logf: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays NaN.
inline float log_float(float x) {
  const bool tiny = x < 1.17549435e-38f;  // subnormal (or zero, or negative: answered below)
  const float v = tiny ? x * 8388608.0f : x;  // 2^23
  int32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  int32_t e = ((bits >> 23) & 0xff) - 126 - (tiny ? 23 : 0);
  const int32_t mbits = (bits & 0x007fffff) | 0x3f000000;  // mantissa in [0.5, 1)
  float m;
  std::memcpy(&m, &mbits, sizeof(m));
  const bool low = m < 0.707106781186547524f;
  e -= low ? 1 : 0;
  m = low ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = horner(m, {7.0376836292e-2f, -1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                       -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f});
  y = y * m * z;
  const float fe = static_cast<float>(e);
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  float r = m + y + 0.693359375f * fe;
  r = x == 0.0f ? -INFINITY : r;
  r = x < 0.0f ? NAN : r;
  r = x == INFINITY ? INFINITY : r;
  return x != x ? x : r;
}

// log in a kernel's compute type, as exp_of.
inline float log_of(float x) { return log_float(x); }
inline double log_of(double x) { return std::log(x); }

// The cpu vendor's elementary functions for backends/common/activations.h
// (defined below: exp_of above, one_plus_erf_of and tanh_of after it).
struct CpuMath;

// sigmoid and silu in a kernel's compute type, on exp_of.
template <typename A>
A sigmoid_of(A x) { return gems::sigmoid<CpuMath>(x); }
template <typename A>
A silu_of(A x) { return gems::silu<CpuMath>(x); }

// 1 + erf(z), which gelu's exact form needs (twice the normal CDF at z sqrt 2):
// erfc(|z|) by Abramowitz and Stegun 7.1.26 (one exp, one division; within
// 1.5e-7 absolute, the erf PyTorch's own vectorized CPU kernels use), then 2 -
// erfc for z >= 0, erfc itself below 0. Absolute accuracy is what a value added
// to 1 needs: 1.6x faster than the 2-ulp fitted erf it replaced (two
// polynomials and an exponential), whose relative accuracy at small |z| the
// sum with 1 discards anyway. inf gives 2, NaN stays NaN.
// (e_minus_a2 = exp(-z^2), given by a caller that needs it too.)
inline float one_plus_erf_float(float z, float e_minus_a2) {
  const float a = z < 0 ? -z : z;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float tail =
      horner(t, {1.061405429f, -1.453152027f, 1.421413741f, -0.284496736f, 0.254829592f}) * t * e_minus_a2;
  return z >= 0 ? 2.0f - tail : (z != z ? z : tail);
}
inline float one_plus_erf_float(float z) { return one_plus_erf_float(z, exp_float(-z * z)); }
inline float one_plus_erf_of(float z) { return one_plus_erf_float(z); }
inline double one_plus_erf_of(double z) { return 1.0 + std::erf(z); }

// gelu's exact form, x Phi(x) = x / 2 (1 + erf(x / sqrt 2)), in a kernel's
// compute type (float: within 4.2e-7 absolute of the exact value over
// [-12, 12]; the fitted erf gave 4.5e-7).
template <typename A>
A gelu_erf_of(A x) { return gems::gelu_erf<CpuMath>(x); }

// Its backward, g (Phi(x) + x phi(x)): in float the CDF and the density share
// one exponential, exp(-x^2 / 2).
inline float gelu_erf_backward_of(float g, float x) {
  const float z = x * 0.70710678118654752440f, e = exp_float(-z * z);
  return g * (0.5f * one_plus_erf_float(z, e) + x * e * 0.39894228040143267794f);
}
inline double gelu_erf_backward_of(double g, double x) {
  return g * (0.5 * one_plus_erf_of(x * 0.70710678118654752440) + x * std::exp(-0.5 * x * x) * 0.39894228040143267794);
}

// tanh in a kernel's compute type, as exp_of.
inline float tanh_of(float x) { return tanh_float(x); }
inline double tanh_of(double x) { return std::tanh(x); }

struct CpuMath {
  template <typename A> static A exp(A x) { return exp_of(x); }
  template <typename A> static A tanh(A x) { return tanh_of(x); }
  template <typename A> static A one_plus_erf(A z) { return one_plus_erf_of(z); }
};

// The loops of this file over dense float runs are also compiled for AVX-512
// on x86-64 and the version is picked at load time where the processor has it
// (16 lanes instead of 8: the polynomial is their whole cost). The module's
// other loops stay x86-64-v3, where AVX-512 measured slower on the simple ops.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GEMS_CPU_AVX512_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define GEMS_CPU_AVX512_CLONES
#endif

// out[j] = exp(x[j] - shift) for j < n (softmax and attention weights).
GEMS_CPU_AVX512_CLONES inline void exp_shifted_float(const float* x, float shift, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = exp_float(x[j] - shift);
}

// out[j] = exp(x[j]), log(x[j]), tanh(x[j]), sigmoid(x[j]) = 1 / (1 +
// exp(-x[j])) and silu(x[j]) = x[j] / (1 + exp(-x[j])).
GEMS_CPU_AVX512_CLONES inline void exp_floats(const float* x, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = exp_float(x[j]);
}
GEMS_CPU_AVX512_CLONES inline void log_floats(const float* x, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = log_float(x[j]);
}
GEMS_CPU_AVX512_CLONES inline void tanh_floats(const float* x, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = tanh_float(x[j]);
}
GEMS_CPU_AVX512_CLONES inline void sigmoid_floats(const float* x, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = sigmoid_of(x[j]);
}
GEMS_CPU_AVX512_CLONES inline void silu_floats(const float* x, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = silu_of(x[j]);
}
// out[j] = gelu(x[j]) in its exact form, x Phi(x) = x / 2 (1 + erf(x / sqrt 2)).
GEMS_CPU_AVX512_CLONES inline void gelu_erf_floats(const float* x, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = gelu_erf_of(x[j]);
}

inline void exp_shifted(const float* x, float shift, float* out, int64_t n) { exp_shifted_float(x, shift, out, n); }
inline void exp_shifted(const double* x, double shift, double* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = std::exp(x[j] - shift);
}

// exp_shifted, returning the exponentials' sum from the same pass (softmax,
// log-sum-exp): 16 partial sums a block of 4096 (the same arithmetic in both
// clones), the blocks' sums added in order, so that the rounding error grows
// with the blocks, not the elements. A separate sum pass over a 32000-wide
// row had cost about a tenth of softmax's time.
constexpr int64_t kSumBlock = 4096;
GEMS_CPU_AVX512_CLONES inline float exp_shifted_sum_float(const float* x, float shift, float* out, int64_t n) {
  float total = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) {
    const int64_t end = std::min(n, b + kSumBlock);
    float acc[16] = {};
    int64_t j = b;
    for (; j + 16 <= end; j += 16)
      for (int u = 0; u < 16; ++u) {
        const float e = exp_float(x[j + u] - shift);
        out[j + u] = e;
        acc[u] += e;
      }
    for (; j < end; ++j) {
      out[j] = exp_float(x[j] - shift);
      acc[j & 15] += out[j];
    }
    for (int w = 8; w > 0; w /= 2)
      for (int u = 0; u < w; ++u) acc[u] += acc[u + w];
    total += acc[0];
  }
  return total;
}
inline float exp_shifted_sum(const float* x, float shift, float* out, int64_t n) {
  return exp_shifted_sum_float(x, shift, out, n);
}
inline double exp_shifted_sum(const double* x, double shift, double* out, int64_t n) {
  double total = 0;
  for (int64_t j = 0; j < n; ++j) total += out[j] = std::exp(x[j] - shift);
  return total;
}

}  // namespace gems::cpu
