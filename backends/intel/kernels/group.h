// Work-group reductions shared by the row kernels (reduce.clcpp, loss.clcpp):
// GI_GROUP work-items combine through local memory.
#pragma once
#include "device.h"

#define GI_GROUP 64

// The type a reduction accumulates in: float for 16-bit floats and float,
// double for double, int64 for integers.
template <typename S> struct accum { typedef long type; };
template <> struct accum<half> { typedef float type; };
template <> struct accum<bf16> { typedef float type; };
template <> struct accum<float> { typedef float type; };
template <> struct accum<double> { typedef double type; };

// Sum of v over the work-group (every work-item gets it).
template <typename A> A group_sum(A v, local A* scratch) {
  const int t = get_local_id(0);
  scratch[t] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = GI_GROUP / 2; s > 0; s >>= 1) {
    if (t < s) scratch[t] += scratch[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const A r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}
template <typename A> A group_max(A v, local A* scratch) {
  const int t = get_local_id(0);
  scratch[t] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = GI_GROUP / 2; s > 0; s >>= 1) {
    if (t < s) {
      const A o = scratch[t + s];
      if (o > scratch[t] || o != o) scratch[t] = o;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const A r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

