// The counter-based random numbers of every vendor: element i of a call draws
// from (seed, offset + i) alone, so results do not depend on threads or
// launch shapes, and a seed gives the same numbers on cpu and nvidia.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

// SplitMix64's finalizer.
GEMS_HOST_DEVICE inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * uint64_t{0xbf58476d1ce4e5b9u};
  z = (z ^ (z >> 27)) * uint64_t{0x94d049bb133111ebu};
  return z ^ (z >> 31);
}

// A uniform double in [0, 1) with 53 random bits.
GEMS_HOST_DEVICE inline double uniform01(uint64_t seed, uint64_t counter) {
  return static_cast<double>(mix(mix(seed) ^ (counter * uint64_t{0x9e3779b97f4a7c15u})) >> 11) * 0x1.0p-53;
}

// Dropout's draw: whether element `counter` is kept, with probability keep
// (always at keep = 1, never at 0).
GEMS_HOST_DEVICE inline bool dropout_keeps(uint64_t seed, uint64_t counter, double keep) {
  return uniform01(seed, counter) < keep;
}

}  // namespace gems
