// Order keys: an unsigned integer per element whose unsigned order is the
// order topk ranks elements by, so that selection can work on bits (radix
// select on CUDA, plain comparisons on cpu) and every vendor agrees on what
// "larger" means: NaN above +inf, as PyTorch's sort and topk rank it.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "host_device.h"

namespace gems {

// The unsigned integer as wide as T.
template <typename T>
using order_bits_t = std::conditional_t<
    sizeof(T) == 1, uint8_t,
    std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;

enum class OrderKind { Unsigned, Signed, Float };

// The key of an element from its bit pattern. Floats: negative values have all
// bits flipped and the others the sign bit set, so larger values give larger
// keys; every NaN maps to the largest key. `largest == false` flips the order
// (the k smallest are the k largest keys then), NaN becoming the smallest key.
// -0.0 and +0.0 share a key, as they compare equal.
template <OrderKind Kind, typename U>
GEMS_HOST_DEVICE inline U order_key(U bits, bool is_nan, bool largest) {
  constexpr U sign = static_cast<U>(U(1) << (8 * sizeof(U) - 1));
  U key = bits;
  if constexpr (Kind == OrderKind::Float) {
    if (bits == sign) bits = 0;  // -0.0 equals +0.0: one key, so equal zeros keep their order
    key = is_nan ? static_cast<U>(~U(0)) : (bits & sign) ? static_cast<U>(~bits) : static_cast<U>(bits | sign);
  }
  else if constexpr (Kind == OrderKind::Signed) key = static_cast<U>(bits ^ sign);
  return largest ? key : static_cast<U>(~key);
}

// The same from a value; `is_float` and `is_signed` describe T (the vendors'
// 16-bit float types are not std::is_floating_point), is_nan is computed by
// the caller in its compute type.
template <typename T, bool kFloat, bool kSigned>
GEMS_HOST_DEVICE inline order_bits_t<T> order_key_of(T v, bool is_nan, bool largest) {
  using U = order_bits_t<T>;
  U bits;
  __builtin_memcpy(&bits, &v, sizeof(T));  // (std::memcpy is host-only under HIP)
  constexpr OrderKind kind = kFloat ? OrderKind::Float : kSigned ? OrderKind::Signed : OrderKind::Unsigned;
  return order_key<kind, U>(bits, is_nan, largest);
}

}  // namespace gems
