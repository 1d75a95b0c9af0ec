// Losses over rows of class scores: the NLL loss (what PyTorch's cross entropy
// runs after log_softmax) and fused cross entropy, forward and backward.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "kernels.h"
#include "row_loop.h"
#include "runtime.h"
#include "vector_exp.h"

namespace gems::cpu {

// tensors: out ([N] for reduction none, else 0-dim), total_weight (0-dim),
// logp [N,C], target [N] int64, weight [C] or absent.
// scalars: [0].i reduction (0 none, 1 mean, 2 sum), [1].i ignore_index.
int k_nll_loss(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const int64_t reduction = c->scalars[0].i, ignore = c->scalars[1].i;
  int status = GEMS_OK;
  std::string error;
  bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t N = t[2].sizes[0], C = t[2].sizes[1];
    const T* LP = reinterpret_cast<const T*>(base_ptr(t[2]));
    const int64_t* Y = reinterpret_cast<const int64_t*>(base_ptr(t[3]));
    const T* W = present(t[4]) ? reinterpret_cast<const T*>(base_ptr(t[4])) : nullptr;
    T* OUT = reinterpret_cast<T*>(base_ptr(t[0]));
    A loss = 0, wsum = 0;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t y = Y[i * t[3].strides[0]];
      A li = 0;
      if (y != ignore) {
        if (y < 0 || y >= C) { status = GEMS_INVALID_ARGUMENT; error = "Target " + std::to_string(y) + " is out of bounds."; return; }
        const A w = W ? static_cast<A>(W[y * t[4].strides[0]]) : A(1);
        li = -w * static_cast<A>(LP[i * t[2].strides[0] + y * t[2].strides[1]]);
        wsum += w;
      }
      if (reduction == 0) OUT[i * t[0].strides[0]] = static_cast<T>(li);
      else loss += li;
    }
    if (reduction == 1) OUT[0] = static_cast<T>(loss / wsum);  // 0/0 = NaN, as PyTorch
    if (reduction == 2) OUT[0] = static_cast<T>(loss);
    *reinterpret_cast<T*>(base_ptr(t[1])) = static_cast<T>(reduction == 0 ? A(0) : wsum);
  });
  if (status != GEMS_OK) return set_error(status, error.c_str());
  return ok ? GEMS_OK : unsupported_dtype("nll_loss", t[2].dtype);
}

// Cross entropy over class-index targets, fused (kernel_table.cpp documents the
// operands): one pass over each row for its log-sum-exp, then the target's logit.
int k_cross_entropy(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const int64_t ignore = c->scalars[0].i;
  const int64_t N = t[1].sizes[0], C = t[1].sizes[1];
  std::atomic<bool> bad{false};
  std::atomic<int64_t> bad_target{0};
  bool ok = dispatch_dtype<kFloating>(t[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    A* rows = reinterpret_cast<A*>(base_ptr(t[0]));
    const int64_t rs0 = t[0].strides[0], rs1 = t[0].strides[1];
    const T* X = reinterpret_cast<const T*>(base_ptr(t[1]));
    const int64_t xs0 = t[1].strides[0], xs1 = t[1].strides[1];
    const int64_t* Y = reinterpret_cast<const int64_t*>(base_ptr(t[2]));
    const T* W = present(t[3]) ? reinterpret_cast<const T*>(base_ptr(t[3])) : nullptr;
    parallel_for(0, N, grain_for(C), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T* x = X + i * xs0;
        // the row contiguous in A, its exponentials in one vectorized pass (as softmax's rows)
        const A* v = contiguous_row<A>(x, C, xs1);
        const A mx = max_run(v, C);
        const A shift = std::isinf(mx) ? A(0) : mx;  // all -inf (or +inf): no inf - inf
        A* e = scratch_row<A>(1, C);
        const A lse = std::log(exp_shifted_sum(v, shift, e, C)) + shift;
        const int64_t y = Y[i * t[2].strides[0]];
        A loss = 0, w = 0;
        if (y != ignore) {
          if (y < 0 || y >= C) {
            bad_target.store(y);
            bad.store(true);
          } else {
            w = W ? static_cast<A>(W[y * t[3].strides[0]]) : A(1);
            loss = w * (lse - static_cast<A>(x[y * xs1]));
          }
        }
        rows[i * rs1] = loss;
        rows[rs0 + i * rs1] = w;
        rows[2 * rs0 + i * rs1] = lse;
      }
    });
  });
  if (bad.load())
    return set_error(GEMS_INVALID_ARGUMENT, ("Target " + std::to_string(bad_target.load()) + " is out of bounds.").c_str());
  return ok ? GEMS_OK : unsupported_dtype("cross_entropy", t[1].dtype);
}

// The gradient of the fused cross entropy: grad_in[i, j] = g[i] * w[i] *
// (exp(x[i, j] - lse[i]) - (j == y[i])), w and lse from the forward's rows.
int k_cross_entropy_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t N = t[2].sizes[0], C = t[2].sizes[1];
    T* G = reinterpret_cast<T*>(base_ptr(t[0]));
    const A* GO = reinterpret_cast<const A*>(base_ptr(t[1]));
    const T* X = reinterpret_cast<const T*>(base_ptr(t[2]));
    const int64_t* Y = reinterpret_cast<const int64_t*>(base_ptr(t[3]));
    const A* rows = reinterpret_cast<const A*>(base_ptr(t[4]));
    const int64_t rs0 = t[4].strides[0], rs1 = t[4].strides[1];
    parallel_for(0, N, grain_for(C), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const A scale = GO[i * t[1].strides[0]] * rows[rs0 + i * rs1], lse = rows[2 * rs0 + i * rs1];
        const int64_t y = Y[i * t[3].strides[0]];
        const T* x = X + i * t[2].strides[0];
        T* g = G + i * t[0].strides[0];
        for (int64_t j = 0; j < C; ++j)
          g[j * t[0].strides[1]] =
              static_cast<T>(scale * (exp_of(static_cast<A>(x[j * t[2].strides[1]]) - lse) - A(j == y ? 1 : 0)));
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("cross_entropy_backward", t[2].dtype);
}

// tensors: grad_in [N,C] (contiguous), grad_out ([N] or 0-dim), target [N],
// weight [C] or absent, total_weight (0-dim). scalars as nll_loss.
int k_nll_loss_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const int64_t reduction = c->scalars[0].i, ignore = c->scalars[1].i;
  bool ok = dispatch_dtype<kFloating>(t[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t N = t[0].sizes[0], C = t[0].sizes[1];
    T* G = reinterpret_cast<T*>(base_ptr(t[0]));
    const T* GO = reinterpret_cast<const T*>(base_ptr(t[1]));
    const int64_t* Y = reinterpret_cast<const int64_t*>(base_ptr(t[2]));
    const T* W = present(t[3]) ? reinterpret_cast<const T*>(base_ptr(t[3])) : nullptr;
    const A total_weight = static_cast<A>(*reinterpret_cast<const T*>(base_ptr(t[4])));
    for (int64_t i = 0; i < N * C; ++i) G[i] = T(0.0f);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t y = Y[i * t[2].strides[0]];
      if (y == ignore || y < 0 || y >= C) continue;
      const A w = W ? static_cast<A>(W[y * t[3].strides[0]]) : A(1);
      A g = reduction == 0 ? static_cast<A>(GO[i * t[1].strides[0]]) : static_cast<A>(GO[0]);
      if (reduction == 1) g /= total_weight;
      G[i * C + y] = static_cast<T>(-w * g);
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("nll_loss_backward", t[0].dtype);
}

}  // namespace gems::cpu
