// A small persistent thread pool for the cpu vendor's kernels.
// Work below the grain size runs inline on the calling thread, so tiny ops pay
// nothing for threading; nested calls run serially.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace gems::cpu {

// The least work (elements visited, or multiply-adds) worth a task of its
// own (PyTorch's CPU grain is the same). The pool's workers spin briefly
// before sleeping, so handing them work is cheap: a 262144-element add took
// 98 us when each region woke a sleeping worker, 17 us now (torch CPU 17).
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
