// The nvidia vendor's elementwise engine. One launcher serves every pointwise
// op: it coalesces the operands' dims on the host, then runs either a
// vectorized kernel (all operands contiguous and 16-byte aligned: one 16-byte
// load per operand per step) or a stride-aware one. Ops are small functors.
#pragma once
#include <algorithm>
#include <utility>

#include "cuda_common.cuh"

namespace gems::nvidia {

// N operands of one shape, dims coalesced, strides in elements.
template <int N>
struct StridedShape {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[GEMS_MAX_DIMS];
  int64_t strides[N][GEMS_MAX_DIMS];

  explicit StridedShape(const gems_tensor* const* ops) {
    const gems_tensor& shape = *ops[0];
    for (int d = 0; d < shape.ndim; ++d) numel *= shape.sizes[d];
    // Keep non-trivial dims, innermost last, merging dims that every
    // operand walks as one run.
    for (int d = 0; d < shape.ndim; ++d) {
      if (shape.sizes[d] == 1) continue;
      if (ndim > 0) {
        bool merge = true;
        for (int k = 0; k < N; ++k) merge &= strides[k][ndim - 1] == ops[k]->strides[d] * shape.sizes[d];
        if (merge) {
          sizes[ndim - 1] *= shape.sizes[d];
          for (int k = 0; k < N; ++k) strides[k][ndim - 1] = ops[k]->strides[d];
          continue;
        }
      }
      sizes[ndim] = shape.sizes[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = ops[k]->strides[d];
      ++ndim;
    }
  }

  bool contiguous() const {
    if (ndim == 0) return true;
    if (ndim != 1) return false;
    for (int k = 0; k < N; ++k)
      if (strides[k][0] != 1) return false;
    return true;
  }
};

template <int N>
__device__ __forceinline__ void offsets_of(const StridedShape<N>& s, int64_t linear, int64_t* off) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    const int64_t i = linear % s.sizes[d];
    linear /= s.sizes[d];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += i * s.strides[k][d];
  }
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// Loads a vector that the kernel reads once: streaming (ld.global.cs,
// evict-first in L1 and L2), so its line is the first the L2 recycles for the
// next load, and what the L2 held before (lines another kernel just wrote, not
// yet written back) stays instead of being written back to make room for data
// that is used once. For reads of up to a few times the L2 (streams_reads()).
template <typename W>
__device__ __forceinline__ W load_once(const W* p) {
  W w;
  if constexpr (sizeof(W) == 16 && alignof(W) == 16) {
    const uint4 u = __ldcs(reinterpret_cast<const uint4*>(p));
    memcpy(&w, &u, 16);
  } else if constexpr (sizeof(W) == 8 && alignof(W) == 8) {
    const uint2 u = __ldcs(reinterpret_cast<const uint2*>(p));
    memcpy(&w, &u, 8);
  } else {
    w = *p;
  }
  return w;
}

// Whether a kernel that reads `bytes` once should load them by load_once().
// What streaming saves is the write-back of the dirty lines a read would
// evict, at most the L2's size; on reads many times the L2 it costs a little.
// Measured on an H100 (50 MB of L2) after a 256 MB write, row sums of float:
// 17 MB 1.07x faster, 67 MB 1.18x, 134 MB 1.10x, 268 MB 1.02x, 524 MB 0.97x.
inline bool streams_reads(int64_t bytes) {
  return bytes <= 4 * int64_t{device_attribute<cudaDevAttrL2CacheSize>()};
}

constexpr int kBlock = 256;

inline int grid_for(int64_t work) {
  const int64_t blocks = (work + kBlock - 1) / kBlock;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t{num_sms()} * 8)));
}

// ---- contiguous kernels, one per arity ----
// Each thread owns kUnroll 16-byte vectors, a block's threads adjacent ones,
// and issues all their loads before any arithmetic, so that enough bytes are
// in flight to saturate HBM; the grid covers the tensor once (no grid-stride
// loop), the last block also takes the few elements past the last vector.
constexpr int kUnroll = 4;

inline int grid_for_tiles(int64_t vectors) {
  const int64_t per_block = int64_t{kBlock} * kUnroll;
  return static_cast<int>(std::max<int64_t>(1, (vectors + per_block - 1) / per_block));
}

// The tile loop shared by every arity: load(u, i) fetches vector i into slot
// u, apply(u, j) computes element j of slot u, tail(i) one trailing element.
template <int V, typename O, typename Load, typename Apply, typename Tail>
__device__ __forceinline__ void contiguous_tile(int64_t n, O* out, Load load, Apply apply, Tail tail) {
  const int64_t nvec = n / V;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x * kUnroll + threadIdx.x;
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int64_t i = first + int64_t{u} * blockDim.x;
    if (i < nvec) load(u, i);
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int64_t i = first + int64_t{u} * blockDim.x;
    if (i < nvec) {
      Vec<O, V> vo;
#pragma unroll
      for (int j = 0; j < V; ++j) vo.v[j] = apply(u, j);
      reinterpret_cast<Vec<O, V>*>(out)[i] = vo;
    }
  }
  if (blockIdx.x == gridDim.x - 1)
    for (int64_t i = nvec * V + threadIdx.x; i < n; i += blockDim.x) out[i] = tail(i);
}

template <int V, typename F, typename O, typename A>
__global__ void contiguous1(int64_t n, F f, O* out, const A* a) {
  Vec<A, V> va[kUnroll];
  contiguous_tile<V>(
      n, out, [&](int u, int64_t i) { va[u] = reinterpret_cast<const Vec<A, V>*>(a)[i]; },
      [&](int u, int j) { return f(va[u].v[j]); }, [&](int64_t i) { return f(a[i]); });
}

template <int V, typename F, typename O, typename A, typename B>
__global__ void contiguous2(int64_t n, F f, O* out, const A* a, const B* b) {
  Vec<A, V> va[kUnroll];
  Vec<B, V> vb[kUnroll];
  contiguous_tile<V>(
      n, out,
      [&](int u, int64_t i) {
        va[u] = reinterpret_cast<const Vec<A, V>*>(a)[i];
        vb[u] = reinterpret_cast<const Vec<B, V>*>(b)[i];
      },
      [&](int u, int j) { return f(va[u].v[j], vb[u].v[j]); }, [&](int64_t i) { return f(a[i], b[i]); });
}

template <int V, typename F, typename O, typename A, typename B, typename C>
__global__ void contiguous3(int64_t n, F f, O* out, const A* a, const B* b, const C* c) {
  Vec<A, V> va[kUnroll];
  Vec<B, V> vb[kUnroll];
  Vec<C, V> vc[kUnroll];
  contiguous_tile<V>(
      n, out,
      [&](int u, int64_t i) {
        va[u] = reinterpret_cast<const Vec<A, V>*>(a)[i];
        vb[u] = reinterpret_cast<const Vec<B, V>*>(b)[i];
        vc[u] = reinterpret_cast<const Vec<C, V>*>(c)[i];
      },
      [&](int u, int j) { return f(va[u].v[j], vb[u].v[j], vc[u].v[j]); },
      [&](int64_t i) { return f(a[i], b[i], c[i]); });
}

// ---- 2-D operands whose inner dim is contiguous or broadcast ----
// (e.g. a [R, C] tensor times a [C] vector): vectorized along rows, one grid
// row per matrix row, no index division.
template <typename T>
struct RowOperand {
  const T* p;
  int64_t row_stride;
  bool broadcast_inner;  // inner stride 0: one value per row
};

template <int V, typename T>
__device__ __forceinline__ Vec<T, V> row_load(const RowOperand<T>& o, int64_t r, int64_t c) {
  const T* base = o.p + r * o.row_stride;
  if (o.broadcast_inner) {
    Vec<T, V> v;
    const T x = base[0];
#pragma unroll
    for (int j = 0; j < V; ++j) v.v[j] = x;
    return v;
  }
  return *reinterpret_cast<const Vec<T, V>*>(base + c);
}

template <int V, typename F, typename O, typename A>
__global__ void rows1(int64_t R, int64_t C, F f, O* out, int64_t so, RowOperand<A> a) {
  for (int64_t r = blockIdx.y; r < R; r += gridDim.y)
    for (int64_t c = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) * V; c < C; c += int64_t{gridDim.x} * blockDim.x * V) {
      const Vec<A, V> va = row_load<V>(a, r, c);
      Vec<O, V> vo;
#pragma unroll
      for (int j = 0; j < V; ++j) vo.v[j] = f(va.v[j]);
      *reinterpret_cast<Vec<O, V>*>(out + r * so + c) = vo;
    }
}

template <int V, typename F, typename O, typename A, typename B>
__global__ void rows2(int64_t R, int64_t C, F f, O* out, int64_t so, RowOperand<A> a, RowOperand<B> b) {
  for (int64_t r = blockIdx.y; r < R; r += gridDim.y)
    for (int64_t c = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) * V; c < C; c += int64_t{gridDim.x} * blockDim.x * V) {
      const Vec<A, V> va = row_load<V>(a, r, c);
      const Vec<B, V> vb = row_load<V>(b, r, c);
      Vec<O, V> vo;
#pragma unroll
      for (int j = 0; j < V; ++j) vo.v[j] = f(va.v[j], vb.v[j]);
      *reinterpret_cast<Vec<O, V>*>(out + r * so + c) = vo;
    }
}

template <int V, typename F, typename O, typename A, typename B, typename C3>
__global__ void rows3(int64_t R, int64_t C, F f, O* out, int64_t so, RowOperand<A> a, RowOperand<B> b,
                      RowOperand<C3> c3) {
  for (int64_t r = blockIdx.y; r < R; r += gridDim.y)
    for (int64_t c = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) * V; c < C; c += int64_t{gridDim.x} * blockDim.x * V) {
      const Vec<A, V> va = row_load<V>(a, r, c);
      const Vec<B, V> vb = row_load<V>(b, r, c);
      const Vec<C3, V> vc = row_load<V>(c3, r, c);
      Vec<O, V> vo;
#pragma unroll
      for (int j = 0; j < V; ++j) vo.v[j] = f(va.v[j], vb.v[j], vc.v[j]);
      *reinterpret_cast<Vec<O, V>*>(out + r * so + c) = vo;
    }
}

// ---- the stride-aware kernel (any arity) ----
template <typename F, typename O, typename... In, size_t... I>
__device__ __forceinline__ void apply_at(const F& f, O* out, const int64_t* off, std::index_sequence<I...>,
                                         const In*... in) {
  out[off[0]] = f(in[off[I + 1]]...);
}

template <typename F, typename O, typename... In>
__global__ void strided(StridedShape<1 + sizeof...(In)> s, F f, O* out, const In*... in) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < s.numel; i += stride) {
    int64_t off[1 + sizeof...(In)];
    offsets_of(s, i, off);
    apply_at(f, out, off, std::index_sequence_for<In...>{}, in...);
  }
}

template <int V, typename... P>
bool aligned(const P*... p) {
  return ((reinterpret_cast<uintptr_t>(p) % (sizeof(P) * V) == 0) && ...);
}

template <typename... T>
constexpr int vec_width() {
  constexpr size_t biggest = std::max({sizeof(T)...});
  return static_cast<int>(16 / biggest) < 1 ? 1 : static_cast<int>(16 / biggest);
}

// Whether the rows kernels serve this shape: 2-D, the output's rows dense,
// every input's inner dim dense or broadcast, everything V-aligned.
template <int V, typename O, typename... In>
bool rows_fit(const StridedShape<1 + sizeof...(In)>& s, const O* po, const char* const* pin) {
  constexpr int N = 1 + sizeof...(In);
  if (V == 1 || s.ndim != 2 || s.sizes[1] % V != 0 || s.strides[0][1] != 1 || s.strides[0][0] % V != 0) return false;
  if (reinterpret_cast<uintptr_t>(po) % (sizeof(O) * V) != 0) return false;
  constexpr size_t sizes[] = {sizeof(In)...};
  for (int k = 1; k < N; ++k) {
    if (s.strides[k][1] != 1 && s.strides[k][1] != 0) return false;
    if (s.strides[k][1] == 1 && (s.strides[k][0] % V != 0 ||
                                 reinterpret_cast<uintptr_t>(pin[k - 1]) % (sizes[k - 1] * V) != 0))
      return false;
  }
  return true;
}

template <typename... In, size_t... I, typename Fn>
void with_row_operands(const StridedShape<1 + sizeof...(In)>& s, const char* const* pin, std::index_sequence<I...>,
                       Fn&& fn) {
  fn(RowOperand<In>{reinterpret_cast<const In*>(pin[I]), s.strides[I + 1][0], s.strides[I + 1][1] == 0}...);
}

// Calls fn with the raw input pointers cast to their element types.
template <typename... In, size_t... I, typename Fn>
void with_typed(const char* const* pin, std::index_sequence<I...>, Fn&& fn) {
  fn(reinterpret_cast<const In*>(pin[I])...);
}

// out[i] = f(in[i]...) over same-shaped (broadcast) operands.
template <typename O, typename... In, typename F>
void map_elements(const gems_tensor& out, const gems_tensor* const* ins, F f, cudaStream_t stream) {
  constexpr int N = 1 + sizeof...(In);
  static_assert(N >= 2 && N <= 4, "map_elements serves 1 to 3 inputs");
  const gems_tensor* ops[N];
  ops[0] = &out;
  for (int k = 1; k < N; ++k) ops[k] = ins[k - 1];
  StridedShape<N> s(ops);
  if (s.numel == 0) return;
  O* po = reinterpret_cast<O*>(base_ptr(out));
  const char* pin[N - 1];
  for (int k = 1; k < N; ++k) pin[k - 1] = base_ptr(*ins[k - 1]);
  constexpr int V = vec_width<O, In...>();
  auto launch_contiguous = [&](auto vec_tag, auto... typed) {
    constexpr int W = decltype(vec_tag)::value;
    const int grid = grid_for_tiles(s.numel / W);
    if constexpr (N == 2) contiguous1<W><<<grid, kBlock, 0, stream>>>(s.numel, f, po, typed...);
    if constexpr (N == 3) contiguous2<W><<<grid, kBlock, 0, stream>>>(s.numel, f, po, typed...);
    if constexpr (N == 4) contiguous3<W><<<grid, kBlock, 0, stream>>>(s.numel, f, po, typed...);
  };
  auto typed_inputs = [&](auto&& fn) { with_typed<In...>(pin, std::index_sequence_for<In...>{}, fn); };
  if (s.contiguous()) {
    typed_inputs([&](const In*... typed) {
      if (aligned<V>(po, typed...)) launch_contiguous(std::integral_constant<int, V>{}, typed...);
      else launch_contiguous(std::integral_constant<int, 1>{}, typed...);
    });
    return;
  }
  if (rows_fit<V, O, In...>(s, po, pin)) {
    const int64_t R = s.sizes[0], C = s.sizes[1];
    const dim3 block(std::min<int64_t>(kBlock, std::max<int64_t>(32, C / V)));
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((C / V + block.x - 1) / block.x, 1024)),
                    static_cast<unsigned>(std::min<int64_t>(R, 65535)));
    with_row_operands<In...>(s, pin, std::index_sequence_for<In...>{}, [&](auto... ops) {
      if constexpr (N == 2) rows1<V><<<grid, block, 0, stream>>>(R, C, f, po, s.strides[0][0], ops...);
      if constexpr (N == 3) rows2<V><<<grid, block, 0, stream>>>(R, C, f, po, s.strides[0][0], ops...);
      if constexpr (N == 4) rows3<V><<<grid, block, 0, stream>>>(R, C, f, po, s.strides[0][0], ops...);
    });
    return;
  }
  typed_inputs([&](const In*... typed) {
    strided<F, O, In...><<<grid_for(s.numel), kBlock, 0, stream>>>(s, f, po, typed...);
  });
}

}  // namespace gems::nvidia
