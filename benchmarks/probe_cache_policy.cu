// Which L2 eviction policy pays for the memory-bound kernels' loads and stores
// after bench_ops' flush (a 256 MB write, which leaves the L2 full of lines
// not yet written back): copies, a bf16 add and a float unary op with
// ordinary, streaming (.cs) and evict-first-hinted accesses, and the grid's
// shape; then (chains()) the add followed by a kernel that reads its output,
// as a model's next layer does, to see what a store policy costs the reader.
// Each case timed by CUDA events, median of 50. Standalone; on the GPU
// machine (any argument: the chains only):
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a \
//     benchmarks/probe_cache_policy.cu -o /tmp/probe && /tmp/probe [chain]
#include <cstdio>
#include <cstdint>
#include <vector>
#include <algorithm>

#include "probe_timing.cuh"

// Load policies: 0 ordinary, 1 streaming (ld.global.cs), 2 L2 evict_first hint,
// 3 L1 no_allocate + L2 evict_first hint.
template <int P>
__device__ __forceinline__ uint4 load16(const uint4* p, uint64_t pol) {
  uint4 v;
  if constexpr (P == 0) v = *p;
  if constexpr (P == 1) v = __ldcs(p);
  if constexpr (P == 2)
    asm volatile("ld.global.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p), "l"(pol));
  if constexpr (P == 3)
    asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p), "l"(pol));
  return v;
}
// Store policies: 0 ordinary, 1 streaming (st.global.cs), 2 L2 evict_first hint,
// 3 L2 evict_last hint.
template <int P>
__device__ __forceinline__ void store16(uint4* p, uint4 v, uint64_t pol) {
  if constexpr (P == 0) *p = v;
  if constexpr (P == 1) __stcs(p, v);
  if constexpr (P == 2 || P == 3)
    asm volatile("st.global.L2::cache_hint.v4.u32 [%0], {%1,%2,%3,%4}, %5;"
                 :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w), "l"(pol) : "memory");
}

__device__ __forceinline__ uint32_t add_bf16x2(uint32_t a, uint32_t b) {
  const float lo = __uint_as_float(a << 16) + __uint_as_float(b << 16);
  const float hi = __uint_as_float(a & 0xffff0000u) + __uint_as_float(b & 0xffff0000u);
  return (__float_as_uint(lo) + 0x7fffu + ((__float_as_uint(lo) >> 16) & 1)) >> 16 |
         ((__float_as_uint(hi) + 0x7fffu + ((__float_as_uint(hi) >> 16) & 1)) & 0xffff0000u);
}

// Op 0: copy a; 1: bf16 a + b; 2: float exp(a).
template <int Op, int LP, int SP, int U>
__global__ void tile(int64_t nvec, uint4* out, const uint4* a, const uint4* b) {
  uint64_t lpol = 0, spol = 0;
  if constexpr (LP >= 2) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(lpol));
  if constexpr (SP == 2) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(spol));
  if constexpr (SP == 3) asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(spol));
  for (int64_t first = int64_t{blockIdx.x} * blockDim.x * U + threadIdx.x; first < nvec;
       first += int64_t{gridDim.x} * blockDim.x * U) {
    uint4 va[U], vb[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = first + int64_t{u} * blockDim.x;
      if (i < nvec) {
        va[u] = load16<LP>(a + i, lpol);
        if constexpr (Op == 1) vb[u] = load16<LP>(b + i, lpol);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = first + int64_t{u} * blockDim.x;
      if (i < nvec) {
        uint4 r = va[u];
        if constexpr (Op == 1) {
          r.x = add_bf16x2(va[u].x, vb[u].x); r.y = add_bf16x2(va[u].y, vb[u].y);
          r.z = add_bf16x2(va[u].z, vb[u].z); r.w = add_bf16x2(va[u].w, vb[u].w);
        }
        if constexpr (Op == 2) {
          r.x = __float_as_uint(expf(__uint_as_float(r.x))); r.y = __float_as_uint(expf(__uint_as_float(r.y)));
          r.z = __float_as_uint(expf(__uint_as_float(r.z))); r.w = __float_as_uint(expf(__uint_as_float(r.w)));
        }
        store16<SP>(out + i, r, spol);
      }
    }
  }
}

int sms;
uint4 *A, *B, *O;
void* flush;
const size_t fbytes = 256 << 20;

template <int Op, int LP, int SP, int U = 4>
float run(int64_t bytes, int threads = 256, int grid_cap = 0) {
  const int64_t nvec = bytes / 16;
  int64_t grid = (nvec + threads * U - 1) / (threads * U);
  if (grid_cap) grid = std::min<int64_t>(grid, int64_t{sms} * grid_cap);
  return median_us_after_flush([&] { tile<Op, LP, SP, U><<<grid, threads>>>(nvec, O, A, B); }, flush, fbytes);
}

template <int Op>
void policies(const char* name, int64_t bytes, double traffic) {
  const float base = run<Op, 0, 0>(bytes);
  printf("%-10s %6.1f MB traffic: ordinary %6.1f us (%4.0f GB/s)\n", name, traffic / 1e6, base, traffic / base / 1e3);
  auto row = [&](const char* what, float t) {
    printf("  %-34s %6.1f us  %4.0f GB/s  %.3fx\n", what, t, traffic / t / 1e3, base / t);
  };
  row("load .cs", run<Op, 1, 0>(bytes));
  row("load evict_first", run<Op, 2, 0>(bytes));
  row("load nc no_alloc evict_first", run<Op, 3, 0>(bytes));
  row("store .cs", run<Op, 0, 1>(bytes));
  row("store evict_first", run<Op, 0, 2>(bytes));
  row("store evict_last", run<Op, 0, 3>(bytes));
  row("load .cs + store .cs", run<Op, 1, 1>(bytes));
  row("load ef + store ef", run<Op, 2, 2>(bytes));
  row("load ef + store el", run<Op, 2, 3>(bytes));
  row("unroll 8", run<Op, 0, 0, 8>(bytes));
  row("unroll 2", run<Op, 0, 0, 2>(bytes));
  row("512 threads", run<Op, 0, 0>(bytes, 512));
  row("128 threads", run<Op, 0, 0>(bytes, 128));
  row("grid 8/SM, grid-stride", run<Op, 0, 0>(bytes, 256, 8));
  row("grid 4/SM, grid-stride", run<Op, 0, 0>(bytes, 256, 4));
  row("grid 8/SM + load .cs + store .cs", run<Op, 1, 1>(bytes, 256, 8));
}


// A consumer that reads the producer's output once (a row sum's loads, streamed
// as the reductions do), so that a producer's store policy is judged by what it
// costs the next kernel too: in a model an output is read right after.
__global__ void consume(int64_t nvec, const uint4* in, float* out) {
  float s = 0;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < nvec; i += int64_t{gridDim.x} * blockDim.x) {
    const uint4 v = __ldcs(in + i);
    s += __uint_as_float(v.x) + __uint_as_float(v.y) + __uint_as_float(v.z) + __uint_as_float(v.w);
  }
  if (s == 12345.f) out[0] = s;
}

float* sink;

template <int LP, int SP>
float chain(int64_t bytes, bool with_consumer) {
  const int64_t nvec = bytes / 16;
  const int64_t grid = (nvec + 1023) / 1024;
  return median_us_after_flush([&] {
    tile<1, LP, SP, 4><<<grid, 256>>>(nvec, O, A, B);
    if (with_consumer) consume<<<sms * 8, 256>>>(nvec, O, sink);
  }, flush, fbytes);
}

void chains() {
  for (int64_t mb : {4, 8, 16, 24, 32, 48}) {
    const int64_t bytes = mb << 20;
    const float p0 = chain<0, 0>(bytes, false), p1 = chain<1, 1>(bytes, false);
    const float c0 = chain<0, 0>(bytes, true), c1 = chain<1, 1>(bytes, true);
    printf("add bf16 out %2lld MB: alone ordinary %6.1f streaming %6.1f (%.3fx);"
           " add + read of its output: ordinary %6.1f streaming %6.1f (%.3fx)\n",
           (long long)mb, p0, p1, p0 / p1, c0, c1, c0 / c1);
  }
}

int main(int argc, char** argv) {
  const bool only_chains = argc > 1;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaMalloc(&flush, fbytes);
  const size_t big = 256ull << 20;
  cudaMalloc(&A, big);
  cudaMalloc(&B, big);
  cudaMalloc(&O, big);
  cudaMemset(A, 0, big);
  cudaMemset(B, 0, big);
  cudaMalloc(&sink, 4);
  if (only_chains) { chains(); return 0; }
  const int64_t mb32 = 4096LL * 4096 * 2;
  float tc = median_us_after_flush([&] { cudaMemcpyAsync(O, A, mb32, cudaMemcpyDeviceToDevice); }, flush, fbytes);
  printf("cudaMemcpy D2D 32 MB: %.1f us (%.0f GB/s)\n", tc, 2.0 * mb32 / tc / 1e3);
  policies<0>("copy 32MB", mb32, 2.0 * mb32);
  policies<0>("copy 64MB", 2 * mb32, 4.0 * mb32);
  policies<1>("add bf16 16M", mb32, 3.0 * mb32);
  policies<2>("exp f32 16M", 2 * mb32, 4.0 * mb32);
  policies<0>("copy 90MB", 4096LL * 11008 * 2, 2.0 * 4096 * 11008 * 2);
  chains();
  printf("%s\n", cudaGetErrorString(cudaDeviceSynchronize()));
}
