// Maps gems_dtype values to C++ types and dispatches a generic lambda on them.
#pragma once
#include <cstdint>
#include <type_traits>

#include "../abi/gems_vendor_abi.h"
#include "../common/dtype_dispatch.h"
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

// Dispatch onto the cpu vendor's C++ types (backends/common/dtype_dispatch.h).
template <uint32_t MASK, typename F>
bool dispatch_dtype(int32_t dtype, F&& f) {
  return dispatch_dtype_as<MASK, float16, bfloat16>(dtype, std::forward<F>(f));
}

// Converts between any two element types the way PyTorch's casts do:
// through the source's compute type, with "!= 0" for bool; a type to itself
// is a plain copy of the bits (a bf16 copy or cat had gone through float and
// back, element by element: 0.43x torch CPU).
template <typename O, typename I>
inline O convert(I x) {
  using A = acc_t<I>;
  if constexpr (std::is_same_v<O, I>) {
    return x;
  } else if constexpr (std::is_same_v<O, bool>) {
    return static_cast<A>(x) != A(0);
  } else if constexpr (std::is_same_v<O, float16> || std::is_same_v<O, bfloat16>) {
    return O(static_cast<float>(static_cast<A>(x)));
  } else {
    return static_cast<O>(static_cast<A>(x));
  }
}

}  // namespace gems::cpu
