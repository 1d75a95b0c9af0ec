// The few pieces of the C++ standard library that the shared math of
// backends/common uses. Host code (cpu) and CUDA/HIP code (nvidia, amd) get
// the real <cmath> and <type_traits>; C++ for OpenCL (intel), which has no
// standard library, gets these stand-ins over OpenCL's built-in functions.
#pragma once
#if defined(__OPENCL_CPP_VERSION__)
typedef ulong uint64_t;
typedef long int64_t;
typedef uint uint32_t;
typedef int int32_t;
typedef uchar uint8_t;
namespace std {
using ::copysign;
using ::floor;
using ::fmod;
using ::pow;
using ::sqrt;

template <typename A, typename B> inline constexpr bool is_same_v = false;
template <typename A> inline constexpr bool is_same_v<A, A> = true;
template <typename T> inline constexpr bool is_floating_point_v =
    is_same_v<T, float> || is_same_v<T, double> || is_same_v<T, half>;
template <bool B, typename T, typename F> struct conditional { typedef T type; };
template <typename T, typename F> struct conditional<false, T, F> { typedef F type; };
template <bool B, typename T, typename F> using conditional_t = typename conditional<B, T, F>::type;
template <typename T> inline constexpr bool is_signed_v =
    is_floating_point_v<T> || is_same_v<T, char> || is_same_v<T, short> || is_same_v<T, int> || is_same_v<T, long>;
}  // namespace std
#else
#include <cmath>
#include <cstdint>
#include <type_traits>
#endif
