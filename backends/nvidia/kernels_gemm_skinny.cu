// Products with at most 16 rows on one side (a decode step's projections:
// a few tokens times a weight matrix). They are bound by reading the weight
// once: 16x4096 @ 4096x4096 in bf16 moves 32 MB and computes 0.5 GFLOP, and
// cuBLAS reaches about half of HBM's bandwidth on it. Here every warp streams
// a 64x64 tile of the weight with 16-byte loads, all issued before any math,
// and multiplies it on the tensor cores (mma.sync m16n8k16, fp32
// accumulation) with the weight as the 16-row operand and the tokens as the
// 8-column one. K is split across the warps of a block and, when the columns
// alone would not fill the card, across blocks; the last block of a column
// group to finish sums the groups' fp32 partials in a fixed order, so results
// are the same on every run.
#include <map>
#include <mutex>
#include <utility>

#include "cuda_common.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr int kTile = 64;       // weight tile of one warp: kTile columns x kTile of K
constexpr int kWarps = 8;       // warps of a block, all on one column group
constexpr int kMaxRows = 16;    // rows of the small operand
constexpr int kThreads = kWarps * 32;

template <typename T> struct Mma;
template <> struct Mma<bf16> {
  static __device__ __forceinline__ void run(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};
template <> struct Mma<half> {
  static __device__ __forceinline__ void run(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

struct SkinnyArgs {
  const void* x;       // [rows, K], unit stride along K
  int64_t x_row;       // row stride of x, elements
  int rows;            // 1..16
  const void* w;       // [K, N]: k_major ? (unit stride along N) : (unit stride along K)
  int64_t w_ld;        // the other stride of w, elements
  int64_t k_units;     // K / kTile
  void* d;             // [rows, N]
  int64_t d_row, d_col;
  float alpha;
  bool accumulate;     // d += alpha * x @ w (d already holds beta * C)
  int splits;          // blocks along K per column group
  int64_t units_per_split;
  float* partials;     // [N / kTile][splits][kMaxRows][kTile], when splits > 1
  unsigned* arrivals;  // [N / kTile], zero between launches, when splits > 1
};

// One warp's accumulators: tile j (16 weight columns), half h (8 rows of x),
// 4 fp32 values in mma's C layout.
template <int kHalves>
using Acc = float[4][kHalves][4];

// Weight stored with N contiguous ([K, N] row-major). Lane (g, t) loads 8
// columns c0+8g.. of K rows 2t, 2t+1, 2t+8, 2t+9 of each 16-deep step; its
// mma rows g and g+8 of tile j are columns 8g+2j and 8g+2j+1, so a byte
// permute pairs two K rows of one column into the register mma expects.
template <typename T, int kHalves>
__device__ __forceinline__ void unit_n_contiguous(const SkinnyArgs& p, int64_t c0, int64_t k0, int g, int t,
                                                  Acc<kHalves>& acc) {
  const T* w = static_cast<const T*>(p.w);
  const T* x = static_cast<const T*>(p.x);
  uint4 r[4][4];
#pragma unroll
  for (int s = 0; s < 4; ++s) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int64_t k = k0 + 16 * s + 2 * t + (q & 1) + 8 * (q >> 1);
      r[s][q] = __ldg(reinterpret_cast<const uint4*>(w + k * p.w_ld + c0 + 8 * g));
    }
  }
  uint32_t xb[4][kHalves][2];
#pragma unroll
  for (int s = 0; s < 4; ++s) {
#pragma unroll
    for (int h = 0; h < kHalves; ++h) {
      const int m = 8 * h + g;
      const T* row = x + m * p.x_row + k0 + 16 * s + 2 * t;
      xb[s][h][0] = m < p.rows ? __ldg(reinterpret_cast<const uint32_t*>(row)) : 0u;
      xb[s][h][1] = m < p.rows ? __ldg(reinterpret_cast<const uint32_t*>(row + 8)) : 0u;
    }
  }
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const uint32_t* k0w = reinterpret_cast<const uint32_t*>(&r[s][0]);
    const uint32_t* k1w = reinterpret_cast<const uint32_t*>(&r[s][1]);
    const uint32_t* k8w = reinterpret_cast<const uint32_t*>(&r[s][2]);
    const uint32_t* k9w = reinterpret_cast<const uint32_t*>(&r[s][3]);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t a[4] = {__byte_perm(k0w[j], k1w[j], 0x5410), __byte_perm(k0w[j], k1w[j], 0x7632),
                             __byte_perm(k8w[j], k9w[j], 0x5410), __byte_perm(k8w[j], k9w[j], 0x7632)};
#pragma unroll
      for (int h = 0; h < kHalves; ++h) Mma<T>::run(acc[j][h], a, xb[s][h][0], xb[s][h][1]);
    }
  }
}

// Weight stored with K contiguous ([N, K] row-major, as nn.Linear keeps it).
// Lane (g, t) loads K elements 16t..16t+15 of columns c0+g+8i, i = 0..7. The
// sum over K does not care which K element sits in which mma slot, as long
// as both operands agree: step s feeds slots 2t,2t+1 with K 16t+4s,+1 and
// slots 2t+8,2t+9 with 16t+4s+2,+3, so every register is one aligned load.
template <typename T, int kHalves>
__device__ __forceinline__ void unit_k_contiguous(const SkinnyArgs& p, int64_t c0, int64_t k0, int g, int t,
                                                  Acc<kHalves>& acc) {
  const T* w = static_cast<const T*>(p.w);
  const T* x = static_cast<const T*>(p.x);
  uint4 r[8][2];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint4* src = reinterpret_cast<const uint4*>(w + (c0 + g + 8 * i) * p.w_ld + k0 + 16 * t);
    r[i][0] = __ldg(src);
    r[i][1] = __ldg(src + 1);
  }
  uint4 xr[kHalves][2];
#pragma unroll
  for (int h = 0; h < kHalves; ++h) {
    const int m = 8 * h + g;
    const uint4* src = reinterpret_cast<const uint4*>(x + m * p.x_row + k0 + 16 * t);
    xr[h][0] = m < p.rows ? __ldg(src) : make_uint4(0, 0, 0, 0);
    xr[h][1] = m < p.rows ? __ldg(src + 1) : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int s = 0; s < 4; ++s) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t* lo = reinterpret_cast<const uint32_t*>(&r[2 * j][0]);
      const uint32_t* hi = reinterpret_cast<const uint32_t*>(&r[2 * j + 1][0]);
      const uint32_t a[4] = {lo[2 * s], hi[2 * s], lo[2 * s + 1], hi[2 * s + 1]};
#pragma unroll
      for (int h = 0; h < kHalves; ++h) {
        const uint32_t* xw = reinterpret_cast<const uint32_t*>(&xr[h][0]);
        Mma<T>::run(acc[j][h], a, xw[2 * s], xw[2 * s + 1]);
      }
    }
  }
}

// Where accumulator value e of tile j, half h, lane (g, t) belongs: its row
// of x and its column within the column group.
template <bool kNContiguous>
__device__ __forceinline__ void place(int j, int h, int e, int g, int t, int* m, int* col) {
  *m = 8 * h + 2 * t + (e & 1);
  if (kNContiguous) *col = 8 * g + 2 * j + (e >> 1);
  else *col = 16 * j + g + 8 * (e >> 1);
}

template <typename T>
__device__ __forceinline__ void store(const SkinnyArgs& p, int m, int64_t n, float v) {
  T* d = static_cast<T*>(p.d) + m * p.d_row + n * p.d_col;
  v *= p.alpha;
  if (p.accumulate) v += load_as<float>(*d);
  *d = store_as<T>(v);
}

template <typename T, bool kNContiguous, int kHalves>
__global__ void __launch_bounds__(kThreads) skinny_gemm_kernel(SkinnyArgs p) {
  constexpr int kValues = 4 * kHalves * 4;  // accumulators per lane
  __shared__ float sums[kWarps][kValues][32];
  __shared__ bool last;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t group = blockIdx.x, c0 = group * kTile;
  const int64_t first = blockIdx.y * p.units_per_split;
  const int64_t end = min(first + p.units_per_split, p.k_units);

  Acc<kHalves> acc = {};
  for (int64_t u = first + warp; u < end; u += kWarps) {
    if (kNContiguous) unit_n_contiguous<T, kHalves>(p, c0, u * kTile, g, t, acc);
    else unit_k_contiguous<T, kHalves>(p, c0, u * kTile, g, t, acc);
  }
  // The block's warps covered different K: sum them, one value per thread at a time.
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int h = 0; h < kHalves; ++h)
#pragma unroll
      for (int e = 0; e < 4; ++e) sums[warp][(j * kHalves + h) * 4 + e][lane] = acc[j][h][e];
  __syncthreads();
  float* mine = p.partials + (group * p.splits + blockIdx.y) * (kMaxRows * kTile);
  for (int i = threadIdx.x; i < kValues * 32; i += kThreads) {
    const int v = i / 32, l = i % 32;
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) s += sums[w][v][l];
    int m, col;
    place<kNContiguous>(v / (kHalves * 4), (v / 4) % kHalves, v % 4, l / 4, l % 4, &m, &col);
    if (p.splits == 1) {
      if (m < p.rows) store<T>(p, m, c0 + col, s);
    } else {
      mine[m * kTile + col] = s;
    }
  }
  if (p.splits == 1) return;

  // The last block of the column group to arrive sums every split's partials, in split order.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&p.arrivals[group], 1u) == static_cast<unsigned>(p.splits - 1);
  __syncthreads();
  if (!last) return;
  __threadfence();
  const float* all = p.partials + group * p.splits * (kMaxRows * kTile);
  for (int i = threadIdx.x; i < p.rows * kTile; i += kThreads) {
    float s = 0.0f;
    for (int b = 0; b < p.splits; ++b) s += __ldcg(all + b * (kMaxRows * kTile) + i);
    store<T>(p, i / kTile, c0 + i % kTile, s);
  }
  if (threadIdx.x == 0) p.arrivals[group] = 0;  // ready for the next launch on this stream
}

// Split-K scratch that lives with its stream: the arrival counters must be
// zero before a launch and the last block of each group leaves them zero, so
// one zeroed buffer per stream serves every launch on it in order (launches
// on other streams may run at the same time and get their own). A few MB
// per stream that ever ran a split product, kept for the process's life.
struct StreamScratch {
  void* ptr = nullptr;
  size_t bytes = 0;
};

void* split_scratch(int device, cudaStream_t stream, size_t bytes) {
  static std::mutex m;
  static std::map<std::pair<int, cudaStream_t>, StreamScratch> by_stream;
  std::lock_guard<std::mutex> g(m);
  // Not while the stream is captured: a graph may be replayed on another
  // stream, concurrently with this one's launches.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess || capture != cudaStreamCaptureStatusNone) return nullptr;
  StreamScratch& s = by_stream[{device, stream}];
  if (s.bytes >= bytes) return s.ptr;
  const size_t grown = std::max(bytes, 2 * s.bytes);
  void* p = nullptr;
  if (cudaMallocAsync(&p, grown, stream) != cudaSuccess) return cudaGetLastError(), nullptr;
  if (cudaMemsetAsync(p, 0, grown, stream) != cudaSuccess) return cudaFreeAsync(p, stream), cudaGetLastError(), nullptr;
  if (s.ptr) cudaFreeAsync(s.ptr, stream);
  s = {p, grown};
  return p;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

template <typename T>
bool skinny_gemm(const gems_tensor& out, const gems_tensor& a, const gems_tensor& b, float alpha, bool accumulate,
                 void* stream_handle, int* status) {
  if (out.sizes[0] != 1) return false;
  const int64_t M = out.sizes[1], N = out.sizes[2], K = a.sizes[2];
  // x is the operand with at most kMaxRows rows; if that is b, compute out^T = b^T a^T.
  SkinnyArgs p{};
  int64_t n_cols, x_row, x_k, w_k, w_n;
  const char *x_ptr, *w_ptr;
  if (M <= kMaxRows) {
    p.rows = static_cast<int>(M); n_cols = N;
    x_ptr = base_ptr(a); x_row = a.strides[1]; x_k = a.strides[2];
    w_ptr = base_ptr(b); w_k = b.strides[1]; w_n = b.strides[2];
    p.d_row = out.strides[1]; p.d_col = out.strides[2];
  } else if (N <= kMaxRows) {
    p.rows = static_cast<int>(N); n_cols = M;
    x_ptr = base_ptr(b); x_row = b.strides[2]; x_k = b.strides[1];
    w_ptr = base_ptr(a); w_k = a.strides[2]; w_n = a.strides[1];
    p.d_row = out.strides[2]; p.d_col = out.strides[1];
  } else {
    return false;
  }
  if (p.rows == 0 || n_cols % kTile || K % kTile || K == 0) return false;
  // Every load is an aligned 16-byte vector (x's K runs too, the rows past the first included).
  if (x_k != 1 || (p.rows > 1 && x_row % 8) || !aligned16(x_ptr) || !aligned16(w_ptr)) return false;
  const bool n_contiguous = w_n == 1 && w_k % 8 == 0;
  if (!n_contiguous && !(w_k == 1 && w_n % 8 == 0)) return false;

  cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  const int64_t groups = n_cols / kTile;
  p.k_units = K / kTile;
  // Enough blocks for about four per SM, but at least one K unit per warp.
  const int64_t want = (4 * int64_t{num_sms()} + groups - 1) / groups;
  int64_t splits = std::max<int64_t>(1, std::min((p.k_units + kWarps - 1) / kWarps, want));
  p.units_per_split = (p.k_units + splits - 1) / splits;
  splits = (p.k_units + p.units_per_split - 1) / p.units_per_split;
  if (splits > 1) {
    int device = 0;
    cudaGetDevice(&device);
    const size_t counter_bytes = (static_cast<size_t>(groups) * sizeof(unsigned) + 255) / 256 * 256;
    const size_t partial_bytes = static_cast<size_t>(groups * splits) * kMaxRows * kTile * sizeof(float);
    char* scratch = static_cast<char*>(split_scratch(device, stream, counter_bytes + partial_bytes));
    if (!scratch) return false;
    p.arrivals = reinterpret_cast<unsigned*>(scratch);
    p.partials = reinterpret_cast<float*>(scratch + counter_bytes);
  }
  p.splits = static_cast<int>(splits);
  p.x = x_ptr; p.x_row = x_row;
  p.w = w_ptr; p.w_ld = n_contiguous ? w_k : w_n;
  p.d = base_ptr(out);
  p.alpha = alpha;
  p.accumulate = accumulate;

  const dim3 grid(static_cast<unsigned>(groups), static_cast<unsigned>(splits));
  const bool two_halves = p.rows > 8;
  if (n_contiguous) {
    if (two_halves) skinny_gemm_kernel<T, true, 2><<<grid, kThreads, 0, stream>>>(p);
    else skinny_gemm_kernel<T, true, 1><<<grid, kThreads, 0, stream>>>(p);
  } else {
    if (two_halves) skinny_gemm_kernel<T, false, 2><<<grid, kThreads, 0, stream>>>(p);
    else skinny_gemm_kernel<T, false, 1><<<grid, kThreads, 0, stream>>>(p);
  }
  *status = launch_status("gemm");
  return true;
}

template bool skinny_gemm<half>(const gems_tensor&, const gems_tensor&, const gems_tensor&, float, bool, void*, int*);
template bool skinny_gemm<bf16>(const gems_tensor&, const gems_tensor&, const gems_tensor&, float, bool, void*, int*);

}  // namespace gems::nvidia
