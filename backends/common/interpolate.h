// Separable resampling of images (linear, bilinear, trilinear, bicubic and
// their antialiased forms) in one pass, one output element at a time, for
// every vendor (host code on cpu, CUDA/HIP on nvidia and amd, C++ for OpenCL
// on intel). The core computes each spatial dim's taps on the host, as
// PyTorch's kernels compute them (source indices and weights in the opmath
// type); here output (n, c, o0, o1, o2) is
//
//   sum over k0 of w0[k0][o0] * (sum over k1 of w1[k1][o1] * (sum over k2 of
//       w2[k2][o2] * x[n, c, i0[k0][o0], i1[k1][o1], i2[k2][o2]]))
//
// each sum from its first term on, left to right, in the weights' type A
// (float32; float64 for float64): the order of PyTorch CPU's separable
// kernels and of the core's former one-dim-at-a-time composition, rounded to
// the output's dtype once.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

// A call's geometry, spatial dims padded to three (leading dims of size 1
// with one tap of weight 1). Only 64-bit fields: the same bytes on the host
// and in an OpenCL kernel that takes it by value.
struct InterpolateGeometry {
  int64_t N, C;
  int64_t in[3], out[3], taps[3];  // taps: K_d, the rows of dim d's [K_d, O_d] index and weight tables
  int64_t x[5], y[5];              // strides (n, c, spatial) of the input and the output
  int64_t channels_last;           // the output is walked channels fastest (its memory order)
};

// The functions below take their integers in I: int64_t, or int32_t where
// the caller knows every offset and count of the call fits (on GPUs a 64-bit
// division is a long software routine). Calls name I.

// Output element i in memory order: its batch, channel and spatial coordinates.
template <typename I>
GEMS_HOST_DEVICE inline void interpolate_coords(const InterpolateGeometry& g, I i, I& n, I& c, I* o) {
  if (g.channels_last) {
    c = i % I(g.C);
    i /= I(g.C);
  }
  for (int d = 2; d >= 0; --d) {
    o[d] = i % I(g.out[d]);
    i /= I(g.out[d]);
  }
  if (!g.channels_last) {
    c = i % I(g.C);
    i /= I(g.C);
  }
  n = i;
}

// The output element after (n, c, o) in interpolate_coords' order: a walk
// over a range without a division per element.
GEMS_HOST_DEVICE inline void interpolate_next(const InterpolateGeometry& g, int64_t& n, int64_t& c, int64_t* o) {
  if (g.channels_last && ++c < g.C) return;
  if (g.channels_last) c = 0;
  for (int d = 2; d >= 0; --d) {
    if (++o[d] < g.out[d]) return;
    o[d] = 0;
  }
  if (!g.channels_last && ++c < g.C) return;
  if (!g.channels_last) c = 0;
  ++n;
}

// The output's element offset of (n, c, o).
template <typename I>
GEMS_HOST_DEVICE inline I interpolate_offset(const InterpolateGeometry& g, I n, I c, const I* o) {
  return n * I(g.y[0]) + c * I(g.y[1]) + o[0] * I(g.y[2]) + o[1] * I(g.y[3]) + o[2] * I(g.y[4]);
}

// Output element (n, c, o) in A. index(d, k, o) and weight(d, k, o) read dim
// d's tables (a padded dim has one tap: index 0, weight 1); load(offset) reads
// the input at an element offset as an A.
template <typename A, typename I, typename Index, typename Weight, typename Load>
GEMS_HOST_DEVICE inline A interpolate_at(const InterpolateGeometry& g, I n, I c, const I* o, Index index, Weight weight,
                                         Load load) {
  const I base = n * I(g.x[0]) + c * I(g.x[1]);
  A outer = A(0);
  for (I k0 = 0; k0 < I(g.taps[0]); ++k0) {
    const I p0 = base + I(index(0, k0, o[0])) * I(g.x[2]);
    A middle = A(0);
    for (I k1 = 0; k1 < I(g.taps[1]); ++k1) {
      const I p1 = p0 + I(index(1, k1, o[1])) * I(g.x[3]);
      A inner = A(0);
      for (I k2 = 0; k2 < I(g.taps[2]); ++k2) {
        const A term = load(p1 + I(index(2, k2, o[2])) * I(g.x[4])) * weight(2, k2, o[2]);
        inner = k2 == 0 ? term : inner + term;
      }
      const A term = inner * weight(1, k1, o[1]);
      middle = k1 == 0 ? term : middle + term;
    }
    const A term = middle * weight(0, k0, o[0]);
    outer = k0 == 0 ? term : outer + term;
  }
  return outer;
}

// uint8 resampling in PyTorch CPU's fixed-point arithmetic: the weights are
// integers (the float weights times 2^precision, rounded), interpolate_at
// sums them exactly in int32 (A = int32_t), and the sum is rounded and
// clamped once. The caller resamples one dim per call (PyTorch's separable
// passes, each rounded to uint8): every other dim's taps weigh 1.
GEMS_HOST_DEVICE inline uint8_t fixed_point_to_uint8(int32_t sum, int32_t precision) {
  const int32_t v = (sum + (int32_t(1) << (precision - 1))) >> precision;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace gems
