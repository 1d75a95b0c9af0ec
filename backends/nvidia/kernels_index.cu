// Gathers, membership (isin), triangular masks (tril), ranges and counter-based
// random numbers. The random generator is the same SplitMix64 construction as
// the cpu vendor's, so a seed gives the same numbers on every vendor.
#include "../common/cat_slices.h"
#include "../common/random.h"
#include "kernels.h"
#include "reduce.cuh"

namespace gems::nvidia {
namespace {

// Out-of-range indices cannot raise from a kernel: they read as zeros here
// and are recorded (errors; the core raises at its next wait). report_dim: the
// dim the error message names, -1 for index_select's words.
template <typename T, typename I>
__global__ void index_select_kernel(StridedShape<2> s, int dim_pos, int64_t src_size, const I* index, int64_t is,
                                    bool from_end, int64_t out_dim_stride, int64_t src_dim_stride, T* out,
                                    const T* src, KernelErrors* errors, int report_dim) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < s.numel; i += stride) {
    // linear index over [outer..., n_index, inner...] with the index dim at dim_pos
    int64_t rem = i, out_off = 0, src_off = 0;
    bool valid = true;
    for (int d = s.ndim - 1; d >= 0; --d) {
      const int64_t k = rem % s.sizes[d];
      rem /= s.sizes[d];
      if (d == dim_pos) {
        const int64_t given = static_cast<int64_t>(index[k * is]);
        const int64_t v = given + (from_end && given < 0 ? src_size : 0);
        valid = v >= 0 && v < src_size;
        if (!valid) record_kernel_error(errors, GEMS_KERNEL_ERROR_INDEX, given, report_dim, src_size);
        out_off += k * out_dim_stride;
        src_off += v * src_dim_stride;
      } else {
        out_off += k * s.strides[0][d];
        src_off += k * s.strides[1][d];
      }
    }
    out[out_off] = valid ? src[src_off] : T();
  }
}

// Row gather (embedding lookups, index_select on dim 0 of row-dense tensors):
// grid row y takes indices y, y + gridDim.y, ...; grid column x a tile of
// kGatherUnroll * blockDim vectors of each (16 bytes when aligned), loads
// issued before the stores. Two vectors a thread and at most 32 registers
// (__launch_bounds__): four vectors and a grid-stride loop took 74 registers,
// an SM held 37% of its threads, and a 4096-row bf16 embedding ran at 2.1 TB/s.
// An out-of-range id reads as a zero row and is recorded (as above).
constexpr int kGatherUnroll = 2;

template <int V, typename T, typename I>
__global__ void __launch_bounds__(kBlock, 2048 / kBlock)
    gather_rows(int64_t n_index, int64_t nvec, const I* index, int64_t is, bool from_end, int64_t src_rows,
                const T* src, int64_t ss, T* out, int64_t os, KernelErrors* errors, int report_dim) {
  using W = Vec<T, V>;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x * kGatherUnroll + threadIdx.x;
  for (int64_t r = blockIdx.y; r < n_index; r += gridDim.y) {
    const int64_t given = static_cast<int64_t>(index[r * is]);
    const int64_t v = given + (from_end && given < 0 ? src_rows : 0);
    const bool valid = v >= 0 && v < src_rows;
    if (!valid && first == threadIdx.x)  // one thread of the row's first block
      record_kernel_error(errors, GEMS_KERNEL_ERROR_INDEX, given, report_dim, src_rows);
    const W* from = reinterpret_cast<const W*>(src + (valid ? v : 0) * ss) + first;
    W* to = reinterpret_cast<W*>(out + r * os) + first;
    W x[kGatherUnroll];
#pragma unroll
    for (int u = 0; u < kGatherUnroll; ++u)
      if (first + u * blockDim.x < nvec) x[u] = from[u * blockDim.x];
#pragma unroll
    for (int u = 0; u < kGatherUnroll; ++u)
      if (first + u * blockDim.x < nvec) {
        if (!valid)
#pragma unroll
          for (int j = 0; j < V; ++j) x[u].v[j] = T();
        to[u * blockDim.x] = x[u];
      }
  }
}

// Whether dims [first, ndim) of t are row-major contiguous (dims of size 1
// aside): from 1, t's rows are dense (row gather); from 0, all of t (cat).
bool dense_from(const gems_tensor& t, int first) {
  int64_t expect = 1;
  for (int d = t.ndim - 1; d >= first; --d) {
    if (t.sizes[d] != 1 && t.strides[d] != expect) return false;
    expect *= t.sizes[d];
  }
  return true;
}

// isin: every element against every test value, the test values staged
// through shared memory a tile at a time (test sets are small: token ids).
constexpr int kTestTile = 1024;

template <typename T>
__global__ void isin_kernel(StridedShape<2> s, bool* out, const T* elements, const T* test, int64_t m, int64_t ts,
                            bool invert) {
  using A = acc_t<T>;
  __shared__ A tile[kTestTile];
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  int64_t off[2] = {0, 0};
  A x = A(0);
  if (i < s.numel) {
    offsets_of(s, i, off);
    x = load_as<A>(elements[off[1]]);
  }
  bool found = false;
  for (int64_t base = 0; base < m; base += kTestTile) {
    const int64_t count = min(int64_t{kTestTile}, m - base);
    __syncthreads();  // the previous tile is no longer read
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) tile[j] = load_as<A>(test[(base + j) * ts]);
    __syncthreads();
    for (int64_t j = 0; j < count && !found; ++j) found = x == tile[j];
  }
  if (i < s.numel) out[off[0]] = found != invert;
}

// tril/triu over the last two dims [R, C] of any strides; outer dims by offsets_of.
template <typename T>
__global__ void tril_kernel(StridedShape<2> outer, int64_t R, int64_t C, int64_t ors, int64_t ocs, int64_t irs,
                            int64_t ics, T* out, const T* in, int64_t diagonal, bool upper) {
  const int64_t n = outer.numel * R * C, stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t c = i % C, r = (i / C) % R;
    int64_t off[2];
    offsets_of(outer, i / (R * C), off);
    const bool keep = upper ? c - r >= diagonal : c - r <= diagonal;
    out[off[0] + r * ors + c * ocs] = keep ? in[off[1] + r * irs + c * ics] : T(0);
  }
}

template <typename T>
__global__ void arange_kernel(int64_t n, int64_t s, T* out, double start_f, double step_f, int64_t start_i,
                              int64_t step_i) {
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if constexpr (is_float_v<T>) out[i * s] = store_as<T>(static_cast<float>(start_f + static_cast<double>(i) * step_f));
  else out[i * s] = static_cast<T>(start_i + i * step_i);
}

struct Dims {
  int64_t v[GEMS_MAX_DIMS];
};

// Counters follow the row-major order of the output's logical shape.
template <typename T, bool kNormal>
__global__ void random_kernel(StridedShape<1> s, T* out, double a, double b, uint64_t seed, uint64_t offset,
                              int ndim, Dims sizes, Dims strides) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < s.numel; i += stride) {
    int64_t rem = i, off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (rem % sizes.v[d]) * strides.v[d];
      rem /= sizes.v[d];
    }
    const uint64_t ctr = offset + static_cast<uint64_t>(i);
    double v;
    if constexpr (kNormal) {
      const double u1 = 1.0 - uniform01(seed, 2 * ctr), u2 = uniform01(seed, 2 * ctr + 1);
      v = a + b * ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2);
    } else {
      v = a + (b - a) * uniform01(seed, ctr);
    }
    out[off] = store_as<T>(v);
  }
}

template <bool kNormal>
int random_fill(const char* name, const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const gems_tensor* ops[1] = {&out};
    StridedShape<1> s(ops);
    if (s.numel == 0) return;
    Dims sizes{}, strides{};
    for (int d = 0; d < out.ndim; ++d) { sizes.v[d] = out.sizes[d]; strides.v[d] = out.strides[d]; }
    random_kernel<T, kNormal><<<grid_for(s.numel), kBlock, 0, stream_of(c)>>>(
        s, reinterpret_cast<T*>(base_ptr(out)), c->scalars[0].f, c->scalars[1].f,
        static_cast<uint64_t>(c->scalars[2].i), static_cast<uint64_t>(c->scalars[3].i), out.ndim, sizes, strides);
  });
  return ok ? launch_status(name) : unsupported_dtype(name, out.dtype);
}

// cat of dense inputs of out's dtype into a dense out in one launch (two
// copy launches in a row cost a 4096 x 4096 bf16 pair 5% against PyTorch's
// batched copy). Input i is `outer` runs of run[i] 16-byte vectors; run o of
// it lands at vector o * row + at[i] of out. Grid row y copies input y.
constexpr int kCatBatch = 32;  // inputs a launch: the parameters stay small

struct CatBatch {
  const uint4* src[kCatBatch];
  int64_t run[kCatBatch], at[kCatBatch];
  int64_t outer, row;
};

template <bool kOneRun>  // outer == 1 (a cat along the first non-trivial dim): no division a vector
__global__ void __launch_bounds__(kBlock, kOneRun ? 8 : 1) cat_runs(CatBatch b, uint4* out) {
  const int i = blockIdx.y;
  const int64_t run = b.run[i], total = b.outer * run, step = int64_t{gridDim.x} * blockDim.x * kUnroll;
  const uint4* src = b.src[i];
  for (int64_t v0 = int64_t{blockIdx.x} * blockDim.x * kUnroll + threadIdx.x; v0 < total; v0 += step) {
    uint4 x[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (v0 + u * blockDim.x < total) x[u] = src[v0 + u * blockDim.x];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + u * blockDim.x;
      if (v < total) {
        if constexpr (kOneRun) {
          out[b.at[i] + v] = x[u];
        } else {
          const int64_t o = v / run;
          out[o * b.row + b.at[i] + (v - o * run)] = x[u];
        }
      }
    }
  }
}

// Whether t is contiguous from a 16-byte boundary: cat copies it in 16-byte vectors.
bool dense_aligned(const gems_tensor& t) {
  return dense_from(t, 0) && reinterpret_cast<uintptr_t>(base_ptr(t)) % 16 == 0;
}

}  // namespace

// tensors: out, in_0, ..., in_{n-1}; scalars[0].i dim (backends/cpu/kernel_table.cpp).
// Dense inputs of out's dtype whose runs are whole 16-byte vectors go in
// batches of kCatBatch launches; any other call copies input by input.
int k_cat(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const int dim = static_cast<int>(c->scalars[0].i);
  const int64_t es = element_size(out.dtype);
  int64_t outer = 1, inner = es;
  for (int d = 0; d < dim; ++d) outer *= out.sizes[d];
  for (int d = dim + 1; d < out.ndim; ++d) inner *= out.sizes[d];
  bool batch = dense_aligned(out) && outer > 0 && inner > 0;
  for (int k = 1; batch && k < c->num_tensors; ++k) {
    const gems_tensor& in = c->tensors[k];
    batch = in.dtype == out.dtype && dense_aligned(in) && in.sizes[dim] * inner % 16 == 0;
  }
  if (!batch) return copy_cat_slices(c, k_copy);
  const int64_t row = out.sizes[dim] * inner / 16;
  int64_t at = 0;
  for (int first = 1; first < c->num_tensors; first += kCatBatch) {
    CatBatch b{};
    b.outer = outer;
    b.row = row;
    const int n = std::min(kCatBatch, c->num_tensors - first);
    int64_t longest = 0;
    for (int k = 0; k < n; ++k) {
      const gems_tensor& in = c->tensors[first + k];
      b.src[k] = reinterpret_cast<const uint4*>(base_ptr(in));
      b.run[k] = in.sizes[dim] * inner / 16;
      b.at[k] = at;
      at += b.run[k];
      longest = std::max(longest, outer * b.run[k]);
    }
    const int64_t per_block = int64_t{kBlock} * kUnroll;
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((longest + per_block - 1) / per_block, 65535)),
                    static_cast<unsigned>(n));
    if (outer == 1) cat_runs<true><<<grid, kBlock, 0, stream_of(c)>>>(b, reinterpret_cast<uint4*>(base_ptr(out)));
    else cat_runs<false><<<grid, kBlock, 0, stream_of(c)>>>(b, reinterpret_cast<uint4*>(base_ptr(out)));
  }
  return launch_status("cat");
}

int k_index_select(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &self = c->tensors[1], &index = c->tensors[2];
  const int dim = static_cast<int>(c->scalars[0].i);
  const bool from_end = c->num_scalars > 1 && c->scalars[1].i != 0;
  const int report_dim = from_end ? dim : -1;  // indexing's words name the dim, index_select's do not
  const bool ok = dispatch_dtype<kAll>(self.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Walk out's shape; the index dim keeps its own position (no coalescing across it).
    gems_tensor o = out, sv = self;
    if (self.ndim == 0) { o.ndim = sv.ndim = 1; o.sizes[0] = sv.sizes[0] = 1; o.strides[0] = sv.strides[0] = 1; }
    const gems_tensor* ops[2] = {&o, &sv};
    StridedShape<2> s(ops);
    s.ndim = o.ndim;  // not coalesced: the index dim keeps its position
    s.numel = 1;
    for (int d = 0; d < o.ndim; ++d) {
      s.sizes[d] = o.sizes[d];
      s.strides[0][d] = o.strides[d];
      s.strides[1][d] = sv.strides[d];
      s.numel *= o.sizes[d];
    }
    if (s.numel == 0) return;
    const int64_t src_size = sv.sizes[dim];
    const int64_t is = index.ndim ? index.strides[0] : 0;
    if (dim == 0 && dense_from(o, 1) && dense_from(sv, 1)) {
      const int64_t n_index = o.sizes[0], L = s.numel / n_index;
      auto gather = [&](auto itag, auto vtag) {
        using I = typename decltype(itag)::type;
        constexpr int V = decltype(vtag)::value;
        const int64_t nvec = L / V, per_thread = (nvec + kGatherUnroll - 1) / kGatherUnroll;
        const dim3 block(static_cast<unsigned>(std::min<int64_t>(kBlock, std::max<int64_t>(32, (per_thread + 31) / 32 * 32))));
        const dim3 grid(static_cast<unsigned>((per_thread + block.x - 1) / block.x),
                        static_cast<unsigned>(std::min<int64_t>(n_index, 65535)));
        gather_rows<V, T, I><<<grid, block, 0, stream_of(c)>>>(
            n_index, nvec, reinterpret_cast<const I*>(base_ptr(index)), is, from_end, src_size,
            reinterpret_cast<const T*>(base_ptr(sv)), sv.strides[0], reinterpret_cast<T*>(base_ptr(o)), o.strides[0],
            kernel_errors(), report_dim);
      };
      constexpr int V = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T);
      const bool vec = V > 1 && L % V == 0 && sv.strides[0] % V == 0 && o.strides[0] % V == 0 &&
                       reinterpret_cast<uintptr_t>(base_ptr(sv)) % 16 == 0 && reinterpret_cast<uintptr_t>(base_ptr(o)) % 16 == 0;
      auto with_vec = [&](auto itag) {
        if (vec) gather(itag, std::integral_constant<int, V>{});
        else gather(itag, std::integral_constant<int, 1>{});
      };
      if (index.dtype == GEMS_INT32) with_vec(type_tag<int32_t>{});
      else with_vec(type_tag<int64_t>{});
      return;
    }
    auto launch = [&](auto itag) {
      using I = typename decltype(itag)::type;
      index_select_kernel<T, I><<<grid_for(s.numel), kBlock, 0, stream_of(c)>>>(
          s, dim, src_size, reinterpret_cast<const I*>(base_ptr(index)), is, from_end, o.strides[dim], sv.strides[dim],
          reinterpret_cast<T*>(base_ptr(o)), reinterpret_cast<const T*>(base_ptr(sv)), kernel_errors(), report_dim);
    };
    if (index.dtype == GEMS_INT32) launch(type_tag<int32_t>{});
    else launch(type_tag<int64_t>{});
  });
  return ok ? launch_status("index_select") : unsupported_dtype("index_select", self.dtype);
}

namespace {

// Calls fn(type_tag<U>) with the unsigned type U of the dtype's width:
// gathers and scatters move elements as bits. False for a width it lacks.
template <typename F>
bool with_element_width(int32_t dtype, F&& fn) {
  switch (element_size(dtype)) {
    case 1: fn(type_tag<uint8_t>{}); return true;
    case 2: fn(type_tag<uint16_t>{}); return true;
    case 4: fn(type_tag<uint32_t>{}); return true;
    case 8: fn(type_tag<uint64_t>{}); return true;
    default: return false;
  }
}

// The index tensors of a gather: where each is, its width, and the size and
// stride (elements) of the dim of self it picks along.
template <int NI>
struct GatherIndices {
  const void* data[NI];
  bool int32[NI];
  int64_t size[NI], stride[NI], dim[NI];
};

// Elements are copied by size (E is an unsigned integer of the element's
// width). An out-of-range index reads as zero and is recorded, as in index_select above.
template <typename E, int NI>
__global__ void gather_kernel(StridedShape<2 + NI> s, E* out, const E* self, GatherIndices<NI> g, bool from_end,
                              KernelErrors* errors) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < s.numel; i += step) {
    int64_t off[2 + NI];
    offsets_of(s, i, off);
    int64_t src = off[1];
    bool ok = true;
#pragma unroll
    for (int k = 0; k < NI; ++k) {
      const int64_t given = g.int32[k] ? int64_t{static_cast<const int32_t*>(g.data[k])[off[2 + k]]}
                                       : static_cast<const int64_t*>(g.data[k])[off[2 + k]];
      const int64_t v = given + (from_end && given < 0 ? g.size[k] : 0);
      if (v < 0 || v >= g.size[k]) {
        record_kernel_error(errors, GEMS_KERNEL_ERROR_INDEX, given, g.dim[k], g.size[k]);
        ok = false;
      }
      src += v * g.stride[k];
    }
    out[off[0]] = ok ? self[src] : E();
  }
}

template <int NI>
int gather_with(const gems_kernel_call* c) {
  const gems_tensor* ops[2 + NI];
  for (int k = 0; k < 2 + NI; ++k) ops[k] = &c->tensors[k];
  StridedShape<2 + NI> s(ops);
  if (s.numel == 0) return GEMS_OK;
  GatherIndices<NI> g;
  for (int k = 0; k < NI; ++k) {
    g.data[k] = base_ptr(c->tensors[2 + k]);
    g.int32[k] = c->tensors[2 + k].dtype == GEMS_INT32;
    g.dim[k] = c->scalars[1 + 3 * k].i;
    g.size[k] = c->scalars[2 + 3 * k].i;
    g.stride[k] = c->scalars[3 + 3 * k].i;
  }
  const bool from_end = c->scalars[0].i != 0;
  auto launch = [&](auto tag) {
    using E = typename decltype(tag)::type;
    gather_kernel<E, NI><<<grid_for(s.numel), kBlock, 0, stream_of(c)>>>(
        s, reinterpret_cast<E*>(base_ptr(c->tensors[0])), reinterpret_cast<const E*>(base_ptr(c->tensors[1])), g,
        from_end, kernel_errors());
  };
  if (!with_element_width(c->tensors[0].dtype, launch)) return unsupported_dtype("gather", c->tensors[0].dtype);
  return launch_status("gather");
}

}  // namespace

// dest[position + index * stride] = src over index's shape; an out-of-range
// index writes nothing and is recorded. Duplicate indices: one of the writes
// wins, as on PyTorch's CUDA.
template <typename E, typename I>
__global__ void scatter_kernel(StridedShape<3> s, E* dest, const E* src, const I* index, int64_t size,
                               int64_t stride, bool from_end, KernelErrors* errors, int64_t dim) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < s.numel; i += step) {
    int64_t off[3];
    offsets_of(s, i, off);
    const int64_t given = static_cast<int64_t>(index[off[2]]);
    const int64_t v = given + (from_end && given < 0 ? size : 0);
    if (v >= 0 && v < size) dest[off[0] + v * stride] = src[off[1]];
    else record_kernel_error(errors, GEMS_KERNEL_ERROR_INDEX, given, dim, size);
  }
}

// tensors: out, self, 1-4 index tensors (int64 or int32), all in out's shape;
// scalars: [0].i negative indices count from the end; per index k: [1 + 3k] dim,
// [2 + 3k] size, [3 + 3k] stride (backends/cpu/kernels_index.cpp documents it).
int k_gather(const gems_kernel_call* c) {
  switch (c->num_tensors - 2) {
    case 1: return gather_with<1>(c);
    case 2: return gather_with<2>(c);
    case 3: return gather_with<3>(c);
    case 4: return gather_with<4>(c);
    default: return set_error_string(GEMS_UNSUPPORTED, "gather takes 1 to 4 index tensors");
  }
}

// tensors: dest, src, index, in index's shape; scalars: [0] dim, [1] size,
// [2] stride, [3] (optional) negative from the end (backends/cpu/kernels_index.cpp documents it).
int k_scatter(const gems_kernel_call* c) {
  const gems_tensor* ops[3] = {&c->tensors[0], &c->tensors[1], &c->tensors[2]};
  const StridedShape<3> s(ops);
  if (s.numel == 0) return GEMS_OK;
  const int64_t size = c->scalars[1].i, stride = c->scalars[2].i;
  const bool from_end = c->num_scalars > 3 && c->scalars[3].i != 0;
  auto launch = [&](auto etag, auto itag) {
    using E = typename decltype(etag)::type;
    using I = typename decltype(itag)::type;
    scatter_kernel<E, I><<<grid_for(s.numel), kBlock, 0, stream_of(c)>>>(
        s, reinterpret_cast<E*>(base_ptr(c->tensors[0])), reinterpret_cast<const E*>(base_ptr(c->tensors[1])),
        reinterpret_cast<const I*>(base_ptr(c->tensors[2])), size, stride, from_end, kernel_errors(), c->scalars[0].i);
  };
  auto with_index = [&](auto etag) {
    if (c->tensors[2].dtype == GEMS_INT32) launch(etag, type_tag<int32_t>{});
    else launch(etag, type_tag<int64_t>{});
  };
  if (!with_element_width(c->tensors[0].dtype, with_index)) return unsupported_dtype("scatter", c->tensors[0].dtype);
  return launch_status("scatter");
}

// tensors: out (bool), elements, test (1-D, elements' dtype); scalars[0].i invert.
int k_isin(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &elements = c->tensors[1], &test = c->tensors[2];
  const bool ok = dispatch_dtype<kNumeric>(elements.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const gems_tensor* ops[2] = {&out, &elements};
    const StridedShape<2> s(ops);
    if (s.numel == 0) return;
    const int64_t m = test.ndim ? test.sizes[0] : 1, ts = test.ndim ? test.strides[0] : 0;
    isin_kernel<T><<<static_cast<unsigned>((s.numel + kBlock - 1) / kBlock), kBlock, 0, stream_of(c)>>>(
        s, reinterpret_cast<bool*>(base_ptr(out)), reinterpret_cast<const T*>(base_ptr(elements)),
        reinterpret_cast<const T*>(base_ptr(test)), m, ts, c->scalars[0].i != 0);
  });
  return ok ? launch_status("isin") : unsupported_dtype("isin", elements.dtype);
}

// tensors: out, in [..., R, C]; scalars[0].i diagonal, [1].i upper.
int k_tril(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const bool ok = dispatch_dtype<kAll>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int k = out.ndim - 2;
    const gems_tensor* ops[2] = {&out, &in};
    const StridedShape<2> outer = outer_shape<2>(ops, k);
    const int64_t R = out.sizes[k], C = out.sizes[k + 1];
    if (outer.numel * R * C == 0) return;
    tril_kernel<T><<<grid_for(outer.numel * R * C), kBlock, 0, stream_of(c)>>>(
        outer, R, C, out.strides[k], out.strides[k + 1], in.strides[k], in.strides[k + 1],
        reinterpret_cast<T*>(base_ptr(out)), reinterpret_cast<const T*>(base_ptr(in)), c->scalars[0].i,
        c->scalars[1].i != 0);
  });
  return ok ? launch_status("tril") : unsupported_dtype("tril", out.dtype);
}

int k_arange(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const bool ok = dispatch_dtype<kNumeric>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = out.sizes[0];
    if (n)
      arange_kernel<T><<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream_of(c)>>>(
          n, out.strides[0], reinterpret_cast<T*>(base_ptr(out)), c->scalars[0].f, c->scalars[1].f, c->scalars[0].i,
          c->scalars[1].i);
  });
  return ok ? launch_status("arange") : unsupported_dtype("arange", out.dtype);
}

namespace {
// Dropout with a fresh mask, over contiguous operands: element i is kept when
// dropout_keeps(seed, offset + i, keep) (backends/common/random.h).
template <typename T>
__global__ void dropout_draw(int64_t n, const T* in, T* out, bool* mask, double keep, acc_t<T> scale, uint64_t seed,
                             uint64_t offset) {
  using A = acc_t<T>;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const bool kept = dropout_keeps(seed, offset + static_cast<uint64_t>(i), keep);
    mask[i] = kept;
    out[i] = store_as<T>(load_as<A>(in[i]) * A(kept) * scale);
  }
}

// The same V elements a thread: 16-byte loads and stores of in and out, V
// mask bytes at once (one element a thread ran at 0.70x torch's time).
template <typename T, int V>
__global__ void dropout_draw_vectors(int64_t n, const T* in, T* out, bool* mask, double keep, acc_t<T> scale,
                                     uint64_t seed, uint64_t offset) {
  using A = acc_t<T>;
  for (int64_t v = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; v < n / V; v += int64_t{gridDim.x} * blockDim.x) {
    const Vec<T, V> x = reinterpret_cast<const Vec<T, V>*>(in)[v];
    Vec<T, V> o;
    Vec<bool, V> m;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      m.v[j] = dropout_keeps(seed, offset + static_cast<uint64_t>(v * V + j), keep);
      o.v[j] = store_as<T>(load_as<A>(x.v[j]) * A(m.v[j]) * scale);
    }
    reinterpret_cast<Vec<T, V>*>(out)[v] = o;
    reinterpret_cast<Vec<bool, V>*>(mask)[v] = m;
  }
}

// out = in * mask * scale with a given mask (dropout's backward).
template <typename A>
struct MaskScaleOp {
  A scale;
  template <typename T> __device__ T operator()(bool m, T x) const { return store_as<T>(load_as<A>(x) * A(m) * scale); }
};
}  // namespace

// tensors: out, mask (bool), in; scalars [0].f keep, [1].f scale, [2].i seed,
// [3].i counter offset, [4].i draw (backends/cpu/kernels_index.cpp).
int k_dropout(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &mask = c->tensors[1], &in = c->tensors[2];
  const bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const A scale = static_cast<A>(c->scalars[1].f);
    if (c->scalars[4].i == 0) {
      const gems_tensor* ins[2] = {&mask, &in};
      map_elements<T, bool, T>(out, ins, MaskScaleOp<A>{scale}, stream_of(c));
      return;
    }
    const int64_t n = numel_of(out);
    if (n == 0) return;
    constexpr int V = 16 / sizeof(T);
    const T* x = reinterpret_cast<const T*>(base_ptr(in));
    T* o = reinterpret_cast<T*>(base_ptr(out));
    bool* m = reinterpret_cast<bool*>(base_ptr(mask));
    const uint64_t seed = static_cast<uint64_t>(c->scalars[2].i), offset = static_cast<uint64_t>(c->scalars[3].i);
    if (n % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(o) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(m) % V == 0)
      dropout_draw_vectors<T, V><<<grid_for(n / V), kBlock, 0, stream_of(c)>>>(n, x, o, m, c->scalars[0].f, scale,
                                                                               seed, offset);
    else
      dropout_draw<T><<<grid_for(n), kBlock, 0, stream_of(c)>>>(n, x, o, m, c->scalars[0].f, scale, seed, offset);
  });
  return ok ? launch_status("dropout") : unsupported_dtype("dropout", out.dtype);
}

int k_uniform(const gems_kernel_call* c) { return random_fill<false>("uniform", c); }
int k_normal(const gems_kernel_call* c) { return random_fill<true>("normal", c); }

}  // namespace gems::nvidia
