// Choosing among a library's candidate implementations of one call (cuBLASLt
// algorithms, cuDNN attention plans) by timing each once on the call's own
// operands, the first time a shape is seen. The choice is then cached by the
// caller for the life of the process. Host code only.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace gems::nvidia {

// GEMS_AUTOTUNE=1 turns timing on. Off by default, as PyTorch's own
// cudnn.benchmark and TunableOp are: the choice is timing-dependent, so two
// runs of one program may pick different algorithms, whose results differ in
// the last bits (a greedy decode may then part); the library's first choice is
// the same on every run.
inline bool autotune_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("GEMS_AUTOTUNE");
    return v && std::string(v) == "1";
  }();
  return on;
}

// Nothing may be timed (or synchronised) while the stream is captured into a graph.
inline bool stream_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(stream, &capture) != cudaSuccess || capture != cudaStreamCaptureStatusNone;
}

// Index of the fastest of n candidates, or -1 when none ran. `run(i)` enqueues
// candidate i on `stream` and says whether it launched; each runs once to warm
// up, then kTimedRuns times under CUDA events, and its median counts (the
// candidates of one call often differ by a few percent: one timing is noise).
constexpr int kTimedRuns = 5;
template <typename Run>
int fastest_of(int n, cudaStream_t stream, Run&& run) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  int best = -1;
  float best_ms = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (!run(i) || cudaStreamSynchronize(stream) != cudaSuccess) continue;
    float ms[kTimedRuns] = {};
    bool ok = true;
    for (float& t : ms) {
      cudaEventRecord(start, stream);
      ok = run(i) && ok;
      cudaEventRecord(stop, stream);
      ok = cudaEventSynchronize(stop) == cudaSuccess && ok;
      cudaEventElapsedTime(&t, start, stop);
    }
    std::sort(ms, ms + kTimedRuns);
    if (ok && (best < 0 || ms[kTimedRuns / 2] < best_ms)) { best = i; best_ms = ms[kTimedRuns / 2]; }
  }
  cudaGetLastError();  // a candidate that failed to launch must not fail the call
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

}  // namespace gems::nvidia
