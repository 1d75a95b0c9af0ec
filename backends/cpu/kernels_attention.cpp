// Fused scaled-dot-product attention, forward and backward: the reference
// meaning of the "attention" kernels for every vendor. One query row at a
// time: scores against every allowed key, a numerically safe softmax through
// the row's log-sum-exp, and the weighted sum of values. Nothing of size
// L x S is ever stored except the bias gradient, when asked for. Where many
// query rows share a key head (a prompt, grouped heads), the forward takes
// them in tiles that read each key and value once a tile (below).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "float8.h"
#include "kernels.h"
#include "row_loop.h"
#include "runtime.h"
#include "strided_loop.h"
#include "vector_exp.h"

namespace gems::cpu {
namespace {

// Element (b, h, i, d) of a 4-D strided operand.
template <typename T>
struct View4 {
  const gems_tensor* t;
  T* base;
  explicit View4(const gems_tensor& d) : t(&d), base(reinterpret_cast<T*>(base_ptr(d))) {}
  T& at(int64_t b, int64_t h, int64_t i, int64_t d) const {
    return base[b * t->strides[0] + h * t->strides[1] + i * t->strides[2] + d * t->strides[3]];
  }
};

// The geometry shared by the forward and backward kernels.
struct Shape {
  int64_t B, Hq, Hkv, L, S, E, Ev, group;
  double scale;
  bool causal;
  // Keys a query row may see: with is_causal, key j only when j <= i (the
  // mask is aligned to the top-left corner, as PyTorch's is_causal is).
  int64_t visible(int64_t i) const { return causal ? std::min(S, i + 1) : S; }
};

Shape shape_of(const gems_tensor& q, const gems_tensor& k, const gems_tensor& v, const gems_kernel_call* c) {
  Shape s;
  s.B = q.sizes[0]; s.Hq = q.sizes[1]; s.L = q.sizes[2]; s.E = q.sizes[3];
  s.Hkv = k.sizes[1]; s.S = k.sizes[2]; s.Ev = v.sizes[3];
  s.group = s.Hkv ? s.Hq / s.Hkv : 1;
  s.scale = c->scalars[0].f;
  s.causal = c->scalars[1].i != 0;
  return s;
}

bool shapes_agree(const gems_tensor& q, const gems_tensor& k, const gems_tensor& v) {
  return q.ndim == 4 && k.ndim == 4 && v.ndim == 4 && k.sizes[0] == q.sizes[0] && v.sizes[0] == q.sizes[0] &&
         k.sizes[1] == v.sizes[1] && k.sizes[1] > 0 && q.sizes[1] % k.sizes[1] == 0 && k.sizes[2] == v.sizes[2] &&
         k.sizes[3] == q.sizes[3];
}

int bad_shapes(const char* name) {
  return set_error(GEMS_INVALID_ARGUMENT, (std::string(name) +
                                             ": expected q [B,Hq,L,E], k [B,Hkv,S,E], v [B,Hkv,S,Ev] with Hq a multiple of Hkv").c_str());
}

// Sum of a[d] * b[d * sb] over d < n in A. Rows of contiguous keys (sb 1)
// keep 8 partial sums, which the compiler vectorises: a decode step against
// 256 keys took 83 us one product at a time, 6x PyTorch's CPU kernel.
template <typename A, typename T>
A dot(const A* a, const T* b, int64_t n, int64_t sb) {
  A total = 0;
  int64_t d = 0;
  if (sb == 1) {
    A acc[8] = {};
    for (; d + 8 <= n; d += 8)
      for (int u = 0; u < 8; ++u) acc[u] += a[d + u] * static_cast<A>(b[d + u]);
    for (int u = 0; u < 8; ++u) total += acc[u];
  }
  for (; d < n; ++d) total += a[d] * static_cast<A>(b[d * sb]);
  return total;
}

// acc[d] += p * v[d * sv] over d < n (contiguous rows vectorise).
template <typename A, typename T>
void add_scaled(A* acc, A p, const T* v, int64_t n, int64_t sv) {
  if (sv == 1)
    for (int64_t d = 0; d < n; ++d) acc[d] += p * static_cast<A>(v[d]);
  else
    for (int64_t d = 0; d < n; ++d) acc[d] += p * static_cast<A>(v[d * sv]);
}

// Scores of query row i against keys 0..n-1 into s; returns their maximum.
template <typename T, typename A>
A row_scores(const Shape& sh, const View4<const T>& q, const View4<const T>& k, const gems_tensor& bias,
             int64_t b, int64_t h, int64_t i, int64_t n, std::vector<A>& qrow, std::vector<A>& s) {
  const int64_t hk = h / sh.group;
  for (int64_t d = 0; d < sh.E; ++d) qrow[d] = static_cast<A>(q.at(b, h, i, d));
  A m = -std::numeric_limits<A>::infinity();
  const bool has_bias = bias.data != nullptr;
  const View4<const T> bv(bias);
  for (int64_t j = 0; j < n; ++j) {
    A x = dot(qrow.data(), &k.at(b, hk, j, 0), sh.E, k.t->strides[3]) * static_cast<A>(sh.scale);
    if (has_bias) x += static_cast<A>(bv.at(b, h, i, j));
    s[j] = x;
    if (x > m || std::isnan(x)) m = x;
  }
  return m;
}

// ---- tiles of query rows that share a key head (float compute) ----
// One row at a time, a prompt's attention reads every key and value row once
// a query row, a dot product at a time (causal over 512 tokens: 0.32x torch
// CPU). Here a tile of R rows of one key head (consecutive positions
// of a head, then the group's next heads) reads them once a tile: the head's
// keys are packed once a task as float blocks of kKeyBlock keys laid out
// [E][kKeyBlock], so a query element times a block is a broadcast and two
// 8-wide multiply-adds into registers, and its values as float rows, which the
// weighted sum takes 16 columns x R rows at a time.
constexpr int kKeyBlock = 16;

// Rows [0, S) of one key or value head as float rows: the tensor's own when
// it is float with unit stride along a row, else a converted copy.
struct FloatRows {
  const float* rows = nullptr;
  int64_t stride = 0;
  std::vector<float> copy;

  template <typename T>
  void take(const View4<const T>& x, int64_t b, int64_t h, int64_t S, int64_t n) {
    const T* first = &x.at(b, h, 0, 0);
    const int64_t rs = x.t->strides[2], es = x.t->strides[3];
    if constexpr (std::is_same_v<T, float>) {
      if (es == 1) {
        rows = first;
        stride = rs;
        return;
      }
    }
    copy.resize(static_cast<size_t>(S * n));
    for (int64_t j = 0; j < S; ++j)
      for (int64_t e = 0; e < n; ++e) copy[j * n + e] = static_cast<float>(first[j * rs + e * es]);
    rows = copy.data();
    stride = n;
  }
};

// One key head of one batch element, as the tiles read it: its values as float
// rows; its keys as float rows where a head has one tile (a decode step: each
// key's dot products with the tile's rows), else packed as float blocks of
// kKeyBlock keys laid out [E][kKeyBlock] (a prompt: outer products of query
// elements and key blocks), which pays once several tiles read them.
struct PackedHead {
  int64_t b = -1, hk = -1;
  bool blocked = false;
  std::vector<float> k;  // blocked: [S / kKeyBlock blocks][E][kKeyBlock], zero past S
  FloatRows k_rows, v_rows;

  template <typename T>
  void pack(const Shape& sh, const View4<const T>& K, const View4<const T>& V, int64_t b_, int64_t hk_,
            bool blocked_keys) {
    if (b == b_ && hk == hk_) return;
    b = b_;
    hk = hk_;
    blocked = blocked_keys;
    v_rows.take(V, b, hk, sh.S, sh.Ev);
    if (!blocked) {
      k_rows.take(K, b, hk, sh.S, sh.E);
      return;
    }
    const int64_t blocks = (sh.S + kKeyBlock - 1) / kKeyBlock, rs = K.t->strides[2], es = K.t->strides[3];
    const T* first = &K.at(b, hk, 0, 0);
    k.assign(static_cast<size_t>(blocks * sh.E * kKeyBlock), 0.0f);
    for (int64_t j = 0; j < sh.S; ++j) {
      float* kb = &k[(j / kKeyBlock) * sh.E * kKeyBlock + j % kKeyBlock];
      for (int64_t e = 0; e < sh.E; ++e) kb[e * kKeyBlock] = static_cast<float>(first[j * rs + e * es]);
    }
  }
};

// Scratch of one task: the tile's scaled queries and its rows of scores.
template <int R>
struct TileScratch {
  std::vector<float> q, s;
  int64_t stride = 0;  // of a row of s: S rounded up to whole key blocks
  explicit TileScratch(const Shape& sh)
      : q(static_cast<size_t>(R * sh.E)),
        s(static_cast<size_t>(R * ((sh.S + kKeyBlock - 1) / kKeyBlock) * kKeyBlock)),
        stride((sh.S + kKeyBlock - 1) / kKeyBlock * kKeyBlock) {}
};

// Scores s[r][j] = q_r . k_j for the tile's R rows over keys [0, n).
template <int R>
void tile_scores(const Shape& sh, const PackedHead& ph, TileScratch<R>& sc, int64_t n) {
  if (!ph.blocked) {  // key rows: each one's dot products with the tile's rows, 8 elements a step
    for (int64_t j = 0; j < n; ++j) {
      const float* kr = ph.k_rows.rows + j * ph.k_rows.stride;
      f8 acc[R] = {};
      int64_t e = 0;
      for (; e + 8 <= sh.E; e += 8) {
        const f8 kv = load8(kr + e);
        for (int r = 0; r < R; ++r) acc[r] += load8(&sc.q[r * sh.E + e]) * kv;
      }
      for (int r = 0; r < R; ++r) {
        float x = lanes_sum(acc[r]);
        for (int64_t d = e; d < sh.E; ++d) x += sc.q[r * sh.E + d] * kr[d];
        sc.s[r * sc.stride + j] = x;
      }
    }
    return;
  }
  for (int64_t blk = 0; blk * kKeyBlock < n; ++blk) {
    f8 acc[R][2] = {};
    const float* kb = &ph.k[blk * sh.E * kKeyBlock];
    for (int64_t e = 0; e < sh.E; ++e) {
      const f8 k0 = load8(kb + e * kKeyBlock), k1 = load8(kb + e * kKeyBlock + 8);
      for (int r = 0; r < R; ++r) {
        const f8 qv = splat8(sc.q[r * sh.E + e]);
        acc[r][0] += qv * k0;
        acc[r][1] += qv * k1;
      }
    }
    for (int r = 0; r < R; ++r) {
      store8(&sc.s[r * sc.stride + blk * kKeyBlock], acc[r][0]);
      store8(&sc.s[r * sc.stride + blk * kKeyBlock + 8], acc[r][1]);
    }
  }
}

// out_r = sum_j p[r][j] v_j over keys [0, n), scaled by inv[r], into o[r][0, Ev).
template <int R>
void tile_weighted_values(const Shape& sh, const PackedHead& ph, const TileScratch<R>& sc, int64_t n,
                          const float* inv, float* o) {
  int64_t d0 = 0;
  for (; d0 + 16 <= sh.Ev; d0 += 16) {
    f8 acc[R][2] = {};
    for (int64_t j = 0; j < n; ++j) {
      const float* vr = ph.v_rows.rows + j * ph.v_rows.stride + d0;
      const f8 v0 = load8(vr), v1 = load8(vr + 8);
      for (int r = 0; r < R; ++r) {
        const f8 p = splat8(sc.s[r * sc.stride + j]);
        acc[r][0] += p * v0;
        acc[r][1] += p * v1;
      }
    }
    for (int r = 0; r < R; ++r) {
      store8(&o[r * sh.Ev + d0], acc[r][0] * inv[r]);
      store8(&o[r * sh.Ev + d0 + 8], acc[r][1] * inv[r]);
    }
  }
  for (; d0 < sh.Ev; ++d0)
    for (int r = 0; r < R; ++r) {
      float a = 0;
      for (int64_t j = 0; j < n; ++j) a += sc.s[r * sc.stride + j] * ph.v_rows.rows[j * ph.v_rows.stride + d0];
      o[r * sh.Ev + d0] = a * inv[r];
    }
}

// Rows [rr0, rr0 + R) of key head (b, hk): row rr is position rr % L of
// query head hk * group + rr / L; rows past group * L are padding.
template <int R, typename T>
void attend_tile(const Shape& sh, const PackedHead& ph, TileScratch<R>& sc, const View4<const T>& q,
                 const gems_tensor& bias, const View4<T>& out, const gems_tensor& lse_t, int64_t rr0) {
  const int64_t b = ph.b, rows = sh.group * sh.L;
  int64_t h[R], i[R], n[R], n_max = 0;
  for (int r = 0; r < R; ++r) {
    const int64_t rr = std::min(rr0 + r, rows - 1);
    h[r] = ph.hk * sh.group + rr / sh.L;
    i[r] = rr % sh.L;
    n[r] = rr0 + r < rows ? sh.visible(i[r]) : 0;
    n_max = std::max(n_max, n[r]);
    for (int64_t e = 0; e < sh.E; ++e)
      sc.q[r * sh.E + e] = n[r] ? static_cast<float>(q.at(b, h[r], i[r], e)) * static_cast<float>(sh.scale) : 0.0f;
  }
  tile_scores(sh, ph, sc, n_max);
  const View4<const T> bv(bias);
  float inv[R], lse[R];
  for (int r = 0; r < R; ++r) {
    float* s = &sc.s[r * sc.stride];
    if (bias.data)
      for (int64_t j = 0; j < n[r]; ++j) s[j] += static_cast<float>(bv.at(b, h[r], i[r], j));
    // (a NaN score makes the row NaN through its exponential; a row of NaN only is NaN too)
    float m = max_run(s, n[r]);
    for (int64_t j = 0; j < n[r] && m == -std::numeric_limits<float>::infinity(); ++j)
      if (std::isnan(s[j])) m = s[j];
    if (m == -std::numeric_limits<float>::infinity()) {  // nothing visible: zeros, as _safe_softmax gives
      std::fill(s, s + n_max, 0.0f);
      inv[r] = 0.0f;
      lse[r] = m;
      continue;
    }
    // The row's weights, in place, over whole 16-wide steps: the keys it may not see (past n[r],
    // up to the block) set to -inf weigh 0, and no exponential is left to a scalar tail loop.
    const int64_t padded = std::min(sc.stride, (n[r] + 15) / 16 * 16);
    std::fill(s + n[r], s + padded, -std::numeric_limits<float>::infinity());
    const float sum = exp_shifted_sum(s, m, s, padded);
    std::fill(s + padded, s + std::max(padded, n_max), 0.0f);
    inv[r] = 1.0f / sum;
    lse[r] = m + std::log(sum);
  }
  float o[R * 512];
  std::vector<float> big;
  float* acc = o;
  if (R * sh.Ev > 512) {
    big.resize(static_cast<size_t>(R * sh.Ev));
    acc = big.data();
  }
  tile_weighted_values(sh, ph, sc, n_max, inv, acc);
  float* lse_base = reinterpret_cast<float*>(base_ptr(lse_t));
  for (int r = 0; r < R && rr0 + r < rows; ++r) {
    for (int64_t d = 0; d < sh.Ev; ++d) out.at(b, h[r], i[r], d) = static_cast<T>(acc[r * sh.Ev + d]);
    lse_base[b * lse_t.strides[0] + h[r] * lse_t.strides[1] + i[r] * lse_t.strides[2]] = lse[r];
  }
}

// The tiled forward in tiles of R rows: tasks over (batch, key head, tile),
// each packing a key head once for all its tiles of that head.
template <int R, typename T>
void attention_tiles_of(const Shape& sh, const gems_tensor* t) {
  const View4<T> out(t[0]);
  const View4<const T> q(t[2]), k(t[3]), v(t[4]);
  const int64_t tiles = (sh.group * sh.L + R - 1) / R;
  const int64_t work = R * sh.S * (sh.E + sh.Ev);
  parallel_for(0, sh.B * sh.Hkv * tiles, grain_for(work), [&](int64_t u0, int64_t u1) {
    PackedHead ph;
    TileScratch<R> sc(sh);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t head = u / tiles;
      ph.pack(sh, k, v, head / sh.Hkv, head % sh.Hkv, tiles > 1);
      attend_tile<R, T>(sh, ph, sc, q, t[5], out, t[1], (u % tiles) * R);
    }
  });
}

// Rows of a decode step's tile (a key head's rows, at most 4: the group's
// heads) and of a prompt's (6: twelve accumulators of 8 lanes in the scores'
// and the weighted sum's steps; 6-row tiles measured 1.10x torch CPU where 4-row
// ones gave 1.03x over 512 tokens, but 0.80-0.91x against 1.02-1.14x in a
// decode step of four query heads a key head, 2 of each 6 rows then padding).
constexpr int kDecodeTileRows = 4, kPromptTileRows = 6;

// Whether the tiled forward serves: float compute, and enough query rows a key
// head to pay for packing it (a decode tile's worth).
bool tiles_pay(const Shape& sh, int32_t dtype) {
  return dtype != GEMS_FLOAT64 && sh.group * sh.L >= kDecodeTileRows;
}

template <typename T>
void attention_tiled(const Shape& sh, const gems_tensor* t) {
  if (sh.group * sh.L <= kDecodeTileRows) attention_tiles_of<kDecodeTileRows, T>(sh, t);
  else attention_tiles_of<kPromptTileRows, T>(sh, t);
}

}  // namespace

// tensors: out [B,Hq,L,Ev], lse [B,Hq,L] (float32, float64 for double),
// q [B,Hq,L,E], k [B,Hkv,S,E], v [B,Hkv,S,Ev], bias [B,Hq,L,S] or absent.
int k_attention(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!shapes_agree(t[2], t[3], t[4])) return bad_shapes("attention");
  const Shape sh = shape_of(t[2], t[3], t[4], c);
  bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    if constexpr (std::is_same_v<A, float>) {
      if (tiles_pay(sh, t[2].dtype)) {
        attention_tiled<T>(sh, t);
        return;
      }
    }
    const View4<T> out(t[0]);
    A* lse = reinterpret_cast<A*>(base_ptr(t[1]));
    const View4<const T> q(t[2]), k(t[3]), v(t[4]);
    const int64_t rows = sh.B * sh.Hq * sh.L;
    parallel_for(0, rows, grain_for(sh.S * (sh.E + sh.Ev)), [&](int64_t r0, int64_t r1) {
      std::vector<A> qrow(sh.E), s(sh.S), acc(sh.Ev);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = r % sh.L, h = (r / sh.L) % sh.Hq, b = r / (sh.L * sh.Hq), hk = h / sh.group;
        const int64_t n = sh.visible(i);
        const A m = row_scores<T, A>(sh, q, k, t[5], b, h, i, n, qrow, s);
        A* l = lse + b * t[1].strides[0] + h * t[1].strides[1] + i * t[1].strides[2];
        std::fill(acc.begin(), acc.end(), A(0));
        if (m == -std::numeric_limits<A>::infinity()) {  // nothing visible: zeros, as _safe_softmax gives
          for (int64_t d = 0; d < sh.Ev; ++d) out.at(b, h, i, d) = static_cast<T>(A(0));
          *l = m;
          continue;
        }
        exp_shifted(s.data(), m, s.data(), n);  // the row's weights, in place
        A sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          sum += s[j];
          add_scaled(acc.data(), s[j], &v.at(b, hk, j, 0), sh.Ev, v.t->strides[3]);
        }
        for (int64_t d = 0; d < sh.Ev; ++d) out.at(b, h, i, d) = static_cast<T>(acc[d] / sum);
        *l = m + std::log(sum);
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("attention", t[2].dtype);
}

// tensors: dq [B,Hq,L,E], dk [B,Hkv,S,E], dv [B,Hkv,S,Ev], dbias [B,Hq,L,S]
// or absent, dout [B,Hq,L,Ev], q, k, v, out, lse (from "attention"), bias or
// absent. Gradients are written, not accumulated; dk and dv sum over the
// query heads that share a key head.
int k_attention_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!shapes_agree(t[5], t[6], t[7])) return bad_shapes("attention_backward");
  const Shape sh = shape_of(t[5], t[6], t[7], c);
  bool ok = dispatch_dtype<kFloating>(t[5].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const View4<T> dq(t[0]), dk(t[1]), dv(t[2]), dbias(t[3]);
    const View4<const T> dout(t[4]), q(t[5]), k(t[6]), v(t[7]), out(t[8]);
    const A* lse = reinterpret_cast<const A*>(base_ptr(t[9]));
    const bool want_dbias = t[3].data != nullptr;
    // One task per key head: it owns that head's dk and dv, so no two tasks write the same gradient.
    parallel_for(0, sh.B * sh.Hkv, grain_for(sh.group * sh.L * sh.S * (sh.E + sh.Ev)), [&](int64_t u0, int64_t u1) {
      std::vector<A> qrow(sh.E), s(sh.S), dorow(sh.Ev), dqrow(sh.E);
      std::vector<A> dk_acc(sh.S * sh.E), dv_acc(sh.S * sh.Ev);
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t b = u / sh.Hkv, hk = u % sh.Hkv;
        std::fill(dk_acc.begin(), dk_acc.end(), A(0));
        std::fill(dv_acc.begin(), dv_acc.end(), A(0));
        for (int64_t h = hk * sh.group; h < (hk + 1) * sh.group; ++h) {
          for (int64_t i = 0; i < sh.L; ++i) {
            const int64_t n = sh.visible(i);
            row_scores<T, A>(sh, q, k, t[10], b, h, i, n, qrow, s);
            const A l = lse[b * t[9].strides[0] + h * t[9].strides[1] + i * t[9].strides[2]];
            const bool empty = l == -std::numeric_limits<A>::infinity();
            A D = 0;  // rowsum(dout * out): the softmax backward's correction
            for (int64_t d = 0; d < sh.Ev; ++d) {
              dorow[d] = static_cast<A>(dout.at(b, h, i, d));
              D += dorow[d] * static_cast<A>(out.at(b, h, i, d));
            }
            std::fill(dqrow.begin(), dqrow.end(), A(0));
            for (int64_t j = 0; j < n && !empty; ++j) {
              const A p = exp_of(s[j] - l);
              add_scaled(&dv_acc[j * sh.Ev], p, dorow.data(), sh.Ev, 1);
              const A dp = dot(dorow.data(), &v.at(b, hk, j, 0), sh.Ev, v.t->strides[3]);
              const A ds = p * (dp - D);
              if (want_dbias) dbias.at(b, h, i, j) = static_cast<T>(ds);
              const A dss = ds * static_cast<A>(sh.scale);
              add_scaled(dqrow.data(), dss, &k.at(b, hk, j, 0), sh.E, k.t->strides[3]);
              add_scaled(&dk_acc[j * sh.E], dss, qrow.data(), sh.E, 1);
            }
            if (want_dbias)
              for (int64_t j = empty ? 0 : n; j < sh.S; ++j) dbias.at(b, h, i, j) = static_cast<T>(A(0));
            for (int64_t d = 0; d < sh.E; ++d) dq.at(b, h, i, d) = static_cast<T>(dqrow[d]);
          }
        }
        for (int64_t j = 0; j < sh.S; ++j) {
          for (int64_t d = 0; d < sh.E; ++d) dk.at(b, hk, j, d) = static_cast<T>(dk_acc[j * sh.E + d]);
          for (int64_t d = 0; d < sh.Ev; ++d) dv.at(b, hk, j, d) = static_cast<T>(dv_acc[j * sh.Ev + d]);
        }
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("attention_backward", t[5].dtype);
}

}  // namespace gems::cpu
