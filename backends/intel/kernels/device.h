// Device-side basics of the intel vendor's kernels (C++ for OpenCL, built to
// SPIR-V): element storage types, their compute types and conversions, and
// the walk from a linear index to each operand's element.
#pragma once
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#include "layout.h"

// Storage types that OpenCL spells like other types: bool is one byte
// (uchar), bfloat16 two (ushort); wrapped so that templates tell them apart.
struct bool8 { uchar v; };
struct bf16 { ushort v; };

// The type arithmetic happens in: float for 16-bit floats, int for bool.
template <typename S> struct compute { typedef S type; };
template <> struct compute<half> { typedef float type; };
template <> struct compute<bf16> { typedef float type; };
template <> struct compute<bool8> { typedef int type; };

inline float bf16_to_float(ushort b) { return as_float((uint)b << 16); }
inline ushort float_to_bf16(float f) {  // round to nearest even; NaN stays NaN
  uint u = as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return (ushort)(u >> 16);
}

template <typename S> inline typename compute<S>::type load(const global S* p) { return *p; }
template <> inline float load<half>(const global half* p) { return vload_half(0, p); }
template <> inline float load<bf16>(const global bf16* p) { return bf16_to_float(p->v); }
template <> inline int load<bool8>(const global bool8* p) { return p->v != 0; }

// Stores a value of any arithmetic type as S, as PyTorch casts: through "!= 0"
// for bool, rounding to nearest even for 16-bit floats.
template <typename S, typename V> inline void store(global S* p, V v) { *p = (S)v; }
template <typename V> inline void store(global half* p, V v) { vstore_half_rte((float)v, 0, p); }
template <typename V> inline void store(global bf16* p, V v) { p->v = float_to_bf16((float)v); }
template <typename V> inline void store(global bool8* p, V v) { p->v = (uchar)(v != (V)0); }

template <typename C> inline C scalar_as(gi_scalar s) { return (C)s.i64; }
template <> inline float scalar_as<float>(gi_scalar s) { return s.f32; }
template <> inline double scalar_as<double>(gi_scalar s) { return s.f64; }

// The element offset of linear index i in operand k.
inline gi_i64 offset_of(const gi_layout* L, int k, gi_i64 i) {
  if (L->contiguous) return L->offsets[k] + i;
  gi_i64 off = L->offsets[k];
  for (int d = L->ndim - 1; d >= 0; --d) {
    const gi_i64 s = L->sizes[d];
    off += (i % s) * L->strides[k][d];
    i /= s;
  }
  return off;
}

inline gi_i64 numel_of(const gi_layout* L) {
  gi_i64 n = 1;
  for (int d = 0; d < L->ndim; ++d) n *= L->sizes[d];
  return n;
}

// Records the first index-out-of-range a kernel finds (the core raises it at
// its next wait for the device).
inline void record_index_error(global gi_error_record* e, gi_i64 index, gi_i64 dim, gi_i64 size) {
  if (atomic_cmpxchg((volatile global int*)&e->reserved, 0, 1) == 0) {
    e->values[0] = index;
    e->values[1] = dim;
    e->values[2] = size;
    e->kind = 1;  // GEMS_KERNEL_ERROR_INDEX
  }
}

// Records the first out-of-range class target (nll_loss, cross_entropy).
inline void record_target_error(global gi_error_record* e, gi_i64 target) {
  if (atomic_cmpxchg((volatile global int*)&e->reserved, 0, 1) == 0) {
    e->values[0] = target;
    e->kind = 2;  // GEMS_KERNEL_ERROR_TARGET
  }
}

// Every storage type, with the suffix its kernels are named by: M(suffix, type).
#define GI_FOR_EACH_DTYPE(M) \
  M(b8, bool8) M(u8, uchar) M(i8, char) M(i16, short) M(i32, int) M(i64, long) \
  M(f16, half) M(bf16, bf16) M(f32, float) M(f64, double)
#define GI_FOR_EACH_NUMERIC(M) \
  M(u8, uchar) M(i8, char) M(i16, short) M(i32, int) M(i64, long) \
  M(f16, half) M(bf16, bf16) M(f32, float) M(f64, double)
#define GI_FOR_EACH_FLOATING(M) M(f16, half) M(bf16, bf16) M(f32, float) M(f64, double)
