// Max, average and adaptive max pooling over 1 to 3 spatial dims, forward and
// backward, one output (or input-gradient) element at a time: one definition
// of the windows, the divisors and the tie and NaN rules for every vendor
// (host code on cpu, CUDA/HIP on nvidia and amd, C++ for OpenCL on intel).
// The rules are PyTorch's CPU and CUDA kernels': a window's max is its first
// largest element, or its last NaN; an average divides by the window's size
// counting padding (clipped at the padded edge), or only the input elements,
// or by divisor_override.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

enum PoolKind { kPoolMax = 0, kPoolAverage = 1, kPoolAdaptiveMax = 2 };

// A pooling call's geometry, spatial dims padded to three (leading ones of
// size 1). Only 64-bit fields: the same bytes on the host and in an OpenCL
// kernel that takes it by value.
struct PoolGeometry {
  int64_t kind, count_include_pad, divisor;  // divisor: average's override, 0 when none
  int64_t N, C;
  int64_t in[3], out[3], window[3], stride[3], padding[3], dilation[3];
  int64_t x[5], y[5], z[5];  // strides (n, c, spatial) of the input, the output and the indices
  int64_t channels_last;     // the enumerated tensor is walked channels fastest (memory order)
};

GEMS_HOST_DEVICE inline bool pool_is_max(const PoolGeometry& g) { return g.kind != kPoolAverage; }

// The coordinate functions below take their integers in I: int64_t, or
// int32_t where the caller knows every offset and count of the call fits (on
// GPUs a 64-bit division is a long software routine, 32-bit a few instructions).
// Calls name I (OpenCL's address spaces defeat its deduction).

// Element i of [N, C, sizes...] in memory order (channels fastest when
// channels_last): its batch, channel and spatial coordinates.
template <typename I>
GEMS_HOST_DEVICE inline void pool_coords(const PoolGeometry& g, const int64_t* sizes, I i, I& n, I& c, I* at) {
  const I channels = I(g.C);
  if (g.channels_last) {
    c = i % channels;
    i /= channels;
  }
  for (int d = 2; d >= 0; --d) {
    const I size = I(sizes[d]);
    at[d] = i % size;
    i /= size;
  }
  if (!g.channels_last) {
    c = i % channels;
    i /= channels;
  }
  n = i;
}

// The element after (n, c, at) in pool_coords' order: a walk over a range
// without a division per element.
GEMS_HOST_DEVICE inline void pool_next(const PoolGeometry& g, const int64_t* sizes, int64_t& n, int64_t& c,
                                       int64_t* at) {
  if (g.channels_last && ++c < g.C) return;
  if (g.channels_last) c = 0;
  for (int d = 2; d >= 0; --d) {
    if (++at[d] < sizes[d]) return;
    at[d] = 0;
  }
  if (!g.channels_last && ++c < g.C) return;
  if (!g.channels_last) c = 0;
  ++n;
}

// Output o's window along dim d: taps lo, lo + step, ... below hi (before
// clipping to the input; an average's windows reach into the padding).
template <typename I>
GEMS_HOST_DEVICE inline void pool_window(const PoolGeometry& g, int d, I o, I& lo, I& hi, I& step) {
  if (g.kind == kPoolAdaptiveMax) {
    const I in = I(g.in[d]), out = I(g.out[d]);
    lo = o * in / out;
    hi = ((o + 1) * in + out - 1) / out;
    step = 1;
  } else {
    lo = o * I(g.stride[d]) - I(g.padding[d]);
    hi = lo + (I(g.window[d]) - 1) * I(g.dilation[d]) + 1;
    step = I(g.dilation[d]);
  }
}

// The first tap at or after lo that lies in [0, size).
template <typename I>
GEMS_HOST_DEVICE inline I pool_first_inside(I lo, I step) {
  return lo >= 0 ? lo : lo + (-lo + step - 1) / step * step;
}

// An average's divisor for output o.
template <typename I>
GEMS_HOST_DEVICE inline I pool_divisor(const PoolGeometry& g, const I* o) {
  if (g.divisor) return I(g.divisor);
  I size = 1;
  for (int d = 0; d < 3; ++d) {
    const I in = I(g.in[d]), pad = I(g.padding[d]);
    const I lo = o[d] * I(g.stride[d]) - pad;
    const I hi = lo + I(g.window[d]) < in + pad ? lo + I(g.window[d]) : in + pad;
    size *= g.count_include_pad ? hi - lo : (hi < in ? hi : in) - (lo > 0 ? lo : 0);
  }
  return size;
}

// Output element (n, c, o): its value, in the compute type A, and for the
// max kinds the flat spatial index of the input element it came from.
// load(offset) reads the input at an element offset, as an A.
template <typename A, typename I, typename Load>
GEMS_HOST_DEVICE inline A pool_forward_at(const PoolGeometry& g, I n, I c, const I* o, Load load, I& index) {
  I lo[3], hi[3], step[3], in[3], x[5];
  for (int d = 0; d < 3; ++d) {
    in[d] = I(g.in[d]);
    pool_window<I>(g, d, o[d], lo[d], hi[d], step[d]);
    lo[d] = pool_first_inside<I>(lo[d], step[d]);
    if (hi[d] > in[d]) hi[d] = in[d];
  }
  for (int k = 0; k < 5; ++k) x[k] = I(g.x[k]);
  const I base = n * x[0] + c * x[1];
  const bool max = pool_is_max(g);
  A acc = A(0);
  index = (lo[0] * in[1] + lo[1]) * in[2] + lo[2];
  bool first = true;
  for (I p0 = lo[0]; p0 < hi[0]; p0 += step[0])
    for (I p1 = lo[1]; p1 < hi[1]; p1 += step[1])
      for (I p2 = lo[2]; p2 < hi[2]; p2 += step[2]) {
        const A v = load(base + p0 * x[2] + p1 * x[3] + p2 * x[4]);
        if (!max) {
          acc += v;
        } else if (first || v > acc || v != v) {  // v != v: NaN, which always wins
          acc = v;
          index = (p0 * in[1] + p1) * in[2] + p2;
          first = false;
        }
      }
  if (!max) acc = acc / A(pool_divisor<I>(g, o));
  return acc;
}

// The outputs along dim d whose windows may read input position p: [first, end).
template <typename I>
GEMS_HOST_DEVICE inline void pool_readers(const PoolGeometry& g, int d, I p, I& first, I& end) {
  const I in = I(g.in[d]), out = I(g.out[d]);
  if (g.kind == kPoolAdaptiveMax) {
    first = p * out / in;
    end = ((p + 1) * out + in - 1) / in;
  } else {
    const I reach = (I(g.window[d]) - 1) * I(g.dilation[d]) + 1, pad = I(g.padding[d]), stride = I(g.stride[d]);
    first = p + pad < reach ? 0 : (p + pad - reach) / stride + 1;
    end = (p + pad) / stride + 1;
  }
  if (end > out) end = out;
}

// Input-gradient element (n, c, p): the sum, in A, of the output gradients
// of the windows that took it (max kinds: whose index names it; average:
// each window's share). grad(offset) reads the output gradient as an A,
// index(offset) the indices.
template <typename A, typename I, typename Grad, typename Index>
GEMS_HOST_DEVICE inline A pool_backward_at(const PoolGeometry& g, I n, I c, const I* p, Grad grad, Index index) {
  I first[3], end[3], y[5], z[5];
  for (int d = 0; d < 3; ++d) pool_readers<I>(g, d, p[d], first[d], end[d]);
  for (int k = 0; k < 5; ++k) {
    y[k] = I(g.y[k]);
    z[k] = I(g.z[k]);
  }
  const bool max = pool_is_max(g);
  const I flat = (p[0] * I(g.in[1]) + p[1]) * I(g.in[2]) + p[2];
  const I y_base = n * y[0] + c * y[1], z_base = n * z[0] + c * z[1];
  A acc = A(0);
  I o[3];
  for (o[0] = first[0]; o[0] < end[0]; ++o[0])
    for (o[1] = first[1]; o[1] < end[1]; ++o[1])
      for (o[2] = first[2]; o[2] < end[2]; ++o[2]) {
        const I at = y_base + o[0] * y[2] + o[1] * y[3] + o[2] * y[4];
        if (max) {
          if (index(z_base + o[0] * z[2] + o[1] * z[3] + o[2] * z[4]) == flat) acc += grad(at);
        } else {
          acc += grad(at) / A(pool_divisor<I>(g, o));
        }
      }
  return acc;
}

}  // namespace gems
