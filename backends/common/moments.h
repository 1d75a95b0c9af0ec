// Count, mean and sum of squared deviations (M2) of a stream of values, in
// one read: Welford's update for each value and Chan's merge of two partial
// states, in any order (batch_norm's statistics on every vendor). The
// variance is m2 / count (biased) or m2 / (count - 1).
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

template <typename A>
struct Moments {
  A count, mean, m2;
};

template <typename A>
GEMS_HOST_DEVICE inline void moments_add(Moments<A>& m, A x) {
  m.count += A(1);
  const A d = x - m.mean;
  m.mean += d / m.count;
  m.m2 += d * (x - m.mean);
}

template <typename A>
GEMS_HOST_DEVICE inline Moments<A> moments_merge(const Moments<A>& a, const Moments<A>& b) {
  const A n = a.count + b.count;
  if (n == A(0)) return a;
  const A d = b.mean - a.mean, share = b.count / n;
  return Moments<A>{n, a.mean + d * share, a.m2 + b.m2 + d * d * a.count * share};
}

}  // namespace gems
