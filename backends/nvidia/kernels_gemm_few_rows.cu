// Products with few rows, as a decode step's linear layers run them (1 to 8
// tokens against an nn.Linear weight): out[M, N] (+)= alpha x[M, K] w[N, K]^T
// in half or bf16, w read with unit stride along K. Such a product is bound by
// reading the weight once; here every byte of w is loaded 16 bytes at a time
// by many warps at once, as streaming loads (load_once) when the weight is at
// most a few times the L2, and multiplied on the tensor cores. H100, one
// token, Llama-3-8B's projections: 1.03-1.13x cuBLASLt (as torch calls it).
//
// The tile: a warp computes 16 output features (the MMA's A rows, w's rows)
// for up to 8 tokens (B's columns) over its share of K; the block's 16 warps
// split K and add their tiles in shared memory. The dot products don't depend
// on the order of k, so each 32-wide step of k is assigned to the MMA's k
// slots in a permuted order under which every lane's operands are 8
// consecutive elements of one row of w or x: one 16-byte load each, no
// shuffles, no shared-memory staging. (Lane 4g + t holds A and B slots 2t,
// 2t+1 and 2t+8, 2t+9 of both MMAs of a step; in MMA h of the step they stand
// for k = 8t + 4h + {0, 1} and 8t + 4h + {2, 3}.)
//
// Measured on the way (H100, bf16, one token): 8 warps a block with 4 or 8
// steps in flight 0.75-0.92x cuBLASLt, 4 warps with 8 steps 0.69-0.84x, 16
// warps with 4 steps 0.80-1.00x; 9 to 16 tokens (two MMA tiles) 0.79-0.96x, so
// those stay with cuBLASLt.
#include <algorithm>

#include "elementwise.cuh"
#include "kernels.h"
#include "mma.cuh"

namespace gems::nvidia {
namespace {

constexpr int kFewRowsWarps = 16;  // warps of a block, each a share of K
constexpr int kStepsInFlight = 2;  // 32-wide steps of k a warp loads before it multiplies
constexpr int kMaxTokens = 8;      // one MMA tile of tokens

// An empty instruction that reads and writes v: v's load has completed by here.
__device__ __forceinline__ void issued(uint4& v) { asm volatile("" : "+r"(v.x), "+r"(v.y), "+r"(v.z), "+r"(v.w)); }

__device__ __forceinline__ uint32_t word(const uint4& v, int i) { return reinterpret_cast<const uint32_t*>(&v)[i]; }

template <typename T, bool kStream>
__global__ void __launch_bounds__(kFewRowsWarps * 32)
    gemm_few_rows(const T* __restrict__ x, int64_t xs, const T* __restrict__ w, int64_t ws, T* __restrict__ out,
                  int64_t os, int M, int64_t N, int64_t K, float alpha, bool accumulate) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int64_t n0 = int64_t{blockIdx.x} * 16;
  // Features past N and tokens past M read a valid row and are never written.
  const T* w_lo = w + std::min(n0 + g, N - 1) * ws + t * 8;
  const T* w_hi = w + std::min(n0 + g + 8, N - 1) * ws + t * 8;
  const bool has_token = g < M;
  const T* x_row = x + (has_token ? g : 0) * xs + t * 8;
  const int64_t steps = (K + 31) / 32, per_warp = (steps + kFewRowsWarps - 1) / kFewRowsWarps;
  const int64_t first = warp * per_warp, last = std::min(steps, first + per_warp);
  float c[4] = {};
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int64_t s0 = first; s0 < last; s0 += kStepsInFlight) {
    uint4 a_lo[kStepsInFlight], a_hi[kStepsInFlight], b[kStepsInFlight];
#pragma unroll
    for (int u = 0; u < kStepsInFlight; ++u) {
      const int64_t k = (s0 + u) * 32;
      const bool in = s0 + u < last && k + t * 8 < K;  // K % 8 == 0: a lane's 8 are all in or all out
      // branch-free: a step past the end loads the range's first vectors again and zeroes them
      const int64_t at = in ? k : 0;
      const auto* lo = reinterpret_cast<const uint4*>(w_lo + at);
      const auto* hi = reinterpret_cast<const uint4*>(w_hi + at);
      a_lo[u] = kStream ? load_once(lo) : *lo;
      a_hi[u] = kStream ? load_once(hi) : *hi;
      b[u] = *reinterpret_cast<const uint4*>(x_row + at);
      if (!in) a_lo[u] = a_hi[u] = zero;
      if (!in || !has_token) b[u] = zero;
    }
    // The batch's loads are all issued before its first MMA (the compiler
    // otherwise moved each load down to its MMA: one load in flight a warp).
#pragma unroll
    for (int u = 0; u < kStepsInFlight; ++u) {
      issued(a_lo[u]);
      issued(a_hi[u]);
      issued(b[u]);
    }
#pragma unroll
    for (int u = 0; u < kStepsInFlight; ++u)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint32_t a[4] = {word(a_lo[u], 2 * h), word(a_hi[u], 2 * h), word(a_lo[u], 2 * h + 1),
                               word(a_hi[u], 2 * h + 1)};
        mma_16816<T>(c, a, word(b[u], 2 * h), word(b[u], 2 * h + 1));
      }
  }
  // The warps' tiles are added in warp order (the same sum on every run).
  __shared__ float partial[kFewRowsWarps][4][32];
#pragma unroll
  for (int i = 0; i < 4; ++i) partial[warp][i][lane] = c[i];
  __syncthreads();
  if (warp != 0) return;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float sum = 0;
#pragma unroll
    for (int v = 0; v < kFewRowsWarps; ++v) sum += partial[v][i][lane];
    // c[i]: feature n0 + g (+ 8 for i >= 2), token 2t + (i & 1)
    const int64_t n = n0 + g + (i >= 2 ? 8 : 0);
    const int token = 2 * t + (i & 1);
    if (n >= N || token >= M) continue;
    T& o = out[token * os + n];
    o = store_as<T>(alpha * sum + (accumulate ? load_as<float>(o) : 0.0f));
  }
}

bool aligned16(const gems_tensor& d) { return reinterpret_cast<uintptr_t>(base_ptr(d)) % 16 == 0; }

template <typename T>
void launch_few_rows(const gems_tensor& out, const gems_tensor& a, const gems_tensor& b, float alpha, bool accumulate,
                     cudaStream_t stream) {
  const int M = static_cast<int>(out.sizes[1]);
  const int64_t N = out.sizes[2], K = a.sizes[2];
  const T* x = reinterpret_cast<const T*>(base_ptr(a));
  const T* w = reinterpret_cast<const T*>(base_ptr(b));
  T* o = reinterpret_cast<T*>(base_ptr(out));
  const dim3 grid(static_cast<unsigned>((N + 15) / 16)), block(kFewRowsWarps * 32);
  if (streams_reads(N * K * static_cast<int64_t>(sizeof(T))))
    gemm_few_rows<T, true><<<grid, block, 0, stream>>>(x, a.strides[1], w, b.strides[2], o, out.strides[1], M, N, K,
                                                        alpha, accumulate);
  else
    gemm_few_rows<T, false><<<grid, block, 0, stream>>>(x, a.strides[1], w, b.strides[2], o, out.strides[1], M, N, K,
                                                         alpha, accumulate);
}

}  // namespace

bool gemm_few_rows_serves(const gems_tensor& out, const gems_tensor& a, const gems_tensor& b) {
  if (out.dtype != GEMS_BFLOAT16 && out.dtype != GEMS_FLOAT16) return false;
  const int64_t batch = out.sizes[0], M = out.sizes[1], N = out.sizes[2], K = a.sizes[2];
  if (batch != 1 || M < 1 || M > kMaxTokens || N < 1 || K < 8 || K % 8 != 0) return false;
  // x's rows and w's rows (b = w^T: unit stride along K) dense and 16-byte aligned
  const bool x_rows = a.strides[2] == 1 && (M == 1 || a.strides[1] % 8 == 0) && aligned16(a);
  const bool w_rows = b.strides[1] == 1 && (N == 1 || b.strides[2] % 8 == 0) && aligned16(b);
  return x_rows && w_rows && out.strides[2] == 1;
}

void gemm_few_rows(const gems_tensor& out, const gems_tensor& a, const gems_tensor& b, double alpha, bool accumulate,
                   cudaStream_t stream) {
  if (out.dtype == GEMS_BFLOAT16) launch_few_rows<bf16>(out, a, b, static_cast<float>(alpha), accumulate, stream);
  else launch_few_rows<half>(out, a, b, static_cast<float>(alpha), accumulate, stream);
}

}  // namespace gems::nvidia
