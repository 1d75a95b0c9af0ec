// Where streaming loads (ld.global.cs) pay, for the nvidia reductions' rule
// (streams_reads() in backends/nvidia/elementwise.cuh): row sums of float
// rows shaped as fold_range folds them, with ordinary and with streaming
// loads, each timed by CUDA events after a 256 MB write (bench_ops' flush),
// median of 50. Standalone; on the GPU machine:
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a \
//     benchmarks/probe_streaming_reads.cu -o /tmp/probe && /tmp/probe
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cstdint>

#include "probe_timing.cuh"

template <int L>
__global__ void fold(const float* in, float* out, int64_t cols) {
  const float4* p = reinterpret_cast<const float4*>(in + blockIdx.x * cols);
  const int64_t nv = cols / 4;
  float s = 0;
  for (int64_t v0 = threadIdx.x; v0 < nv; v0 += blockDim.x * 4) {
    float4 x[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) { const int64_t v = v0 + u * blockDim.x; if (v < nv) x[u] = L ? __ldcs(p + v) : p[v]; }
#pragma unroll
    for (int u = 0; u < 4; ++u) { const int64_t v = v0 + u * blockDim.x; if (v < nv) s += x[u].x + x[u].y + x[u].z + x[u].w; }
  }
  __shared__ float sh[32];
  for (int d = 16; d; d >>= 1) s += __shfl_xor_sync(~0u, s, d);
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) { float t = 0; for (int i = 0; i < blockDim.x / 32; ++i) t += sh[i]; out[blockIdx.x] = t; }
}
int main() {
  const size_t fbytes = 256 << 20; void* flush; cudaMalloc(&flush, fbytes);
  float *x, *o; cudaMalloc(&x, 4ull * 4096 * 32000); cudaMalloc(&o, 4 * 65536);
  cudaMemset(x, 0, 4ull * 4096 * 32000);
  for (int64_t rows : {4096, 1024}) for (int64_t cols : {1024, 2048, 4096, 8192, 16384, 32000}) {
    if (rows * cols > 4096LL * 32000) continue;
    int threads = (int)std::max<int64_t>(64, std::min<int64_t>(512, ((cols / 16) + 31) / 32 * 32));
    float t0 = median_us_after_flush([&] { fold<0><<<rows, threads>>>(x, o, cols); }, flush, fbytes);
    float t1 = median_us_after_flush([&] { fold<1><<<rows, threads>>>(x, o, cols); }, flush, fbytes);
    printf("rows %5lld cols %6lld (%6.1f MB) threads %3d: default %7.1f us  streaming %7.1f us  ratio %.3f\n",
           (long long)rows, (long long)cols, rows * cols * 4 / 1e6, threads, t0, t1, t0 / t1);
  }
  printf("%s\n", cudaGetErrorString(cudaDeviceSynchronize()));
}
