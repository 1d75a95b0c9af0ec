// The cpu vendor's elementwise engine: walks N same-shaped strided tensors
// (broadcast inputs have stride 0) and hands an op contiguous-or-strided 1-D
// runs, so that every pointwise op is a small functor on top of one loop.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "../abi/gems_vendor_abi.h"
#include "dtype_dispatch.h"
#include "parallel.h"

namespace gems::cpu {

inline int64_t numel_of(const gems_tensor& t) {
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.sizes[i];
  return n;
}

inline char* base_ptr(const gems_tensor& t) {
  return static_cast<char*>(t.data) + t.offset * element_size(t.dtype);
}

// Whether an optional operand is present (absent ones have data NULL).
inline bool present(const gems_tensor& t) { return t.data != nullptr; }

// N operands sharing one shape; strides are kept in bytes, dims coalesced.
template <int N>
struct StridedLoop {
  int ndim = 0;
  int64_t sizes[GEMS_MAX_DIMS];
  int64_t strides[N][GEMS_MAX_DIMS];
  char* base[N];
  int64_t numel = 1;

  // `shape` supplies the sizes; every operand must have the same sizes.
  explicit StridedLoop(const gems_tensor* const* ops) {
    const gems_tensor& shape = *ops[0];
    for (int k = 0; k < N; ++k) base[k] = base_ptr(*ops[k]);
    for (int d = 0; d < shape.ndim; ++d) {
      if (shape.sizes[d] == 1) continue;  // size-1 dims never move a pointer
      sizes[ndim] = shape.sizes[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = ops[k]->strides[d] * element_size(ops[k]->dtype);
      ++ndim;
    }
    for (int d = 0; d < ndim; ++d) numel *= sizes[d];
    for (int d = 0; d < shape.ndim; ++d) if (shape.sizes[d] == 0) numel = 0;
    order_dims();
    coalesce();
  }

  // Orders the dims outermost to innermost by their steps, so that a
  // channels-last or transposed tensor is walked in memory order rather than
  // index order (a channels-last [1, 64, 224, 224] copy walked along W touched
  // a new cache line per element and read the tensor 64 times over: 25x
  // slower). The first operand that steps through both of two dims by
  // different amounts decides their order (a broadcast dim, step 0, decides
  // nothing); otherwise the index order stays. Insertion sort: few dims.
  void order_dims() {
    for (int i = 1; i < ndim; ++i)
      for (int j = i; j > 0 && steps_less(j - 1, j); --j) {
        std::swap(sizes[j - 1], sizes[j]);
        for (int k = 0; k < N; ++k) std::swap(strides[k][j - 1], strides[k][j]);
      }
  }

  // Whether dim a steps by less than dim b (so belongs inside it).
  bool steps_less(int a, int b) const {
    for (int k = 0; k < N; ++k) {
      const int64_t sa = strides[k][a] < 0 ? -strides[k][a] : strides[k][a];
      const int64_t sb = strides[k][b] < 0 ? -strides[k][b] : strides[k][b];
      if (sa == 0 || sb == 0 || sa == sb) continue;
      return sa < sb;
    }
    return false;
  }

  // Merges dim d into d+1 when every operand steps through both as one run.
  void coalesce() {
    if (ndim <= 1) return;
    int out = ndim - 1;
    int64_t s[GEMS_MAX_DIMS];
    int64_t st[N][GEMS_MAX_DIMS];
    s[out] = sizes[ndim - 1];
    for (int k = 0; k < N; ++k) st[k][out] = strides[k][ndim - 1];
    for (int d = ndim - 2; d >= 0; --d) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k)
        if (strides[k][d] != st[k][out] * s[out]) { mergeable = false; break; }
      if (mergeable) {
        s[out] *= sizes[d];
      } else {
        --out;
        s[out] = sizes[d];
        for (int k = 0; k < N; ++k) st[k][out] = strides[k][d];
      }
    }
    const int nd = ndim - out;
    for (int d = 0; d < nd; ++d) {
      sizes[d] = s[out + d];
      for (int k = 0; k < N; ++k) strides[k][d] = st[k][out + d];
    }
    ndim = nd;
  }

  // Calls run(ptrs, inner_strides_in_bytes, count) over runs of the innermost
  // dim, in parallel chunks of the flat index space.
  template <typename Run>
  void for_each_run(Run&& run, int64_t grain = kTaskWork) const {
    if (numel == 0) return;
    if (ndim == 0) {
      std::array<char*, N> p;
      std::array<int64_t, N> zero{};
      for (int k = 0; k < N; ++k) p[k] = base[k];
      run(p.data(), zero.data(), int64_t{1});
      return;
    }
    parallel_for(0, numel, grain, [&](int64_t begin, int64_t end) {
      int64_t idx[GEMS_MAX_DIMS];
      int64_t rem = begin;
      for (int d = ndim - 1; d >= 0; --d) { idx[d] = rem % sizes[d]; rem /= sizes[d]; }
      std::array<char*, N> p;
      std::array<int64_t, N> inner;
      for (int k = 0; k < N; ++k) {
        p[k] = base[k];
        for (int d = 0; d < ndim; ++d) p[k] += idx[d] * strides[k][d];
        inner[k] = strides[k][ndim - 1];
      }
      int64_t pos = begin;
      while (pos < end) {
        const int64_t count = std::min(sizes[ndim - 1] - idx[ndim - 1], end - pos);
        run(p.data(), inner.data(), count);
        pos += count;
        // advance the multi-index by `count` along the innermost dim, carrying
        for (int k = 0; k < N; ++k) p[k] += count * inner[k];
        idx[ndim - 1] += count;
        for (int d = ndim - 1; d > 0 && idx[d] == sizes[d]; --d) {
          idx[d] = 0;
          ++idx[d - 1];
          for (int k = 0; k < N; ++k) p[k] += strides[k][d - 1] - sizes[d] * strides[k][d];
        }
      }
    });
  }
};

// An input of a dense run: its elements in order, or one value repeated (a
// broadcast scalar, stride 0), read once before the loop so that the loop
// stays one the compiler vectorizes.
template <typename T, bool kRepeated>
struct RunInput {
  const T* p;
  T v;
  explicit RunInput(const char* q) : p(reinterpret_cast<const T*>(q)), v(kRepeated ? *p : T()) {}
  T operator[](int64_t i) const {
    if constexpr (kRepeated) return v;
    else return p[i];
  }
};

// kRepeated: bit k set when input k is a repeated value.
template <unsigned kRepeated, typename Out, typename... In, typename F, size_t... I>
inline void apply_contiguous(char** p, int64_t n, F& f, std::index_sequence<I...>) {
  Out* o = reinterpret_cast<Out*>(p[0]);
  const std::tuple<RunInput<In, ((kRepeated >> I) & 1u) != 0>...> in{RunInput<In, ((kRepeated >> I) & 1u) != 0>(p[I + 1])...};
  for (int64_t i = 0; i < n; ++i) o[i] = f(std::get<I>(in)[i]...);
}

template <typename Out, typename... In, typename F, size_t... I>
inline void apply_strided(char** p, const int64_t* s, int64_t n, F& f, std::index_sequence<I...>) {
  for (int64_t i = 0; i < n; ++i)
    *reinterpret_cast<Out*>(p[0] + i * s[0]) =
        f(*reinterpret_cast<const In*>(p[I + 1] + i * s[I + 1])...);
}

// The repeated-input masks a dense run is compiled for: every mask but all
// inputs repeated, for up to three inputs (binary ops' scalar on either side,
// a norm's per-channel addcmul); none beyond (their loops would multiply).
template <size_t kInputs>
constexpr unsigned kMaxRepeated = kInputs >= 1 && kInputs <= 3 ? (1u << kInputs) - 2 : 0u;

// Runs a dense run with the inputs of `repeated` read once, if a loop is
// compiled for that mask (kMask down to 0); false otherwise.
template <unsigned kMask, typename Out, typename... In, typename F>
inline bool apply_dense(unsigned repeated, char** p, int64_t n, F& f) {
  if (repeated == kMask) {
    apply_contiguous<kMask, Out, In...>(p, n, f, std::index_sequence_for<In...>{});
    return true;
  }
  if constexpr (kMask > 0) return apply_dense<kMask - 1, Out, In...>(repeated, p, n, f);
  else return false;
}

// out[i] = f(in0[i], in1[i], ...) with every operand of its own C++ type.
// Dense runs are plain indexed loops the compiler vectorizes: every operand
// contiguous, or some inputs a broadcast scalar, as in x * 2.0, x + eps or a
// norm's per-channel addcmul (one of two inputs, up to two of three).
template <typename Out, typename... In, typename F>
void map_elements(const gems_tensor& out, const gems_tensor* const* ins, F f) {
  constexpr int N = 1 + sizeof...(In);
  const gems_tensor* ops[N];
  ops[0] = &out;
  for (int k = 1; k < N; ++k) ops[k] = ins[k - 1];
  StridedLoop<N> loop(ops);
  using Inputs = std::index_sequence_for<In...>;
  loop.for_each_run([&](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t sizes[N] = {static_cast<int64_t>(sizeof(Out)), static_cast<int64_t>(sizeof(In))...};
    bool dense = s[0] == sizes[0];
    unsigned repeated = 0;  // bit k: input k has stride 0
    for (int k = 1; k < N; ++k) {
      if (s[k] == 0) repeated |= 1u << (k - 1);
      else dense &= s[k] == sizes[k];
    }
    if (dense && apply_dense<kMaxRepeated<sizeof...(In)>, Out, In...>(repeated, p, n, f)) return;
    apply_strided<Out, In...>(p, s, n, f, Inputs{});
  });
}

}  // namespace gems::cpu
