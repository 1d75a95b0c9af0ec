// Maps gems_dtype values to C++ types and dispatches a generic lambda on them.
#pragma once
#include <cstdint>
#include <type_traits>

#include "../abi/gems_vendor_abi.h"
#include "../common/gems_half.h"

namespace gems::cpu {

// The type arithmetic happens in: float for 16-bit floats, the type itself
// otherwise (sums of integers widen to int64 in the core before they get here).
template <typename T> struct acc { using type = T; };
template <> struct acc<float16> { using type = float; };
template <> struct acc<bfloat16> { using type = float; };
template <typename T> using acc_t = typename acc<T>::type;

template <typename T> constexpr bool is_floating_v =
    std::is_floating_point_v<T> || std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

inline int64_t element_size(int32_t dtype) {
  switch (dtype) {
    case GEMS_BOOL: case GEMS_UINT8: case GEMS_INT8: return 1;
    case GEMS_INT16: case GEMS_FLOAT16: case GEMS_BFLOAT16: return 2;
    case GEMS_INT32: case GEMS_FLOAT32: return 4;
    default: return 8;
  }
}

template <typename T> struct type_tag { using type = T; };

// Calls f(type_tag<T>{}) for the C++ type of dtype. Only the dtypes in the
// compile-time MASK are instantiated; others return false, so callers can
// report GEMS_UNSUPPORTED.
template <uint32_t MASK, typename F>
bool dispatch_dtype(int32_t dtype, F&& f) {
#define GEMS_CASE(D, T) \
  case D: if constexpr ((MASK & GEMS_DTYPE_BIT(D)) != 0) { f(type_tag<T>{}); return true; } else { return false; }
  switch (dtype) {
    GEMS_CASE(GEMS_BOOL, bool)
    GEMS_CASE(GEMS_UINT8, uint8_t)
    GEMS_CASE(GEMS_INT8, int8_t)
    GEMS_CASE(GEMS_INT16, int16_t)
    GEMS_CASE(GEMS_INT32, int32_t)
    GEMS_CASE(GEMS_INT64, int64_t)
    GEMS_CASE(GEMS_FLOAT16, float16)
    GEMS_CASE(GEMS_BFLOAT16, bfloat16)
    GEMS_CASE(GEMS_FLOAT32, float)
    GEMS_CASE(GEMS_FLOAT64, double)
    default: return false;
  }
#undef GEMS_CASE
}

// Converts between any two element types the way PyTorch's casts do:
// through the source's compute type, with "!= 0" for bool.
template <typename O, typename I>
inline O convert(I x) {
  using A = acc_t<I>;
  if constexpr (std::is_same_v<O, bool>) {
    return static_cast<A>(x) != A(0);
  } else if constexpr (std::is_same_v<O, float16> || std::is_same_v<O, bfloat16>) {
    return O(static_cast<float>(static_cast<A>(x)));
  } else {
    return static_cast<O>(static_cast<A>(x));
  }
}

}  // namespace gems::cpu
