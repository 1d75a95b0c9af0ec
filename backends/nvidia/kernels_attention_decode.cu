// Attention for a few query rows against many keys: the decode step of a
// language model (one new token against its KV cache). cuDNN builds a graph
// per shape, and a KV cache grows by one key every step, so these shapes get
// a kernel of their own: split-K "flash decoding". The keys are cut into
// chunks; a block per (batch, group of query heads sharing a key head, chunk)
// keeps an online softmax per warp and writes an unnormalised partial result;
// a second kernel merges the chunks (skipped when a row is one chunk). Head
// dims 64, 128 and 256 with aligned rows run on tensor cores
// (decode_partial_mma), other shapes on lane slices of the rows
// (decode_partial). Operands are as in the "attention" entry of the
// reference table.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "cuda_common.cuh"
#include "kernels.h"
#include "mma.cuh"
#include "runtime.h"

namespace gems::nvidia {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxRows = 8;    // query rows served here
constexpr int kMaxDim = 256;   // head dims served here
constexpr int kMaxSplits = 64; // chunks of one row's keys: the merge stays cheap

struct DecodeArgs {
  int64_t B, Hq, Hkv, L, S, E, Ev, group, chunk, splits;
  int64_t q[4], k[4], v[4], bias[4], out[4], lse[3];
  float scale;
  bool causal, has_bias;
};

// A lane's kPerLane elements of one key or value row, loaded at once.
template <typename T, int N>
struct alignas(sizeof(T) * N) LaneSlice {
  T v[N];
};

// Which element of a row lane `lane` holds in its slot t: with kContiguous its
// own kPerLane adjacent elements (one load a row: the row is exactly 32 *
// kPerLane long and aligned), else every 32nd (any length, one load a slot).
template <int kPerLane, bool kContiguous>
__device__ __forceinline__ int64_t element(int t, int lane) {
  return kContiguous ? int64_t{lane} * kPerLane + t : int64_t{t} * 32 + lane;
}

// The running state of one warp for kGroup query heads and one query row: the
// lane's kPerLane elements of each head's query and output accumulator, the
// running max and sum of exp(score - max) (an online softmax).
template <int kPerLane, int kGroup>
struct HeadsState {
  float q[kGroup][kPerLane], acc[kGroup][kPerLane], m[kGroup], l[kGroup];

  template <typename T, bool kContiguous>
  __device__ void start(const DecodeArgs& a, const T* Q, int64_t b, int64_t h0, int64_t i, int lane) {
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      const T* qi = Q + b * a.q[0] + (h0 + g) * a.q[1] + i * a.q[2];
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) {
        const int64_t d = element<kPerLane, kContiguous>(t, lane);
        q[g][t] = d < a.E ? load_as<float>(qi[d]) : 0.0f;
        acc[g][t] = 0.0f;
      }
      m[g] = -INFINITY;
      l[g] = 0.0f;
    }
  }

  // Folds kKeys keys (j, j + kWarps, ...; those at jend or past it are masked)
  // whose K and V slices this lane holds in kr and vr, head by head, so that
  // only one head's scores are live beside them.
  template <typename T, int kKeys>
  __device__ void fold(const DecodeArgs& a, const LaneSlice<T, kPerLane> (&kr)[kKeys],
                       const LaneSlice<T, kPerLane> (&vr)[kKeys], int64_t j, int64_t jend, const T* Bias, int64_t b,
                       int64_t h0, int64_t i) {
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      float sc[kKeys];
#pragma unroll
      for (int u = 0; u < kKeys; ++u) {
        sc[u] = 0.0f;
#pragma unroll
        for (int t = 0; t < kPerLane; ++t) sc[u] += q[g][t] * load_as<float>(kr[u].v[t]);
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1)
#pragma unroll
        for (int u = 0; u < kKeys; ++u) sc[u] += __shfl_xor_sync(0xffffffffu, sc[u], o);
      float m_new = m[g];
#pragma unroll
      for (int u = 0; u < kKeys; ++u) {
        const int64_t ju = j + u * kWarps;
        sc[u] = ju < jend ? sc[u] * a.scale : -INFINITY;
        if (a.has_bias && ju < jend)
          sc[u] += load_as<float>(Bias[b * a.bias[0] + (h0 + g) * a.bias[1] + i * a.bias[2] + ju * a.bias[3]]);
        m_new = fmaxf(m_new, sc[u]);
      }
      if (m_new == -INFINITY) continue;  // every key masked for this head: they add nothing
      const float correction = __expf(m[g] - m_new);
      l[g] *= correction;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) acc[g][t] *= correction;
#pragma unroll
      for (int u = 0; u < kKeys; ++u) {
        const float pu = __expf(sc[u] - m_new);
        l[g] += pu;
#pragma unroll
        for (int t = 0; t < kPerLane; ++t) acc[g][t] += pu * load_as<float>(vr[u].v[t]);
      }
      m[g] = m_new;
    }
  }

  // Merges the block's warps into one partial (max, sum, unnormalised output)
  // per head for this chunk and row, in the workspace. Every thread calls it.
  template <bool kContiguous>
  __device__ void write_partial(const DecodeArgs& a, float* ws, int64_t b, int64_t h0, int64_t i) {
    __shared__ float sm_m[kWarps], sm_l[kWarps], sm_acc[kWarps][kMaxDim];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (lane == 0) { sm_m[warp] = m[g]; sm_l[warp] = l[g]; }
#pragma unroll
      for (int t = 0; t < kPerLane; ++t)
        if (const int64_t d = element<kPerLane, kContiguous>(t, lane); d < a.Ev) sm_acc[warp][d] = acc[g][t];
      __syncthreads();
      float M = -INFINITY;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm_m[w]);
      float* part = ws + (((b * a.Hq + h0 + g) * a.splits + blockIdx.y) * a.L + i) * (a.Ev + 2);
      for (int64_t d = threadIdx.x; d < a.Ev + 1; d += blockDim.x) {
        float total = 0.0f;
        for (int w = 0; w < kWarps; ++w) {
          const float weight = sm_m[w] == -INFINITY ? 0.0f : __expf(sm_m[w] - M);
          total += weight * (d < a.Ev ? sm_acc[w][d] : sm_l[w]);
        }
        if (d < a.Ev) part[2 + d] = total;
        else part[1] = total;
      }
      if (threadIdx.x == 0) part[0] = M;
      __syncthreads();  // the shared arrays are reused for the next head and row
    }
  }
};

// Which (batch, first query head, key head) block x serves: a block per
// (batch, group of kGroup query heads sharing one key head, chunk), so that
// the group's heads read each K and V row once (grouped-query attention).
struct BlockHeads {
  int64_t b, h0, hk;
  __device__ BlockHeads(const DecodeArgs& a, int kGroup) {
    const int64_t blocks_per_batch = a.Hq / kGroup;
    b = blockIdx.x / blocks_per_batch;
    h0 = blockIdx.x % blocks_per_batch * kGroup;
    hk = h0 / a.group;
  }
};

// K and V rows straight from global memory into registers: any head dim and
// alignment. kKeys keys a step (this warp's j, j + kWarps, ...): all their K
// and V loads are issued before any is used, so that a warp keeps kKeys rows
// of each in flight (a decode step is bound by how many bytes are in flight).
template <typename T, int kPerLane, int kKeys, bool kContiguous, int kGroup>
__global__ void __launch_bounds__(kWarps * 32, 4)  // at most 128 registers: 4 blocks an SM
    decode_partial(DecodeArgs a, const T* Q, const T* K, const T* V, const T* Bias, float* ws) {
  allow_dependent_launch();  // the merge kernel may start launching (it waits for this grid)
  const BlockHeads bh(a, kGroup);
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * a.chunk, j1 = min(a.S, j0 + a.chunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const T* k = K + bh.b * a.k[0] + bh.hk * a.k[1];
  const T* v = V + bh.b * a.v[0] + bh.hk * a.v[1];
  for (int64_t i = 0; i < a.L; ++i) {
    HeadsState<kPerLane, kGroup> st;
    st.template start<T, kContiguous>(a, Q, bh.b, bh.h0, i, lane);
    const int64_t jend = a.causal ? min(j1, i + 1) : j1;
    for (int64_t j = j0 + warp; j < jend; j += kKeys * kWarps) {
      LaneSlice<T, kPerLane> kr[kKeys], vr[kKeys];  // raw: half the registers of floats
#pragma unroll
      for (int u = 0; u < kKeys; ++u) {
        const int64_t ju = min(j + u * kWarps, jend - 1);  // past the end: reload the last key, masked in fold
        const T* ku = k + ju * a.k[2];
        const T* vu = v + ju * a.v[2];
        if constexpr (kContiguous) {
          kr[u] = reinterpret_cast<const LaneSlice<T, kPerLane>*>(ku)[lane];
          vr[u] = reinterpret_cast<const LaneSlice<T, kPerLane>*>(vu)[lane];
        } else {
#pragma unroll
          for (int t = 0; t < kPerLane; ++t) {
            const int64_t d = element<kPerLane, false>(t, lane);
            kr[u].v[t] = d < a.E ? ku[d] : T(0.0f);
            vr[u].v[t] = d < a.Ev ? vu[d] : T(0.0f);
          }
        }
      }
      st.fold(a, kr, vr, j, jend, Bias, bh.b, bh.h0, i);
    }
    st.template write_partial<kContiguous>(a, ws, bh.b, bh.h0, i);
  }
}

// 16-byte copies from global to shared memory that complete asynchronously
// (cp.async, sm_80 and newer), committed and waited for in groups.
__device__ __forceinline__ void copy_async16(void* shared, const void* global) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(global));
}
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void copy_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending)); }

// ---- tensor-core decode: head dims 64, 128 and 256 ----
// The rows of an m16n8k16 MMA are (query row, head) pairs: the group's heads
// for as many query rows as fit (kRows / kGroup a pass), so scores Q K^T
// and the update P V each cost a few tensor core instructions per 16 keys for
// all of them at once, and each pass streams the keys once for all its rows
// (the lane-slice kernels spend a 32-lane shuffle reduction per key and head,
// and stream the keys once per query row). Tiles of kMmaTileKeys keys go
// global -> shared by cp.async, kMmaStages - 1 tiles ahead; each warp takes 16
// keys of a tile. Shared rows are swizzled (16-byte piece p of row r sits at
// p ^ (r & 7)) so that ldmatrix reads 8 rows without bank conflicts.
// kRows is 16, or 8 where a block has no more than 8 (query row, head) pairs
// (one query row of up to 8 heads, the common decode step): rows 8-15 of the
// MMAs are then zero and a lane keeps one softmax state, not two.
constexpr int kMmaTileKeys = 16 * kWarps, kMmaStages = 3;

// K and V tiles of every stage, then the pass's 16 query rows.
template <int kDim, typename T>
constexpr size_t mma_shared_bytes() { return (size_t{kMmaStages} * 2 * kMmaTileKeys + 16) * kDim * sizeof(T); }

// Blocks of the tensor-core kernel an SM holds at once (its shared memory
// bounds them; registers are capped to match): 4, 2 and 1 for dims 64-256.
constexpr int mma_resident(int dim) { return dim <= 64 ? 4 : dim <= 128 ? 2 : 1; }

// Element offset of 16-byte piece p of key row r in a swizzled tile.
template <int kDim>
__device__ __forceinline__ int swizzled(int r, int p) { return r * kDim + ((p ^ (r & 7)) << 3); }

__device__ __forceinline__ unsigned shared_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

template <bool kTrans>
__device__ __forceinline__ void load_matrices(uint32_t (&r)[4], const void* row) {
  if constexpr (kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(shared_address(row)));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(shared_address(row)));
}

// Two values as the packed 16-bit pair an MMA operand register holds.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  struct alignas(4) Pair { T x, y; } pair{store_as<T>(lo), store_as<T>(hi)};
  return *reinterpret_cast<uint32_t*>(&pair);
}

// One MMA row of a pass: query row i of head h0 + g; rows past the last query row are padding.
struct MmaRow {
  int64_t i, jend;  // jend: this row's keys end (causal rows see keys j <= i)
  int g;
  bool valid;
  __device__ MmaRow(const DecodeArgs& a, int64_t i0, int m, int group, int64_t j1)
      : i(i0 + m / group), g(m % group), valid(i0 + m / group < a.L) {
    jend = !valid ? 0 : a.causal ? min(j1, i + 1) : j1;
  }
};

template <typename T, int kDim, int kGroup, int kRows>
__global__ void __launch_bounds__(kWarps * 32, mma_resident(kDim))
    decode_partial_mma(DecodeArgs a, const T* Q, const T* K, const T* V, const T* Bias, float* ws, T* Out, float* Lse) {
  static_assert(kRows == 8 || kRows == 16, "an MMA has 16 rows; 8 of them when the upper half is zero");
  constexpr int kPieces = kDim / 8, kTile = kMmaTileKeys * kDim, kRowsPerPass = kRows / kGroup;
  constexpr int kHalves = kRows / 8;  // accumulator rows a lane holds: lane / 4, and lane / 4 + 8 with 16 rows
  allow_dependent_launch();  // the merge kernel, when there is one, may start launching
  extern __shared__ __align__(16) unsigned char mma_raw[];
  T* tiles = reinterpret_cast<T*>(mma_raw);     // stage s: K rows, then V rows
  T* q_rows = tiles + kMmaStages * 2 * kTile;   // the pass's kRows MMA rows of Q
  const BlockHeads bh(a, kGroup);
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * a.chunk, j1 = min(a.S, j0 + a.chunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int col = (lane & 3) * 2;  // this lane's first key (scores) or dim (output) in an 8-wide tile
  const T* k = K + bh.b * a.k[0] + bh.hk * a.k[1];
  const T* v = V + bh.b * a.v[0] + bh.hk * a.v[1];
  for (int64_t i0 = 0; i0 < a.L; i0 += kRowsPerPass) {
    // this lane's two accumulator rows: m = lane / 4 (c0, c1) and m + 8 (c2, c3)
    const MmaRow rows[2] = {MmaRow(a, i0, lane >> 2, kGroup, j1), MmaRow(a, i0, (lane >> 2) + 8, kGroup, j1)};
    float o[kDim / 8][4];
#pragma unroll
    for (int n = 0; n < kDim / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float mx[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // per row: running max, this lane's share of the sum
    const int64_t last = min(a.L, i0 + kRowsPerPass) - 1;  // the pass's last query row sees the most keys
    const int64_t jend = a.causal ? min(j1, last + 1) : j1;
    const int64_t tiles_n = jend > j0 ? (jend - j0 + kMmaTileKeys - 1) / kMmaTileKeys : 0;
    auto issue = [&](int64_t tile) {  // an empty group past the last tile keeps the wait counts uniform
      if (tile < tiles_n) {
        T* ks = tiles + (tile % kMmaStages) * 2 * kTile;
        T* vs = ks + kTile;
        for (int c = threadIdx.x; c < kMmaTileKeys * kPieces; c += blockDim.x) {
          const int r = c / kPieces, p = c % kPieces;
          const int64_t j = min(j0 + tile * kMmaTileKeys + r, jend - 1);  // past the end: the last key, masked below
          copy_async16(ks + swizzled<kDim>(r, p), k + j * a.k[2] + p * 8);
          copy_async16(vs + swizzled<kDim>(r, p), v + j * a.v[2] + p * 8);
        }
      }
      copy_async_commit();
    };
#pragma unroll
    for (int s = 0; s < kMmaStages - 1; ++s) issue(s);
    // the Q rows load while the first tiles are in flight (the first wait's barrier publishes them)
    for (int e = threadIdx.x; e < kRows * kDim; e += blockDim.x) {
      const int m = e / kDim, d = e % kDim;
      const MmaRow row(a, i0, m, kGroup, j1);
      q_rows[swizzled<kDim>(m, d >> 3) + (d & 7)] =
          row.valid ? Q[bh.b * a.q[0] + (bh.h0 + row.g) * a.q[1] + row.i * a.q[2] + d * a.q[3]] : T(0.0f);
    }
    for (int64_t tile = 0; tile < tiles_n; ++tile) {
      copy_async_wait<kMmaStages - 2>();
      __syncthreads();  // this tile (and, the first time, the Q rows) landed; tile - 1's buffer is free
      issue(tile + kMmaStages - 1);
      const T* ks = tiles + (tile % kMmaStages) * 2 * kTile;
      const T* vs = ks + kTile;
      const int kb = warp * 16;  // this warp's keys in the tile
      // scores: two 8-key tiles over kDim / 16 k-steps; each ldmatrix reads 32 dims of 8 keys, or 16 dims of Q
      float sc[2][4] = {};
#pragma unroll
      for (int c = 0; c < kDim / 32; ++c) {
        uint32_t qa[2][4];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          // matrices 1 and 3 are rows 8-15: zero with kRows 8 (their lanes read rows 0-7 again)
          load_matrices<false>(qa[h], q_rows + swizzled<kDim>((lane & 7) + ((lane >> 3) & 1) * (kRows - 8),
                                                               c * 4 + h * 2 + (lane >> 4)));
          if constexpr (kRows == 8) qa[h][1] = qa[h][3] = 0u;
        }
#pragma unroll
        for (int n = 0; n < 2; ++n) {
          uint32_t kb4[4];
          load_matrices<false>(kb4, ks + swizzled<kDim>(kb + n * 8 + (lane & 7), c * 4 + (lane >> 3)));
          mma_16816<T>(sc[n], qa[0], kb4[0], kb4[1]);
          mma_16816<T>(sc[n], qa[1], kb4[2], kb4[3]);
        }
      }
      // online softmax, row by row: this lane's 4 keys of each of its rows; a row's 4 lanes share the max
      const int64_t key0 = j0 + tile * kMmaTileKeys + kb;
      float pr[2][2][2] = {};  // [row][key tile][key]; the second row stays zero with kRows 8
      float correction[2] = {1.0f, 1.0f};
#pragma unroll
      for (int h = 0; h < kHalves; ++h) {
        float top = -INFINITY;
#pragma unroll
        for (int n = 0; n < 2; ++n)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int64_t j = key0 + n * 8 + col + e;
            float x = j < rows[h].jend ? sc[n][2 * h + e] * a.scale : -INFINITY;
            if (a.has_bias && j < rows[h].jend)
              x += load_as<float>(Bias[bh.b * a.bias[0] + (bh.h0 + rows[h].g) * a.bias[1] + rows[h].i * a.bias[2] +
                                       j * a.bias[3]]);
            pr[h][n][e] = x;
            top = fmaxf(top, x);
          }
        top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 1));
        top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 2));
        const float m_new = fmaxf(mx[h], top);
        correction[h] = m_new == -INFINITY ? 1.0f : __expf(mx[h] - m_new);
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < 2; ++n)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            pr[h][n][e] = m_new == -INFINITY ? 0.0f : __expf(pr[h][n][e] - m_new);
            sum += pr[h][n][e];
          }
        l[h] = l[h] * correction[h] + sum;
        mx[h] = m_new;
      }
#pragma unroll
      for (int n = 0; n < kDim / 8; ++n) {
        o[n][0] *= correction[0]; o[n][1] *= correction[0];
        if constexpr (kRows == 16) { o[n][2] *= correction[1]; o[n][3] *= correction[1]; }
      }
      // P as the A fragment of the update (the score tiles' layout is the A layout), V by transposed ldmatrix
      const uint32_t pa[4] = {pack2<T>(pr[0][0][0], pr[0][0][1]), pack2<T>(pr[1][0][0], pr[1][0][1]),
                              pack2<T>(pr[0][1][0], pr[0][1][1]), pack2<T>(pr[1][1][0], pr[1][1][1])};
#pragma unroll
      for (int c = 0; c < kDim / 16; ++c) {
        uint32_t vb4[4];
        const int r = kb + (lane & 7) + ((lane >> 3) & 1) * 8;
        load_matrices<true>(vb4, vs + swizzled<kDim>(r, c * 2 + (lane >> 4)));
        mma_16816<T>(o[2 * c], pa, vb4[0], vb4[1]);
        mma_16816<T>(o[2 * c + 1], pa, vb4[2], vb4[3]);
      }
    }
    copy_async_wait<0>();
    __syncthreads();  // every warp is done with the tiles: they hold the warps' partials now
    float* sm_o = reinterpret_cast<float*>(mma_raw);  // [warp][row][kDim]
    float* sm_ml = sm_o + kWarps * 16 * kDim;         // [warp][row][max, sum]
    float* sm_row = sm_ml + kWarps * 16 * 2;          // [row][max, sum] over the warps
#pragma unroll
    for (int h = 0; h < kHalves; ++h) {
      l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
      l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
      const int m = (lane >> 2) + 8 * h;
#pragma unroll
      for (int n = 0; n < kDim / 8; ++n) {
        sm_o[(warp * 16 + m) * kDim + n * 8 + col] = o[n][2 * h];
        sm_o[(warp * 16 + m) * kDim + n * 8 + col + 1] = o[n][2 * h + 1];
      }
      if ((lane & 3) == 0) {
        sm_ml[(warp * 16 + m) * 2] = mx[h];
        sm_ml[(warp * 16 + m) * 2 + 1] = l[h];
      }
    }
    __syncthreads();
    // Each row's max and sum over the warps; with one chunk a row (splits 1)
    // they normalise the output here and no merge kernel runs.
    if (threadIdx.x < kRows) {
      const int m = threadIdx.x;
      const MmaRow row(a, i0, m, kGroup, j1);
      float M = -INFINITY, total = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm_ml[(w * 16 + m) * 2]);
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float mw = sm_ml[(w * 16 + m) * 2];
        total += mw == -INFINITY ? 0.0f : __expf(mw - M) * sm_ml[(w * 16 + m) * 2 + 1];
      }
      sm_row[m * 2] = M;
      sm_row[m * 2 + 1] = total;
      if (a.splits == 1 && row.valid)
        Lse[bh.b * a.lse[0] + (bh.h0 + row.g) * a.lse[1] + row.i * a.lse[2]] =
            total > 0.0f ? M + __logf(total) : -INFINITY;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < kRows * kDim; idx += blockDim.x) {
      const int m = idx / kDim, d = idx % kDim;
      const MmaRow row(a, i0, m, kGroup, j1);
      if (!row.valid) continue;
      const float M = sm_row[m * 2];
      float total = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float mw = sm_ml[(w * 16 + m) * 2];
        total += mw == -INFINITY ? 0.0f : __expf(mw - M) * sm_o[(w * 16 + m) * kDim + d];
      }
      const int64_t h = bh.h0 + row.g;
      if (a.splits == 1) {
        const float sum = sm_row[m * 2 + 1];
        Out[bh.b * a.out[0] + h * a.out[1] + row.i * a.out[2] + d] = store_as<T>(sum > 0.0f ? total / sum : 0.0f);
      } else {
        float* part = ws + (((bh.b * a.Hq + h) * a.splits + blockIdx.y) * a.L + row.i) * (a.Ev + 2);
        part[2 + d] = total;
        if (d == 0) { part[0] = M; part[1] = sm_row[m * 2 + 1]; }
      }
    }
    __syncthreads();  // the next pass's copies overwrite the partials
  }
}

// One block per (batch, head, row): merges the chunks, normalises, writes out
// and lse. Each chunk's weight exp(m_s - M) is computed once, in shared memory.
template <typename T>
__global__ void decode_merge(DecodeArgs a, const float* ws, T* Out, float* Lse) {
  const int64_t row = blockIdx.x, i = row % a.L, bh = row / a.L, b = bh / a.Hq, h = bh % a.Hq;
  __shared__ float weight[kMaxSplits];
  __shared__ float total;
  wait_for_previous_grid();  // launched while the partial kernel runs (launch_dependent)
  auto part = [&](int64_t s) { return ws + ((bh * a.splits + s) * a.L + i) * (a.Ev + 2); };
  if (threadIdx.x < 32) {  // one warp: the chunks' max, their weights and the total
    float M = -INFINITY;
    for (int64_t s = threadIdx.x; s < a.splits; s += 32) M = fmaxf(M, part(s)[0]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    float sum = 0.0f;
    for (int64_t s = threadIdx.x; s < a.splits; s += 32) {
      const float* p = part(s);
      weight[s] = p[0] == -INFINITY ? 0.0f : __expf(p[0] - M);
      sum += weight[s] * p[1];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (threadIdx.x == 0) {
      total = sum;
      Lse[b * a.lse[0] + h * a.lse[1] + i * a.lse[2]] = sum > 0.0f ? M + __logf(sum) : -INFINITY;
    }
  }
  __syncthreads();
  T* out = Out + b * a.out[0] + h * a.out[1] + i * a.out[2];
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  for (int64_t d = threadIdx.x; d < a.Ev; d += blockDim.x) {
    float o = 0.0f;
#pragma unroll 8
    for (int64_t s = 0; s < a.splits; ++s) o += weight[s] * part(s)[2 + d];
    out[d] = store_as<T>(o * inv);
  }
}

// Query heads that share a key head go to one block, up to 4 of them.
int heads_per_block(int64_t group) { return group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1; }

// Whether K or V rows are `len` dense 16-bit elements, each row starting on a
// 16-byte boundary: what the tensor-core kernel stages by cp.async.
bool rows_of_pieces(const gems_tensor& d, int64_t len) {  // 8 elements: 16 bytes of a 16-bit type
  return d.sizes[3] == len && d.strides[3] == 1 && d.strides[2] % 8 == 0 && d.strides[1] % 8 == 0 &&
         d.strides[0] % 8 == 0 && reinterpret_cast<uintptr_t>(base_ptr(d)) % 16 == 0;
}

// Whether the tensor-core kernel serves these operands (head dims 64, 128, 256).
bool tensor_cores_serve(const DecodeArgs& a, const gems_tensor* t) {
  return a.E == a.Ev && (a.E == 64 || a.E == 128 || a.E == 256) && rows_of_pieces(t[3], a.E) &&
         rows_of_pieces(t[4], a.E);
}

template <typename T, int kPerLane, int kGroup>
void launch_partial(const DecodeArgs& a, const gems_tensor* t, float* ws, cudaStream_t stream, bool tensor_cores) {
  auto p = [](const gems_tensor& d) { return reinterpret_cast<T*>(base_ptr(d)); };
  const dim3 grid(static_cast<unsigned>(a.B * a.Hq / kGroup), static_cast<unsigned>(a.splits));
  const T* bias = t[5].data ? p(t[5]) : nullptr;
  if constexpr (kPerLane >= 2) {
    constexpr int kDim = 32 * kPerLane;
    constexpr size_t shared = mma_shared_bytes<kDim, T>();
    auto run = [&](auto kernel) {
      if (!allow_shared(kernel, shared)) return false;
      kernel<<<grid, kWarps * 32, shared, stream>>>(a, p(t[2]), p(t[3]), p(t[4]), bias, ws, p(t[0]),
                                                    reinterpret_cast<float*>(base_ptr(t[1])));
      return true;
    };
    if (tensor_cores && (a.L * kGroup <= 8 ? run(decode_partial_mma<T, kDim, kGroup, 8>)
                                           : run(decode_partial_mma<T, kDim, kGroup, 16>)))
      return;
  }
  auto slices = [&](const gems_tensor& d) {  // rows of exactly 32 slices, each aligned for one load
    return d.sizes[3] == 32 * kPerLane && d.strides[3] == 1 && d.strides[2] % kPerLane == 0 &&
           d.strides[1] % kPerLane == 0 && d.strides[0] % kPerLane == 0 &&
           reinterpret_cast<uintptr_t>(base_ptr(d)) % (sizeof(T) * kPerLane) == 0;
  };
  // kKeys rows of K and of V a lane keeps in flight: as many as fit in 128 registers beside the group's state
  constexpr int kKeys = kGroup * kPerLane <= 8 ? 8 : kGroup * kPerLane <= 16 ? 4 : 2;
  if (slices(t[3]) && slices(t[4]))
    decode_partial<T, kPerLane, kKeys, true, kGroup><<<grid, kWarps * 32, 0, stream>>>(a, p(t[2]), p(t[3]), p(t[4]),
                                                                                       bias, ws);
  else
    decode_partial<T, kPerLane, kKeys / 2 ? kKeys / 2 : 1, false, kGroup><<<grid, kWarps * 32, 0, stream>>>(
        a, p(t[2]), p(t[3]), p(t[4]), bias, ws);
}

template <typename T, int kPerLane>
void launch(const DecodeArgs& a, const gems_tensor* t, float* ws, cudaStream_t stream, bool tensor_cores) {
  auto p = [](const gems_tensor& d) { return reinterpret_cast<T*>(base_ptr(d)); };
  switch (heads_per_block(a.group)) {
    case 4: launch_partial<T, kPerLane, 4>(a, t, ws, stream, tensor_cores); break;
    case 2: launch_partial<T, kPerLane, 2>(a, t, ws, stream, tensor_cores); break;
    default: launch_partial<T, kPerLane, 1>(a, t, ws, stream, tensor_cores);
  }
  if (tensor_cores && a.splits == 1) return;  // the partial kernel wrote the output
  launch_dependent(decode_merge<T>, dim3(static_cast<unsigned>(a.B * a.Hq * a.L)), dim3(128), stream, a,
                   static_cast<const float*>(ws), p(t[0]), reinterpret_cast<float*>(base_ptr(t[1])));
}

}  // namespace

bool attention_decode_serves(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  return t[2].sizes[2] <= kMaxRows && t[2].sizes[3] <= kMaxDim && t[4].sizes[3] <= kMaxDim &&
         t[1].dtype == GEMS_FLOAT32;
}

int attention_decode(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  DecodeArgs a{};
  a.B = t[2].sizes[0]; a.Hq = t[2].sizes[1]; a.L = t[2].sizes[2]; a.E = t[2].sizes[3];
  a.Hkv = t[3].sizes[1]; a.S = t[3].sizes[2]; a.Ev = t[4].sizes[3];
  a.group = a.Hq / a.Hkv;
  a.scale = static_cast<float>(c->scalars[0].f);
  a.causal = c->scalars[1].i != 0;
  a.has_bias = t[5].data != nullptr;
  for (int d = 0; d < 4; ++d) {
    a.q[d] = t[2].strides[d]; a.k[d] = t[3].strides[d]; a.v[d] = t[4].strides[d]; a.out[d] = t[0].strides[d];
    a.bias[d] = a.has_bias ? t[5].strides[d] : 0;
  }
  for (int d = 0; d < 3; ++d) a.lse[d] = t[1].strides[d];
  const int64_t heads = a.B * a.Hq, blocks = heads / heads_per_block(a.group);
  const bool tensor_cores = tensor_cores_serve(a, t);
  if (tensor_cores) {
    // At most one wave: no more blocks than fit on the SMs at once (shared
    // memory bounds them; a second, partial wave would double the time), each
    // streaming a long run of tiles; at most kMaxSplits chunks a row.
    const int64_t want = std::max<int64_t>(1, mma_resident(static_cast<int>(a.E)) * num_sms() / blocks);
    a.chunk = std::max<int64_t>({kMmaTileKeys, (a.S + want - 1) / want, (a.S + kMaxSplits - 1) / kMaxSplits});
    a.chunk = (a.chunk + kMmaTileKeys - 1) / kMmaTileKeys * kMmaTileKeys;
  } else {
    // Enough chunks for about 16 blocks per SM (each warp walks its keys one
    // tile after another, so many warps must be in flight), each at least 32
    // keys, at most kMaxSplits of them.
    const int64_t want = std::max<int64_t>(1, (16 * num_sms() + blocks - 1) / blocks);
    a.chunk = std::max<int64_t>({32, (a.S + want - 1) / want, (a.S + kMaxSplits - 1) / kMaxSplits});
  }
  a.splits = (a.S + a.chunk - 1) / a.chunk;
  const bool direct = tensor_cores && a.splits == 1;  // no partials to merge
  const size_t bytes = direct ? 0 : static_cast<size_t>(heads * a.splits * a.L * (a.Ev + 2)) * sizeof(float);
  cudaStream_t stream = stream_of(c);
  float* ws = nullptr;
  if (int status = scratch_malloc(reinterpret_cast<void**>(&ws), bytes, stream)) return status;
  const int per_lane = static_cast<int>((std::max(a.E, a.Ev) + 31) / 32);
  const bool ok = dispatch_dtype<kHalfTypes>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (per_lane <= 1) launch<T, 1>(a, t, ws, stream, tensor_cores);
    else if (per_lane <= 2) launch<T, 2>(a, t, ws, stream, tensor_cores);
    else if (per_lane <= 4) launch<T, 4>(a, t, ws, stream, tensor_cores);
    else launch<T, 8>(a, t, ws, stream, tensor_cores);
  });
  scratch_free(ws, stream);
  return ok ? launch_status("attention") : unsupported_dtype("attention", t[2].dtype);
}

}  // namespace gems::nvidia
