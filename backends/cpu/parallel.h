// A small persistent thread pool for the cpu vendor's kernels.
// Work below the grain size runs inline on the calling thread, so tiny ops pay
// nothing for threading; nested calls run serially.
#pragma once
#include <cstdint>
#include <functional>

namespace gems::cpu {

void set_num_threads(int n);
int num_threads();

// Runs fn(begin, end) over disjoint chunks covering [begin, end).
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

}  // namespace gems::cpu
