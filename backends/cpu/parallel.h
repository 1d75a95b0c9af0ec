// A small persistent thread pool for the cpu vendor's kernels.
// Work below the grain size runs inline on the calling thread, so tiny ops pay
// nothing for threading; nested calls run serially.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace gems::cpu {

// The least work (elements visited, or multiply-adds) worth a task of its
// own. Measured on the 2-core CI-class host: below this, handing work to the
// pool costs more than it saves (a decode step's attention, 8 rows of 256
// keys: 51 us split, 27 us whole; at 32768 a 4M-element add took 1.74 ms,
// the same as one thread, and 0.95 ms at this grain).
constexpr int64_t kTaskWork = 262144;

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
