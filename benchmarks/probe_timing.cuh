// Timing for the standalone probes (probe_*.cu): bench_ops' method in C++.
// Before each run a 256 MB write (the flush, which leaves the L2 full of lines
// not yet written back) and then before(); the run is timed by CUDA events;
// the median of 50 runs after 10 warm-up runs, in microseconds.
#pragma once
#include <algorithm>
#include <vector>

template <typename F, typename Before>
float median_us_after_flush(F run, void* flush, size_t flush_bytes, Before before) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> t;
  for (int i = 0; i < 60; ++i) {
    cudaMemsetAsync(flush, i & 1, flush_bytes);
    before();
    cudaEventRecord(a);
    run();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms;
    cudaEventElapsedTime(&ms, a, b);
    if (i >= 10) t.push_back(ms * 1000);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <typename F>
float median_us_after_flush(F run, void* flush, size_t flush_bytes) {
  return median_us_after_flush(run, flush, flush_bytes, [] {});
}
