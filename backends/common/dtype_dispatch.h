// gems_dtype codes to C++ types, shared by every vendor: each vendor names its
// own 16-bit float types (host structs on cpu, __half/__nv_bfloat16 on CUDA).
#pragma once
#include <cstdint>
#include <utility>

#include "../abi/gems_vendor_abi.h"

namespace gems {

template <typename T>
struct type_tag {
  using type = T;
};

inline int64_t element_size(int32_t dtype) {
  switch (dtype) {
    case GEMS_BOOL: case GEMS_UINT8: case GEMS_INT8: return 1;
    case GEMS_INT16: case GEMS_FLOAT16: case GEMS_BFLOAT16: return 2;
    case GEMS_INT32: case GEMS_FLOAT32: return 4;
    default: return 8;
  }
}

// Calls f(type_tag<T>{}) for the C++ type of dtype. Only the dtypes in the
// compile-time MASK are instantiated; others return false, so callers can
// report GEMS_UNSUPPORTED.
template <uint32_t MASK, typename Half, typename BFloat16, typename F>
bool dispatch_dtype_as(int32_t dtype, F&& f) {
#define GEMS_CASE(D, T)                                      \
  case D:                                                    \
    if constexpr ((MASK & GEMS_DTYPE_BIT(D)) != 0) {         \
      f(type_tag<T>{});                                      \
      return true;                                           \
    } else {                                                 \
      return false;                                          \
    }
  switch (dtype) {
    GEMS_CASE(GEMS_BOOL, bool)
    GEMS_CASE(GEMS_UINT8, uint8_t)
    GEMS_CASE(GEMS_INT8, int8_t)
    GEMS_CASE(GEMS_INT16, int16_t)
    GEMS_CASE(GEMS_INT32, int32_t)
    GEMS_CASE(GEMS_INT64, int64_t)
    GEMS_CASE(GEMS_FLOAT16, Half)
    GEMS_CASE(GEMS_BFLOAT16, BFloat16)
    GEMS_CASE(GEMS_FLOAT32, float)
    GEMS_CASE(GEMS_FLOAT64, double)
    default: return false;
  }
#undef GEMS_CASE
}

}  // namespace gems
