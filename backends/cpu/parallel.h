// A small persistent thread pool for the cpu vendor's kernels.
// Work below the grain size runs inline on the calling thread, so tiny ops pay
// nothing for threading; nested calls run serially.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace gems::cpu {

// The least work (elements visited, or multiply-adds) worth a task of its
// own: waking a pool thread costs about 10-20 us on a small host, about what
// this much work takes. (A decode step's attention, 8 rows of 64 keys, was
// split in four tasks at 4096 and took 25 us instead of 5.)
constexpr int64_t kTaskWork = 32768;

// The fewest items a task takes when each item costs work_per_item.
inline int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kTaskWork / std::max<int64_t>(1, work_per_item));
}

void set_num_threads(int n);
int num_threads();

// Runs fn(begin, end) over disjoint chunks covering [begin, end).
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

}  // namespace gems::cpu
