// Fused scaled-dot-product attention, forward and backward: the reference
// meaning of the "attention" kernels for every vendor. One query row at a
// time: scores against every allowed key, a numerically safe softmax through
// the row's log-sum-exp, and the weighted sum of values. Nothing of size
// L x S is ever stored except the bias gradient, when asked for.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels.h"
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
