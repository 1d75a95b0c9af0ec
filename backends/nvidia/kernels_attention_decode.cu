// Attention for a few query rows against many keys: the decode step of a
// language model (one new token against its KV cache). cuDNN builds a graph
// per shape, and a KV cache grows by one key every step, so these shapes get
// a kernel of their own: split-K "flash decoding". The keys are cut into
// chunks; a block per (batch, head, chunk) keeps an online softmax per warp
// and writes an unnormalised partial result; a second kernel merges the
// chunks. Operands are as in the "attention" entry of the reference table.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "cuda_common.cuh"
#include "kernels.h"
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

// A block per (batch, group of kGroup query heads sharing one key head, chunk):
// the group's heads read each K and V row once (grouped-query attention).
template <typename T, int kPerLane, int kKeys, bool kContiguous, int kGroup>
__global__ void __launch_bounds__(kWarps * 32, 4)  // at most 128 registers: 4 blocks an SM
    decode_partial(DecodeArgs a, const T* Q, const T* K, const T* V, const T* Bias, float* ws) {
  const int64_t blocks_per_batch = a.Hq / kGroup;
  const int64_t b = blockIdx.x / blocks_per_batch, h0 = blockIdx.x % blocks_per_batch * kGroup, hk = h0 / a.group;
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * a.chunk, j1 = min(a.S, j0 + a.chunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __shared__ float sm_m[kWarps], sm_l[kWarps], sm_acc[kWarps][kMaxDim];
  const T* k = K + b * a.k[0] + hk * a.k[1];
  const T* v = V + b * a.v[0] + hk * a.v[1];
  for (int64_t i = 0; i < a.L; ++i) {
    float q[kGroup][kPerLane], acc[kGroup][kPerLane], m[kGroup], l[kGroup];
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
    const int64_t jend = a.causal ? min(j1, i + 1) : j1;
    // kKeys keys a step (this warp's j, j + kWarps, ...): all their K and V
    // loads are issued before any is used, so that a warp keeps kKeys rows of
    // each in flight (a decode step is bound by how many bytes are in flight).
    for (int64_t j = j0 + warp; j < jend; j += kKeys * kWarps) {
      LaneSlice<T, kPerLane> kr[kKeys], vr[kKeys];  // raw: half the registers of floats
#pragma unroll
      for (int u = 0; u < kKeys; ++u) {
        const int64_t ju = min(j + u * kWarps, jend - 1);  // past the end: reload the last key, masked below
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
      // head by head, so that only one head's scores are live beside the tiles
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
    // Merge the warps' running (max, sum, acc) into one partial for this chunk, head by head.
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
}

// One block per (batch, head, row): merges the chunks, normalises, writes out
// and lse. Each chunk's weight exp(m_s - M) is computed once, in shared memory.
template <typename T>
__global__ void decode_merge(DecodeArgs a, const float* ws, T* Out, float* Lse) {
  const int64_t row = blockIdx.x, i = row % a.L, bh = row / a.L, b = bh / a.Hq, h = bh % a.Hq;
  __shared__ float weight[kMaxSplits];
  __shared__ float total;
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

template <typename T, int kPerLane, int kGroup>
void launch_partial(const DecodeArgs& a, const gems_tensor* t, float* ws, cudaStream_t stream, bool contiguous) {
  auto p = [](const gems_tensor& d) { return reinterpret_cast<T*>(base_ptr(d)); };
  const dim3 grid(static_cast<unsigned>(a.B * a.Hq / kGroup), static_cast<unsigned>(a.splits));
  // kKeys rows of K and of V a lane keeps in flight: as many as fit in 128 registers beside the group's state
  constexpr int kKeys = kGroup * kPerLane <= 8 ? 8 : kGroup * kPerLane <= 16 ? 4 : 2;
  if (contiguous)
    decode_partial<T, kPerLane, kKeys, true, kGroup><<<grid, kWarps * 32, 0, stream>>>(
        a, p(t[2]), p(t[3]), p(t[4]), t[5].data ? p(t[5]) : nullptr, ws);
  else
    decode_partial<T, kPerLane, kKeys / 2 ? kKeys / 2 : 1, false, kGroup><<<grid, kWarps * 32, 0, stream>>>(
        a, p(t[2]), p(t[3]), p(t[4]), t[5].data ? p(t[5]) : nullptr, ws);
}

template <typename T, int kPerLane>
void launch(const DecodeArgs& a, const gems_tensor* t, float* ws, cudaStream_t stream) {
  auto p = [](const gems_tensor& d) { return reinterpret_cast<T*>(base_ptr(d)); };
  auto slices = [&](const gems_tensor& d) {  // rows of exactly 32 slices, each aligned for one load
    return d.sizes[3] == 32 * kPerLane && d.strides[3] == 1 && d.strides[2] % kPerLane == 0 &&
           d.strides[1] % kPerLane == 0 && d.strides[0] % kPerLane == 0 &&
           reinterpret_cast<uintptr_t>(base_ptr(d)) % (sizeof(T) * kPerLane) == 0;
  };
  const bool contiguous = slices(t[3]) && slices(t[4]);
  switch (heads_per_block(a.group)) {
    case 4: launch_partial<T, kPerLane, 4>(a, t, ws, stream, contiguous); break;
    case 2: launch_partial<T, kPerLane, 2>(a, t, ws, stream, contiguous); break;
    default: launch_partial<T, kPerLane, 1>(a, t, ws, stream, contiguous);
  }
  decode_merge<T><<<static_cast<unsigned>(a.B * a.Hq * a.L), 128, 0, stream>>>(
      a, ws, p(t[0]), reinterpret_cast<float*>(base_ptr(t[1])));
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
  // Enough chunks for about 16 blocks per SM (each warp walks its keys one
  // tile after another, so many warps must be in flight), each at least 32
  // keys, at most kMaxSplits of them.
  const int64_t heads = a.B * a.Hq, blocks = heads / heads_per_block(a.group);
  const int64_t want = std::max<int64_t>(1, (16 * num_sms() + blocks - 1) / blocks);
  a.chunk = std::max<int64_t>({32, (a.S + want - 1) / want, (a.S + kMaxSplits - 1) / kMaxSplits});
  a.splits = (a.S + a.chunk - 1) / a.chunk;
  const size_t bytes = static_cast<size_t>(heads * a.splits * a.L * (a.Ev + 2)) * sizeof(float);
  cudaStream_t stream = stream_of(c);
  float* ws = nullptr;
  if (int status = scratch_malloc(reinterpret_cast<void**>(&ws), bytes, stream)) return status;
  const int per_lane = static_cast<int>((std::max(a.E, a.Ev) + 31) / 32);
  const bool ok = dispatch_dtype<kHalfTypes>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (per_lane <= 1) launch<T, 1>(a, t, ws, stream);
    else if (per_lane <= 2) launch<T, 2>(a, t, ws, stream);
    else if (per_lane <= 4) launch<T, 4>(a, t, ws, stream);
    else launch<T, 8>(a, t, ws, stream);
  });
  scratch_free(ws, stream);
  return ok ? launch_status("attention") : unsupported_dtype("attention", t[2].dtype);
}

}  // namespace gems::nvidia
