// A portable GEMM on no library: shared-memory tiles, each thread a 4x4 block
// of outputs, accumulated in the compute type (float for 16-bit and float
// inputs, double for double) and rounded once, as cuBLASLt and PyTorch's CPU
// path round. Any strides (transposed, broadcast batch, padded rows), any
// batch count. It is the amd vendor's gemm (HIP has no cuBLASLt; Debian 12
// packages no rocBLAS) and the nvidia vendor's where cuBLASLt is missing or
// GEMS_GEMM=tiled asks for it (so that this kernel is checked on NVIDIA cards).
// Correct first: no tensor cores / MFMA yet, so it runs well below them.
#include "cuda_common.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16;
constexpr int kThreadsM = 16, kThreadsN = 16;  // 256 threads, each 4x4 outputs
constexpr int kPerThread = 4;

struct GemmArgs {
  int64_t M, N, K, batches;
  int64_t a_batch, a_row, a_col;  // strides in elements
  int64_t b_batch, b_row, b_col;
  int64_t c_batch, c_row, c_col;
  int64_t o_batch, o_row, o_col;
  double alpha, beta;
};

template <typename T>
__global__ void __launch_bounds__(kThreadsM * kThreadsN)
    gemm_tiled_kernel(T* out, const T* a, const T* b, const T* c, GemmArgs g) {
  using A = acc_t<T>;
  __shared__ A as[kTileK][kTileM + 1];  // a tile, k-major (+1: no bank conflicts on the transposed store)
  __shared__ A bs[kTileK][kTileN + 1];
  const int tx = threadIdx.x % kThreadsN, ty = threadIdx.x / kThreadsN;
  const int64_t row0 = int64_t{blockIdx.y} * kTileM, col0 = int64_t{blockIdx.x} * kTileN;
  for (int64_t batch = blockIdx.z; batch < g.batches; batch += gridDim.z) {
    const T* pa = a + batch * g.a_batch;
    const T* pb = b + batch * g.b_batch;
    A acc[kPerThread][kPerThread] = {};
    for (int64_t k0 = 0; k0 < g.K; k0 += kTileK) {
      // 64x16 elements of a and 16x64 of b, 4 each per thread; zeros outside.
      for (int e = threadIdx.x; e < kTileM * kTileK; e += blockDim.x) {
        const int r = e / kTileK, k = e % kTileK;
        const int64_t gr = row0 + r, gk = k0 + k;
        as[k][r] = gr < g.M && gk < g.K ? load_as<A>(pa[gr * g.a_row + gk * g.a_col]) : A(0);
      }
      for (int e = threadIdx.x; e < kTileK * kTileN; e += blockDim.x) {
        const int k = e / kTileN, n = e % kTileN;
        const int64_t gk = k0 + k, gn = col0 + n;
        bs[k][n] = gk < g.K && gn < g.N ? load_as<A>(pb[gk * g.b_row + gn * g.b_col]) : A(0);
      }
      __syncthreads();
#pragma unroll
      for (int k = 0; k < kTileK; ++k) {
        A ra[kPerThread], rb[kPerThread];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) ra[i] = as[k][ty + i * kThreadsM];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) rb[j] = bs[k][tx + j * kThreadsN];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i)
#pragma unroll
          for (int j = 0; j < kPerThread; ++j) acc[i][j] += ra[i] * rb[j];
      }
      __syncthreads();
    }
    const A alpha = static_cast<A>(g.alpha), beta = static_cast<A>(g.beta);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int64_t r = row0 + ty + i * kThreadsM;
      if (r >= g.M) continue;
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) {
        const int64_t n = col0 + tx + j * kThreadsN;
        if (n >= g.N) continue;
        A v = alpha * acc[i][j];
        if (c) v += beta * load_as<A>(c[batch * g.c_batch + r * g.c_row + n * g.c_col]);
        out[batch * g.o_batch + r * g.o_row + n * g.o_col] = store_as<T>(v);
      }
    }
  }
}

}  // namespace

// gemm's operands and scalars as in backends/cpu/kernel_table.cpp: out [B,M,N],
// a [B,M,K], b [B,K,N], c [B,M,N] or absent; out = beta * c + alpha * (a @ b).
int gemm_tiled(const gems_kernel_call* call) {
  const gems_tensor &out = call->tensors[0], &a = call->tensors[1], &b = call->tensors[2];
  const gems_tensor* c = call->num_tensors > 3 && call->tensors[3].data ? &call->tensors[3] : nullptr;
  const GemmArgs g{out.sizes[1], out.sizes[2], a.sizes[2], out.sizes[0],
                   a.strides[0], a.strides[1], a.strides[2],
                   b.strides[0], b.strides[1], b.strides[2],
                   c ? c->strides[0] : 0, c ? c->strides[1] : 0, c ? c->strides[2] : 0,
                   out.strides[0], out.strides[1], out.strides[2],
                   call->scalars[0].f, c ? call->scalars[1].f : 0.0};
  if (g.M == 0 || g.N == 0 || g.batches == 0) return GEMS_OK;
  const dim3 grid(static_cast<unsigned>((g.N + kTileN - 1) / kTileN), static_cast<unsigned>((g.M + kTileM - 1) / kTileM),
                  static_cast<unsigned>(std::min<int64_t>(g.batches, 65535)));
  if ((g.M + kTileM - 1) / kTileM > 65535) return set_error_string(GEMS_UNSUPPORTED, "gemm: more than 4M rows");
  const bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    gemm_tiled_kernel<T><<<grid, kThreadsM * kThreadsN, 0, stream_of(call)>>>(
        reinterpret_cast<T*>(base_ptr(out)), reinterpret_cast<const T*>(base_ptr(a)),
        reinterpret_cast<const T*>(base_ptr(b)), c ? reinterpret_cast<const T*>(base_ptr(*c)) : nullptr, g);
  });
  if (!ok) return unsupported_dtype("gemm", out.dtype);
  return launch_status("gemm");
}

}  // namespace gems::nvidia
