// Gathers, ranges and counter-based random numbers.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../common/random.h"
#include "kernels.h"
#include "runtime.h"
#include "strided_loop.h"

namespace gems::cpu {

namespace {
// PyTorch's words for an index outside a dim, as GEMS_INVALID_ARGUMENT.
int index_out_of_bounds(int64_t index, int64_t dim, int64_t size) {
  return set_error(GEMS_INVALID_ARGUMENT, ("index " + std::to_string(index) +
                                           " is out of bounds for dimension " + std::to_string(dim) + " with size " +
                                           std::to_string(size)).c_str());
}
}  // namespace

// tensors: out, self, index (1-D int64 or int32); scalars[0].i: dim; [1].i
// (optional): whether a negative index counts from the end, as in x[idx].
// out has self's shape except size(dim) = index.numel(). An index outside
// [0, size) ([-size, size) when counting from the end) is reported, in the
// words of index_select or of indexing, as GEMS_INVALID_ARGUMENT.
int k_index_select(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &self = c->tensors[1], &index = c->tensors[2];
  const int dim = static_cast<int>(c->scalars[0].i);
  const bool from_end = c->num_scalars > 1 && c->scalars[1].i != 0;
  const int64_t n_index = index.ndim ? index.sizes[0] : 1;
  const int64_t src_size = self.ndim ? self.sizes[dim] : 1;
  // Resolve the indices once, checking bounds.
  std::vector<int64_t> idx(static_cast<size_t>(n_index));
  const char* ib = base_ptr(index);
  const int64_t is = index.ndim ? index.strides[0] : 0;
  for (int64_t i = 0; i < n_index; ++i) {
    int64_t v = index.dtype == GEMS_INT32 ? reinterpret_cast<const int32_t*>(ib)[i * is]
                                          : reinterpret_cast<const int64_t*>(ib)[i * is];
    const int64_t wrapped = v + (from_end && v < 0 ? src_size : 0);
    if (wrapped < 0 || wrapped >= src_size) {
      if (from_end) return index_out_of_bounds(v, dim, src_size);  // indexing's words
      return set_error(GEMS_INVALID_ARGUMENT, ("index out of range in self: index " + std::to_string(v) +
                                               " is out of bounds for dimension with size " +
                                               std::to_string(src_size)).c_str());
    }
    idx[i] = wrapped;
  }
  const int64_t esize = element_size(self.dtype);
  gems_tensor o = out, s = self;
  if (self.ndim == 0) { o.ndim = s.ndim = 1; o.sizes[0] = s.sizes[0] = 1; o.strides[0] = s.strides[0] = 1; }
  // Index by index, the positions of out with dim fixed (a row, for an
  // embedding lookup) copied in memory order: walking dim innermost instead
  // touched a new cache line per element (26x slower than torch for 1024 rows
  // of 1024 floats).
  gems_tensor o0 = o, s0 = s;
  o0.sizes[dim] = 1; s0.sizes[dim] = 1;
  const gems_tensor* ops[2] = {&o0, &s0};
  const StridedLoop<2> rest(ops);
  const int64_t os = o.strides[dim] * esize, ss = s.strides[dim] * esize;
  const bool dense_rows = rest.ndim == 1 && rest.strides[0][0] == esize && rest.strides[1][0] == esize;
  parallel_for(0, n_index, grain_for(rest.numel), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (dense_rows) {  // one memcpy a row (an embedding lookup), no per-row loop set-up
        std::memcpy(rest.base[0] + i * os, rest.base[1] + idx[i] * ss, static_cast<size_t>(rest.numel * esize));
        continue;
      }
      StridedLoop<2> row = rest;
      row.base[0] += i * os;
      row.base[1] += idx[i] * ss;
      row.for_each_run([&](char** p, const int64_t* st, int64_t n) {  // nested in a task: serial
        if (st[0] == esize && st[1] == esize) {
          std::memcpy(p[0], p[1], static_cast<size_t>(n * esize));
        } else {
          for (int64_t k = 0; k < n; ++k) std::memcpy(p[0] + k * st[0], p[1] + k * st[1], esize);
        }
      });
    }
  });
  return GEMS_OK;
}

namespace {

// Reads index k of a gather at its byte address (int32 or int64).
inline int64_t index_at(const char* p, bool int32) {
  return int32 ? *reinterpret_cast<const int32_t*>(p) : *reinterpret_cast<const int64_t*>(p);
}

template <typename E, int NI>
int gather_with(const gems_kernel_call* c) {
  const gems_tensor* ops[2 + NI];
  for (int k = 0; k < 2 + NI; ++k) ops[k] = &c->tensors[k];
  const bool from_end = c->scalars[0].i != 0;
  const int64_t esize = element_size(c->tensors[0].dtype);
  int64_t size[NI], stride[NI];
  bool int32[NI];
  for (int k = 0; k < NI; ++k) {
    size[k] = c->scalars[2 + 3 * k].i;
    stride[k] = c->scalars[3 + 3 * k].i * esize;
    int32[k] = c->tensors[2 + k].dtype == GEMS_INT32;
  }
  // The first bad index found (any one, when threads race), reported after the loop.
  std::atomic<bool> bad{false};
  int64_t bad_value = 0, bad_k = 0;
  StridedLoop<2 + NI> loop(ops);
  loop.for_each_run([&](char** p, const int64_t* st, int64_t n) {
    // Locals, and no branch per element but the rare bad index: a lean loop
    // keeps more of the random reads in flight (12% faster than breaking out
    // of the index loop; reading the index at a compile-time width gained nothing).
    const char* ip[NI];
    int64_t is[NI], sz[NI], sd[NI];
    bool i32[NI];
    for (int k = 0; k < NI; ++k) {
      ip[k] = p[2 + k]; is[k] = st[2 + k]; sz[k] = size[k]; sd[k] = stride[k]; i32[k] = int32[k];
    }
    char* const out = p[0];
    const char* const in = p[1];
    const int64_t os = st[0], ss = st[1];
    const bool wrap = from_end;
    for (int64_t i = 0; i < n; ++i) {
      int64_t offset = i * ss;
      bool ok = true;
      for (int k = 0; k < NI; ++k) {
        int64_t v = index_at(ip[k] + i * is[k], i32[k]);
        v += (wrap && v < 0) ? sz[k] : 0;
        ok &= static_cast<uint64_t>(v) < static_cast<uint64_t>(sz[k]);
        offset += v * sd[k];
      }
      if (__builtin_expect(ok, 1)) {
        *reinterpret_cast<E*>(out + i * os) = *reinterpret_cast<const E*>(in + offset);
      } else {
        for (int k = 0; k < NI; ++k) {
          const int64_t raw = index_at(ip[k] + i * is[k], i32[k]);
          const int64_t v = raw + ((wrap && raw < 0) ? sz[k] : 0);
          if (static_cast<uint64_t>(v) >= static_cast<uint64_t>(sz[k])) {
            if (!bad.exchange(true)) { bad_value = raw; bad_k = k; }
            break;
          }
        }
      }
    }
  }, grain_for(8));  // a read anywhere in self costs what ~8 streamed elements do
  if (bad) return index_out_of_bounds(bad_value, c->scalars[1 + 3 * bad_k].i, size[bad_k]);
  return GEMS_OK;
}

}  // namespace

// tensors: out, self, index_0 .. index_{n-1} (int64 or int32, 1 <= n <= 4),
// all in out's shape: self with stride 0 along the dims an element is picked
// along, each index broadcast. scalars: [0].i whether a negative index counts
// from the end (advanced indexing) or is out of range (gather); for index k,
// [1 + 3k].i the dim of self it picks along (for the message), [2 + 3k].i that
// dim's size, [3 + 3k].i its stride in elements.
// out = self[position + sum_k index_k * stride_k]; copies elements by width,
// so every dtype is served. Out of range: GEMS_INVALID_ARGUMENT.
template <typename E>
int gather_of_width(const gems_kernel_call* c) {
  switch (c->num_tensors - 2) {
    case 1: return gather_with<E, 1>(c);
    case 2: return gather_with<E, 2>(c);
    case 3: return gather_with<E, 3>(c);
    case 4: return gather_with<E, 4>(c);
    default: return set_error(GEMS_UNSUPPORTED, "gather takes 1 to 4 index tensors");
  }
}

// Calls f(E{}) with E the unsigned integer of dtype's width, for kernels that
// only move elements (gather, scatter, masked_select): every dtype is served.
template <typename F>
int with_element_width(int32_t dtype, const char* name, F f) {
  switch (element_size(dtype)) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: return unsupported_dtype(name, dtype);
  }
}

int k_gather(const gems_kernel_call* c) {
  return with_element_width(c->tensors[0].dtype, "gather",
                            [&](auto e) { return gather_of_width<decltype(e)>(c); });
}

// tensors: dest, src, index (int64 or int32), all in index's shape: dest with
// stride 0 along the dim it is written along; scalars: [0].i that dim (for
// the message), [1].i its size, [2].i its stride in elements, [3].i
// (optional) whether a negative index counts from the end (index_put).
// dest[position + index * stride] = src; elements move as unsigned integers of
// their width, and a run along which the index stays put (whole rows written,
// x[rows] = values) is checked once and copied as a block. Serial: with
// duplicate indices, parallel writes to one element would race (PyTorch
// leaves which duplicate wins unspecified; here the last in memory order).
template <typename E>
int scatter_of_width(const gems_kernel_call* c) {
  const gems_tensor* ops[3] = {&c->tensors[0], &c->tensors[1], &c->tensors[2]};
  const int64_t size = c->scalars[1].i, stride = c->scalars[2].i * static_cast<int64_t>(sizeof(E));
  const bool int32 = c->tensors[2].dtype == GEMS_INT32;
  const bool from_end = c->num_scalars > 3 && c->scalars[3].i != 0;
  StridedLoop<3> loop(ops);
  bool bad = false;
  int64_t bad_value = 0;
  auto place = [&](const char* index) {  // the checked offset of an index, or -1
    const int64_t raw = index_at(index, int32);
    const int64_t v = raw + (from_end && raw < 0 ? size : 0);
    if (static_cast<uint64_t>(v) < static_cast<uint64_t>(size)) return v * stride;
    bad = true;
    bad_value = raw;
    return int64_t{-1};
  };
  loop.for_each_run([&](char** p, const int64_t* st, int64_t n) {
    if (bad) return;
    if (st[2] == 0) {  // one index for the whole run
      const int64_t at = place(p[2]);
      if (at < 0) return;
      if (st[0] == sizeof(E) && st[1] == sizeof(E)) {
        std::memcpy(p[0] + at, p[1], static_cast<size_t>(n) * sizeof(E));
      } else {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<E*>(p[0] + i * st[0] + at) = *reinterpret_cast<const E*>(p[1] + i * st[1]);
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t at = place(p[2] + i * st[2]);
      if (at < 0) return;
      *reinterpret_cast<E*>(p[0] + i * st[0] + at) = *reinterpret_cast<const E*>(p[1] + i * st[1]);
    }
  }, loop.numel + 1);  // one task
  if (bad) return index_out_of_bounds(bad_value, c->scalars[0].i, size);
  return GEMS_OK;
}

int k_scatter(const gems_kernel_call* c) {
  return with_element_width(c->tensors[0].dtype, "scatter",
                            [&](auto e) { return scatter_of_width<decltype(e)>(c); });
}

// tensors: out [R, D], src [N, D], index [N] (int64 or int32); scalars [0].i
// whether [1].i is an index whose rows add nothing (embedding's padding_idx),
// [2].i scale each row by one over its index's count (scale_grad_by_freq),
// [3].i negative indices count from the end. out[r] += the src rows whose
// index is r, summed in position order in the compute type, added once: the
// positions sorted by index (stably) give each destination row its own run,
// so runs are summed in parallel and the result does not depend on threads.
int k_accumulate_rows(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &src = c->tensors[1], &index = c->tensors[2];
  const int64_t R = out.sizes[0], D = out.sizes[1], N = index.sizes[0];
  const bool has_skip = c->scalars[0].i != 0, by_freq = c->scalars[2].i != 0, from_end = c->scalars[3].i != 0;
  const int64_t skip = c->scalars[1].i;
  std::vector<std::pair<int64_t, int64_t>> order(static_cast<size_t>(N));  // (row, position)
  for (int64_t i = 0; i < N; ++i) {
    const int64_t raw = index_at(base_ptr(index) + i * index.strides[0] * element_size(index.dtype),
                                 index.dtype == GEMS_INT32);
    const int64_t r = raw + (from_end && raw < 0 ? R : 0);
    if (r < 0 || r >= R) return index_out_of_bounds(raw, 0, R);
    order[static_cast<size_t>(i)] = {r, i};
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<int64_t> runs;  // where each destination row's run starts, then N
  for (int64_t i = 0; i < N; ++i)
    if (i == 0 || order[static_cast<size_t>(i)].first != order[static_cast<size_t>(i - 1)].first) runs.push_back(i);
  runs.push_back(N);
  const int64_t num_runs = static_cast<int64_t>(runs.size()) - 1;
  const bool ok = dispatch_dtype<kNumeric>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;
    T* o = reinterpret_cast<T*>(base_ptr(out));
    const T* s = reinterpret_cast<const T*>(base_ptr(src));
    parallel_for(0, num_runs, grain_for(D * std::max<int64_t>(1, N / std::max<int64_t>(1, num_runs))), [&](int64_t r0, int64_t r1) {
      std::vector<A> sum(static_cast<size_t>(D));
      for (int64_t run = r0; run < r1; ++run) {
        const int64_t begin = runs[static_cast<size_t>(run)], end = runs[static_cast<size_t>(run + 1)];
        const int64_t row = order[static_cast<size_t>(begin)].first;
        if (has_skip && row == skip) continue;
        std::fill(sum.begin(), sum.end(), A(0));
        const A scale = by_freq ? A(1) / static_cast<A>(end - begin) : A(1);
        for (int64_t e = begin; e < end; ++e) {
          const T* from = s + order[static_cast<size_t>(e)].second * src.strides[0];
          for (int64_t j = 0; j < D; ++j) {
            if constexpr (std::is_integral_v<T>) sum[static_cast<size_t>(j)] += static_cast<A>(from[j * src.strides[1]]);
            else sum[static_cast<size_t>(j)] += static_cast<A>(from[j * src.strides[1]]) * scale;
          }
        }
        T* to = o + row * out.strides[0];
        for (int64_t j = 0; j < D; ++j)
          to[j * out.strides[1]] = static_cast<T>(static_cast<A>(to[j * out.strides[1]]) + sum[static_cast<size_t>(j)]);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("accumulate_rows", out.dtype);
}

// tensors: out (bool, elements' shape), elements, test (1-D, same dtype as
// elements); scalars[0].i: invert. out = (element in test) != invert.
int k_isin(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &elements = c->tensors[1], &test = c->tensors[2];
  const bool invert = c->scalars[0].i != 0;
  bool ok = dispatch_dtype<kNumeric>(elements.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    // A sorted copy of the test values makes each lookup a binary search.
    std::vector<A> sorted(static_cast<size_t>(test.ndim ? test.sizes[0] : 1));
    const T* tp = reinterpret_cast<const T*>(base_ptr(test));
    for (size_t i = 0; i < sorted.size(); ++i) sorted[i] = static_cast<A>(tp[static_cast<int64_t>(i) * (test.ndim ? test.strides[0] : 0)]);
    std::sort(sorted.begin(), sorted.end());
    const gems_tensor* in = &elements;
    map_elements<bool, T>(out, &in, [&](T x) {
      return std::binary_search(sorted.begin(), sorted.end(), static_cast<A>(x)) != invert;
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("isin", elements.dtype);
}

// tensors: out (int64, one element), in (dense, any dtype): how many of in's
// elements are not zero (what sizes nonzero's result).
int k_count_nonzero(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const int64_t numel = numel_of(in);
  bool ok = dispatch_dtype<kAll>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = reinterpret_cast<const T*>(base_ptr(in));
    int64_t count = 0;
    for (int64_t i = 0; i < numel; ++i) count += static_cast<acc_t<T>>(x[i]) != acc_t<T>(0);
    *reinterpret_cast<int64_t*>(base_ptr(out)) = count;
  });
  return ok ? GEMS_OK : unsupported_dtype("count_nonzero", in.dtype);
}

// tensors: out [count, ndim] (int64), in (dense, any dtype). Row r of out
// holds the coordinates of in's r-th element that is not zero, in memory
// order; the core counted them to size out (rows past the count are not
// written). One pass, in order: the positions are what is read next.
int k_nonzero(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const int64_t rows = out.sizes[0], ndim = in.ndim;
  const int64_t so = out.strides[0], sc = ndim ? out.strides[1] : 0, numel = numel_of(in);
  int64_t* o = reinterpret_cast<int64_t*>(base_ptr(out));
  bool ok = dispatch_dtype<kAll>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = reinterpret_cast<const T*>(base_ptr(in));
    int64_t coords[GEMS_MAX_DIMS] = {};
    int64_t r = 0;
    for (int64_t i = 0; i < numel && r < rows; ++i) {
      if (static_cast<acc_t<T>>(x[i]) != acc_t<T>(0)) {
        for (int64_t d = 0; d < ndim; ++d) o[r * so + d * sc] = coords[d];
        ++r;
      }
      for (int64_t d = ndim - 1; d >= 0 && ++coords[d] == in.sizes[d]; --d) coords[d] = 0;  // next position
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("nonzero", in.dtype);
}

namespace {
// out[r] = the r-th value whose mask byte is set, for the first `rows` of them.
// Without a branch on the mask (random masks would mispredict half the time):
// each value is stored at the next row and the row moves on where the mask is
// set, so an unselected value is overwritten by the next selected one.
template <typename V>
void select_values(const uint8_t* m, const V* v, V* out, int64_t numel, int64_t rows, int64_t so) {
  for (int64_t i = 0, r = 0; i < numel && r < rows; ++i) {
    out[r * so] = v[i];
    r += m[i] != 0;
  }
}
}  // namespace

// tensors: out [count], values (dense), mask (dense, values' shape, bool or
// uint8). out holds the values where the mask is set, in memory order (the
// core counted them with count_nonzero); moved as bits of their size.
int k_masked_select(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &values = c->tensors[1], &mask = c->tensors[2];
  if (mask.dtype != GEMS_BOOL && mask.dtype != GEMS_UINT8) return unsupported_dtype("masked_select", mask.dtype);
  const auto* m = reinterpret_cast<const uint8_t*>(base_ptr(mask));
  const int64_t numel = numel_of(mask), rows = out.sizes[0], so = out.strides[0];
  return with_element_width(values.dtype, "masked_select", [&](auto bits) {
    using V = decltype(bits);
    select_values(m, reinterpret_cast<const V*>(base_ptr(values)), reinterpret_cast<V*>(base_ptr(out)), numel, rows, so);
    return GEMS_OK;
  });
}

// tensors: out (1-D); scalars: [0] start, [1] step. out[i] = start + i * step,
// computed in double for floating types and in int64 otherwise.
int k_arange(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const gems_scalar start = c->scalars[0], step = c->scalars[1];
  bool ok = dispatch_dtype<kNumeric>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = reinterpret_cast<T*>(base_ptr(out));
    const int64_t n = out.sizes[0], s = out.strides[0];
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (is_floating_v<T>) p[i * s] = static_cast<T>(static_cast<float>(start.f + static_cast<double>(i) * step.f));
      else p[i * s] = static_cast<T>(start.i + i * step.i);
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("arange", out.dtype);
}

namespace {

template <typename Gen>
int random_fill(const char* name, const gems_kernel_call* c, Gen gen) {
  const gems_tensor& out = c->tensors[0];
  const uint64_t seed = static_cast<uint64_t>(c->scalars[2].i), offset = static_cast<uint64_t>(c->scalars[3].i);
  bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Counters follow the logical (row-major) element order of out.
    const int64_t numel = numel_of(out);
    int64_t contiguous_strides[GEMS_MAX_DIMS];
    int64_t st = 1;
    for (int d = out.ndim - 1; d >= 0; --d) { contiguous_strides[d] = st; st *= out.sizes[d]; }
    parallel_for(0, numel, kTaskWork, [&](int64_t b, int64_t e) {
      char* base = base_ptr(out);
      for (int64_t i = b; i < e; ++i) {
        int64_t rem = i, off = 0;
        for (int d = 0; d < out.ndim; ++d) {
          off += (rem / contiguous_strides[d]) * out.strides[d];
          rem %= contiguous_strides[d];
        }
        reinterpret_cast<T*>(base)[off] = static_cast<T>(gen(seed, offset + static_cast<uint64_t>(i)));
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype(name, out.dtype);
}

}  // namespace

// tensors: out; scalars: [0] from, [1] to, [2].i seed, [3].i counter offset.
int k_uniform(const gems_kernel_call* c) {
  const double lo = c->scalars[0].f, hi = c->scalars[1].f;
  return random_fill("uniform", c, [=](uint64_t seed, uint64_t i) { return lo + (hi - lo) * uniform01(seed, i); });
}

// tensors: out; scalars: [0] mean, [1] std, [2].i seed, [3].i counter offset.
int k_normal(const gems_kernel_call* c) {
  const double mean = c->scalars[0].f, stdv = c->scalars[1].f;
  return random_fill("normal", c, [=](uint64_t seed, uint64_t i) {
    // Box-Muller on two independent streams of the same counter.
    const double u1 = 1.0 - uniform01(seed, 2 * i), u2 = uniform01(seed, 2 * i + 1);
    return mean + stdv * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  });
}

// tensors: out, mask (bool), in, of one shape; scalars [0].f keep, [1].f
// scale, [2].i seed, [3].i counter offset, [4].i draw. With draw (all three
// contiguous) element i is kept when dropout_keeps(seed, offset + i, keep)
// and mask records it; without, mask is read (dropout's backward). out = in *
// mask * scale in the compute type (so NaN * 0 stays NaN, as in PyTorch).
int k_dropout(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &mask = c->tensors[1], &in = c->tensors[2];
  const double keep = c->scalars[0].f;
  const uint64_t seed = static_cast<uint64_t>(c->scalars[2].i), offset = static_cast<uint64_t>(c->scalars[3].i);
  const bool draw = c->scalars[4].i != 0;
  bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const A scale = static_cast<A>(c->scalars[1].f);
    if (!draw) {
      const gems_tensor* ins[2] = {&mask, &in};
      map_elements<T, bool, T>(out, ins, [&](bool m, T x) { return static_cast<T>(static_cast<A>(x) * A(m) * scale); });
      return;
    }
    T* o = reinterpret_cast<T*>(base_ptr(out));
    bool* m = reinterpret_cast<bool*>(base_ptr(mask));
    const T* x = reinterpret_cast<const T*>(base_ptr(in));
    parallel_for(0, numel_of(out), kTaskWork, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const bool kept = dropout_keeps(seed, offset + static_cast<uint64_t>(i), keep);
        m[i] = kept;
        o[i] = static_cast<T>(static_cast<A>(x[i]) * A(kept) * scale);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("dropout", out.dtype);
}

}  // namespace gems::cpu
