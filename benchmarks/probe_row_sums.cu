// How far the targets table's sum(dim=-1) row (bf16 4096x4096, 32 MB read
// once) is from what a read of 32 MB can take after bench_ops' flush: the
// launch alone, the row kernel's shapes (threads a row, vectors a thread,
// rows a block), streaming or ordinary loads, and the same read with the
// flush's dirty lines cleaned out of the L2 first. CUDA events, median of 50.
// Standalone; on the GPU machine:
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a \
//     benchmarks/probe_row_sums.cu -o /tmp/probe && /tmp/probe
#include <cstdio>
#include <cstdint>
#include <vector>
#include <algorithm>

#include "probe_timing.cuh"

__device__ __forceinline__ float sum8(uint4 v) {
  auto two = [](uint32_t w) { return __uint_as_float(w << 16) + __uint_as_float(w & 0xffff0000u); };
  return two(v.x) + two(v.y) + two(v.z) + two(v.w);
}

// R rows a block, each row by blockDim.x / R threads holding U vectors each
// (a 4096-wide bf16 row is 512 vectors).
template <int R, int U, bool kStream>
__global__ void row_sums(const uint4* in, float* out, int rows, int row_vecs) {
  const int tpr = blockDim.x / R;
  const int sub = threadIdx.x / tpr, t = threadIdx.x % tpr;
  const int row = blockIdx.x * R + sub;
  float s = 0;
  if (row < rows) {
    const uint4* p = in + int64_t{row} * row_vecs;
    for (int v0 = t; v0 < row_vecs; v0 += tpr * U) {
      uint4 x[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int v = v0 + u * tpr;
        x[u] = v < row_vecs ? (kStream ? __ldcs(p + v) : p[v]) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) s += sum8(x[u]);
    }
  }
  for (int d = 16; d; d >>= 1) s += __shfl_xor_sync(~0u, s, d);
  __shared__ float part[32];
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
  __syncthreads();
  const int wpr = tpr / 32;  // warps a row
  if (t == 0 && row < rows) {
    float r = 0;
    for (int w = 0; w < wpr; ++w) r += part[sub * wpr + w];
    out[row] = r;
  }
}

// Warp-per-row, persistent: a grid of G blocks an SM walks the rows.
template <int U>
__global__ void row_sums_persistent(const uint4* in, float* out, int rows, int row_vecs) {
  const int lane = threadIdx.x & 31;
  const int warps = gridDim.x * (blockDim.x / 32);
  for (int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; row < rows; row += warps) {
    const uint4* p = in + int64_t{row} * row_vecs;
    float s = 0;
    for (int v0 = lane; v0 < row_vecs; v0 += 32 * U) {
      uint4 x[U];
#pragma unroll
      for (int u = 0; u < U; ++u) x[u] = __ldcs(p + v0 + u * 32);
#pragma unroll
      for (int u = 0; u < U; ++u) s += sum8(x[u]);
    }
    for (int d = 16; d; d >>= 1) s += __shfl_xor_sync(~0u, s, d);
    if (lane == 0) out[row] = s;
  }
}

__global__ void empty() {}

int main() {
  const size_t fbytes = 256 << 20;
  void* flush;
  cudaMalloc(&flush, fbytes);
  uint4 *x, *other;
  float *out, *sink;
  cudaMalloc(&sink, 4 * 65536);
  cudaMalloc(&x, 32 << 20);
  cudaMalloc(&other, 256 << 20);
  cudaMalloc(&out, 4 * 4096);
  cudaMemset(x, 0, 32 << 20);
  cudaMemset(other, 0, 256 << 20);
  int sms;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  const int rows = 4096, rv = 512;
  auto clean = [&] { row_sums<1, 4, false><<<65536, 128>>>(other, sink, 65536, 512); };  // 256 MB read: L2 left clean
  auto report = [&](const char* what, float t) { printf("%-44s %6.1f us  %5.0f GB/s\n", what, t, 33.554432 / t * 1e3); };
  report("empty kernel", median_us_after_flush([&] { empty<<<1, 32>>>(); }, flush, fbytes));
  report("1 row a block, 128 thr, 4 vec, streaming", median_us_after_flush([&] { row_sums<1, 4, true><<<rows, 128>>>(x, out, rows, rv); }, flush, fbytes));
  report("  same, ordinary loads", median_us_after_flush([&] { row_sums<1, 4, false><<<rows, 128>>>(x, out, rows, rv); }, flush, fbytes));
  report("  same, streaming, L2 cleaned first", median_us_after_flush([&] { row_sums<1, 4, true><<<rows, 128>>>(x, out, rows, rv); }, flush, fbytes, clean));
  report("  same, ordinary, L2 cleaned first", median_us_after_flush([&] { row_sums<1, 4, false><<<rows, 128>>>(x, out, rows, rv); }, flush, fbytes, clean));
  report("1 row a block, 64 thr, 8 vec", median_us_after_flush([&] { row_sums<1, 8, true><<<rows, 64>>>(x, out, rows, rv); }, flush, fbytes));
  report("1 row a block, 256 thr, 2 vec", median_us_after_flush([&] { row_sums<1, 2, true><<<rows, 256>>>(x, out, rows, rv); }, flush, fbytes));
  report("1 row a block, 512 thr, 1 vec", median_us_after_flush([&] { row_sums<1, 1, true><<<rows, 512>>>(x, out, rows, rv); }, flush, fbytes));
  report("2 rows a block, 256 thr, 4 vec", median_us_after_flush([&] { row_sums<2, 4, true><<<rows / 2, 256>>>(x, out, rows, rv); }, flush, fbytes));
  report("4 rows a block, 512 thr, 4 vec", median_us_after_flush([&] { row_sums<4, 4, true><<<rows / 4, 512>>>(x, out, rows, rv); }, flush, fbytes));
  report("4 rows a block, 128 thr, 16 vec", median_us_after_flush([&] { row_sums<4, 16, true><<<rows / 4, 128>>>(x, out, rows, rv); }, flush, fbytes));
  for (int g : {1, 2, 4, 8})
    for (int u : {4, 8}) {
      char name[64];
      snprintf(name, sizeof name, "persistent warp a row, %d blk/SM x 256, %d vec", g, u);
      report(name, median_us_after_flush([&] {
               if (u == 4) row_sums_persistent<4><<<sms * g, 256>>>(x, out, rows, rv);
               else row_sums_persistent<8><<<sms * g, 256>>>(x, out, rows, rv);
             }, flush, fbytes));
    }
  printf("%s\n", cudaGetErrorString(cudaDeviceSynchronize()));
}
