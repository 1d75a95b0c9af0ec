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

// Element i of [N, C, sizes...] in memory order (channels fastest when
// channels_last): its batch, channel and spatial coordinates.
GEMS_HOST_DEVICE inline void pool_coords(const PoolGeometry& g, const int64_t* sizes, int64_t i, int64_t& n,
                                         int64_t& c, int64_t* at) {
  if (g.channels_last) {
    c = i % g.C;
    i /= g.C;
  }
  at[2] = i % sizes[2];
  i /= sizes[2];
  at[1] = i % sizes[1];
  i /= sizes[1];
  at[0] = i % sizes[0];
  i /= sizes[0];
  if (!g.channels_last) {
    c = i % g.C;
    i /= g.C;
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
GEMS_HOST_DEVICE inline void pool_window(const PoolGeometry& g, int d, int64_t o, int64_t& lo, int64_t& hi,
                                         int64_t& step) {
  if (g.kind == kPoolAdaptiveMax) {
    lo = o * g.in[d] / g.out[d];
    hi = ((o + 1) * g.in[d] + g.out[d] - 1) / g.out[d];
    step = 1;
  } else {
    lo = o * g.stride[d] - g.padding[d];
    hi = lo + (g.window[d] - 1) * g.dilation[d] + 1;
    step = g.dilation[d];
  }
}

// The first tap at or after lo that lies in [0, size).
GEMS_HOST_DEVICE inline int64_t pool_first_inside(int64_t lo, int64_t step) {
  return lo >= 0 ? lo : lo + (-lo + step - 1) / step * step;
}

// An average's divisor for output o.
GEMS_HOST_DEVICE inline int64_t pool_divisor(const PoolGeometry& g, const int64_t* o) {
  if (g.divisor) return g.divisor;
  int64_t size = 1;
  for (int d = 0; d < 3; ++d) {
    const int64_t lo = o[d] * g.stride[d] - g.padding[d];
    const int64_t hi = lo + g.window[d] < g.in[d] + g.padding[d] ? lo + g.window[d] : g.in[d] + g.padding[d];
    size *= g.count_include_pad ? hi - lo : (hi < g.in[d] ? hi : g.in[d]) - (lo > 0 ? lo : 0);
  }
  return size;
}

// Output element (n, c, o): its value, in the compute type A, and for the
// max kinds the flat spatial index of the input element it came from.
// load(offset) reads the input at an element offset, as an A.
template <typename A, typename Load>
GEMS_HOST_DEVICE inline A pool_forward_at(const PoolGeometry& g, int64_t n, int64_t c, const int64_t* o, Load load,
                                          int64_t& index) {
  int64_t lo[3], hi[3], step[3];
  for (int d = 0; d < 3; ++d) {
    pool_window(g, d, o[d], lo[d], hi[d], step[d]);
    lo[d] = pool_first_inside(lo[d], step[d]);
    if (hi[d] > g.in[d]) hi[d] = g.in[d];
  }
  const int64_t base = n * g.x[0] + c * g.x[1];
  const bool max = pool_is_max(g);
  A acc = A(0);
  index = (lo[0] * g.in[1] + lo[1]) * g.in[2] + lo[2];
  bool first = true;
  for (int64_t p0 = lo[0]; p0 < hi[0]; p0 += step[0])
    for (int64_t p1 = lo[1]; p1 < hi[1]; p1 += step[1])
      for (int64_t p2 = lo[2]; p2 < hi[2]; p2 += step[2]) {
        const A v = load(base + p0 * g.x[2] + p1 * g.x[3] + p2 * g.x[4]);
        if (!max) {
          acc += v;
        } else if (first || v > acc || v != v) {  // v != v: NaN, which always wins
          acc = v;
          index = (p0 * g.in[1] + p1) * g.in[2] + p2;
          first = false;
        }
      }
  if (!max) acc = acc / A(pool_divisor(g, o));
  return acc;
}

// The outputs along dim d whose windows may read input position p: [first, end).
GEMS_HOST_DEVICE inline void pool_readers(const PoolGeometry& g, int d, int64_t p, int64_t& first, int64_t& end) {
  if (g.kind == kPoolAdaptiveMax) {
    first = p * g.out[d] / g.in[d];
    end = ((p + 1) * g.out[d] + g.in[d] - 1) / g.in[d];
  } else {
    const int64_t reach = (g.window[d] - 1) * g.dilation[d] + 1;
    first = p + g.padding[d] < reach ? 0 : (p + g.padding[d] - reach) / g.stride[d] + 1;
    end = (p + g.padding[d]) / g.stride[d] + 1;
  }
  if (end > g.out[d]) end = g.out[d];
}

// Input-gradient element (n, c, p): the sum, in A, of the output gradients
// of the windows that took it (max kinds: whose index names it; average:
// each window's share). grad(offset) reads the output gradient as an A,
// index(offset) the indices.
template <typename A, typename Grad, typename Index>
GEMS_HOST_DEVICE inline A pool_backward_at(const PoolGeometry& g, int64_t n, int64_t c, const int64_t* p, Grad grad,
                                           Index index) {
  int64_t first[3], end[3];
  for (int d = 0; d < 3; ++d) pool_readers(g, d, p[d], first[d], end[d]);
  const bool max = pool_is_max(g);
  const int64_t flat = (p[0] * g.in[1] + p[1]) * g.in[2] + p[2];
  A acc = A(0);
  int64_t o[3];
  for (o[0] = first[0]; o[0] < end[0]; ++o[0])
    for (o[1] = first[1]; o[1] < end[1]; ++o[1])
      for (o[2] = first[2]; o[2] < end[2]; ++o[2]) {
        const int64_t at = o[0] * g.y[2] + o[1] * g.y[3] + o[2] * g.y[4];
        if (max) {
          if (index(n * g.z[0] + c * g.z[1] + o[0] * g.z[2] + o[1] * g.z[3] + o[2] * g.z[4]) == flat)
            acc += grad(n * g.y[0] + c * g.y[1] + at);
        } else {
          acc += grad(n * g.y[0] + c * g.y[1] + at) / A(pool_divisor(g, o));
        }
      }
  return acc;
}

}  // namespace gems
