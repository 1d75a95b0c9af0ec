// Losses over rows of class scores: the NLL loss (what PyTorch's cross entropy
// runs after log_softmax) and fused cross entropy, forward and backward.
// Operands as kernel_table.cpp documents for the cpu vendor.
#include "kernels.h"
#include "reduce.cuh"
#include "runtime.h"

namespace gems::nvidia {
namespace {

// ---- NLL loss ----
template <typename T>
__global__ void nll_forward(int64_t N, int64_t C, const T* LP, int64_t lps0, int64_t lps1, const int64_t* Y, int64_t ys,
                            const T* W, int64_t ws, T* OUT, int64_t os, T* TOTAL, int64_t reduction, int64_t ignore,
                            KernelErrors* errors) {
  using A = stat_t<T>;
  A loss = 0, wsum = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const int64_t y = Y[i * ys];
    A li = 0;
    if (y != ignore && (y < 0 || y >= C)) record_kernel_error(errors, GEMS_KERNEL_ERROR_TARGET, y, 0, C);
    if (y != ignore && y >= 0 && y < C) {  // out-of-range targets count as ignored (and are recorded)
      const A w = W ? load_as<A>(W[y * ws]) : A(1);
      li = -w * load_as<A>(LP[i * lps0 + y * lps1]);
      wsum += w;
    }
    if (reduction == 0) OUT[i * os] = store_as<T>(li);
    else loss += li;
  }
  loss = block_sum_all(loss);
  wsum = block_sum_all(wsum);
  if (threadIdx.x == 0) {
    if (reduction == 1) OUT[0] = store_as<T>(loss / wsum);
    if (reduction == 2) OUT[0] = store_as<T>(loss);
    *TOTAL = store_as<T>(reduction == 0 ? A(0) : wsum);
  }
}

template <typename T>
__global__ void nll_backward(int64_t N, int64_t C, T* G, const T* GO, int64_t gos, const int64_t* Y, int64_t ys,
                             const T* W, int64_t ws, const T* TOTAL, int64_t reduction, int64_t ignore) {
  using A = stat_t<T>;
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const int64_t y = Y[i * ys];
  if (y == ignore || y < 0 || y >= C) return;
  const A w = W ? load_as<A>(W[y * ws]) : A(1);
  A g = reduction == 0 ? load_as<A>(GO[i * gos]) : load_as<A>(GO[0]);
  if (reduction == 1) g /= load_as<A>(*TOTAL);
  G[i * C + y] = store_as<T>(-w * g);
}

// Cross entropy, fused: the row's log-sum-exp in one read, then the target's
// logit. Rows as kernel_table.cpp documents for the cpu vendor.

// Folds vectors [first, end) of a dense, 16-byte aligned row into `state`,
// kVecs 16-byte loads in flight a thread, one rescale per vector.
template <typename T, int kVecs, typename S>
__device__ __forceinline__ void fold_lse_vectors(const T* x, int64_t first, int64_t end, S& state) {
  using A = acc_t<T>;
  constexpr int V = 16 / sizeof(T);
  const auto* xv = reinterpret_cast<const Vec<T, V>*>(x);
  for (int64_t base = first + threadIdx.x; base < end; base += int64_t{kVecs} * blockDim.x) {
    Vec<T, V> p[kVecs];
#pragma unroll
    for (int k = 0; k < kVecs; ++k)
      if (base + k * blockDim.x < end) p[k] = xv[base + k * blockDim.x];
#pragma unroll
    for (int k = 0; k < kVecs; ++k) {
      if (base + k * blockDim.x >= end) continue;
      A m = state.mx;
#pragma unroll
      for (int j = 0; j < V; ++j) m = fmax(m, load_as<A>(p[k].v[j]));
      if (m > state.mx) { state.sum *= ::exp(state.mx - m); state.mx = m; }
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const A v = load_as<A>(p[k].v[j]);
        // while the max is -inf only NaN may lie here (fmax skips it): it must reach the sum
        state.sum += state.mx == -INFINITY ? (v == -INFINITY ? A(0) : v) : ::exp(v - state.mx);
      }
    }
  }
}

// Writes sample i's loss, weight and log-sum-exp from its folded state.
template <typename T, typename S>
__device__ __forceinline__ void write_cross_entropy_row(int64_t i, S state, int64_t C, const T* x, int64_t xs1,
                                                        const int64_t* Y, int64_t ys, const T* W, int64_t ws,
                                                        stat_t<T>* rows, int64_t rs0, int64_t rs1, int64_t ignore,
                                                        KernelErrors* errors) {
  using A = acc_t<T>;
  const A lse = LsePolicy<A>::lse(state);
  const int64_t y = Y[i * ys];
  A loss = 0, w = 0;
  if (y != ignore && (y < 0 || y >= C)) record_kernel_error(errors, GEMS_KERNEL_ERROR_TARGET, y, 0, C);
  if (y != ignore && y >= 0 && y < C) {  // out-of-range targets count as ignored (and are recorded)
    w = W ? load_as<A>(W[y * ws]) : A(1);
    loss = w * (lse - load_as<A>(x[y * xs1]));
  }
  rows[i * rs1] = static_cast<stat_t<T>>(loss);
  rows[rs0 + i * rs1] = static_cast<stat_t<T>>(w);
  rows[2 * rs0 + i * rs1] = static_cast<stat_t<T>>(lse);
}

// A block per row.
template <typename T, int kVecs, bool kDense>
__global__ void cross_entropy_rows(int64_t C, const T* X, int64_t xs0, int64_t xs1, const int64_t* Y, int64_t ys,
                                   const T* W, int64_t ws, stat_t<T>* rows, int64_t rs0, int64_t rs1, int64_t ignore,
                                   KernelErrors* errors) {
  using P = LsePolicy<acc_t<T>>;
  const int64_t i = blockIdx.x;
  const T* x = X + i * xs0;
  typename P::S state = P::init();
  if constexpr (kDense) fold_lse_vectors<T, kVecs>(x, 0, C / (16 / sizeof(T)), state);
  else
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) P::add(state, load_as<acc_t<T>>(x[j * xs1]), j);
  state = block_reduce<P>(state);
  if (threadIdx.x == 0) write_cross_entropy_row(i, state, C, x, xs1, Y, ys, W, ws, rows, rs0, rs1, ignore, errors);
}

// Few long rows (a small batch over a large vocabulary): blockIdx.y is the
// row, blockIdx.x one of its chunks of `chunk` vectors; each block leaves its
// (max, sum) state, and cross_entropy_merge finishes the row.
template <typename T, int kVecs>
__global__ void cross_entropy_partials(int64_t C, int64_t chunk, const T* X, int64_t xs0,
                                       typename LsePolicy<acc_t<T>>::S* partials) {
  using P = LsePolicy<acc_t<T>>;
  const int64_t nv = C / (16 / sizeof(T)), first = int64_t{blockIdx.x} * chunk;
  typename P::S state = P::init();
  fold_lse_vectors<T, kVecs>(X + blockIdx.y * xs0, first, first + chunk < nv ? first + chunk : nv, state);
  state = block_reduce<P>(state);
  if (threadIdx.x == 0) partials[int64_t{blockIdx.y} * gridDim.x + blockIdx.x] = state;
}

// A warp per row merges its chunks' states (in chunk order: deterministic).
template <typename T>
__global__ void cross_entropy_merge(int64_t N, int chunks, const typename LsePolicy<acc_t<T>>::S* partials, int64_t C,
                                    const T* X, int64_t xs0, const int64_t* Y, int64_t ys, const T* W, int64_t ws,
                                    stat_t<T>* rows, int64_t rs0, int64_t rs1, int64_t ignore, KernelErrors* errors) {
  using P = LsePolicy<acc_t<T>>;
  const int64_t i = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (i >= N) return;
  typename P::S state = P::init();
  for (int k = lane; k < chunks; k += 32) state = P::merge(state, partials[i * chunks + k]);
  state = warp_reduce<P>(state);
  if (lane == 0) write_cross_entropy_row(i, state, C, X + i * xs0, 1, Y, ys, W, ws, rows, rs0, rs1, ignore, errors);
}

// Its gradient, grad[j] = g * w * (exp(x[j] - lse) - (j == y)): blockIdx.y
// walks the rows (a grid holds at most 65535 of them), blockIdx.x takes a
// chunk of `chunk` vectors of a dense aligned row (kVecs 16-byte loads in
// flight a thread) or, for other rows, the whole row.
template <typename T, int kVecs, bool kDense>
__global__ void cross_entropy_backward_rows(int64_t N, int64_t C, int64_t chunk, T* G, int64_t gs0, int64_t gs1,
                                            const stat_t<T>* GO, int64_t gos, const T* X, int64_t xs0, int64_t xs1,
                                            const int64_t* Y, int64_t ys, const stat_t<T>* rows, int64_t rs0,
                                            int64_t rs1) {
  using A = acc_t<T>;
  constexpr int V = 16 / sizeof(T);
  for (int64_t i = blockIdx.y; i < N; i += gridDim.y) {
    const A scale = static_cast<A>(GO[i * gos]) * static_cast<A>(rows[rs0 + i * rs1]);
    const A lse = static_cast<A>(rows[2 * rs0 + i * rs1]);
    const int64_t y = Y[i * ys];
    const T* x = X + i * xs0;
    T* g = G + i * gs0;
    auto grad = [&](A v, int64_t j) { return store_as<T>(scale * (::exp(v - lse) - (j == y ? A(1) : A(0)))); };
    if constexpr (kDense) {
      const auto* xv = reinterpret_cast<const Vec<T, V>*>(x);
      auto* gv = reinterpret_cast<Vec<T, V>*>(g);
      const int64_t first = int64_t{blockIdx.x} * chunk, end = C / V < first + chunk ? C / V : first + chunk;
      for (int64_t base = first + threadIdx.x; base < end; base += int64_t{kVecs} * blockDim.x) {
        Vec<T, V> p[kVecs];
#pragma unroll
        for (int k = 0; k < kVecs; ++k)
          if (base + k * blockDim.x < end) p[k] = xv[base + k * blockDim.x];
#pragma unroll
        for (int k = 0; k < kVecs; ++k) {
          const int64_t v = base + k * blockDim.x;
          if (v >= end) continue;
          Vec<T, V> o;
#pragma unroll
          for (int j = 0; j < V; ++j) o.v[j] = grad(load_as<A>(p[k].v[j]), v * V + j);
          gv[v] = o;
        }
      }
    } else {
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) g[j * gs1] = grad(load_as<A>(x[j * xs1]), j);
    }
  }
}

}  // namespace

int k_nll_loss(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[2].sizes[0], C = t[2].sizes[1];
    nll_forward<T><<<1, 256, 0, stream_of(c)>>>(N, C, ptr<T>(t[2]), t[2].strides[0], t[2].strides[1],
                                                 ptr<int64_t>(t[3]), t[3].strides[0], ptr<T>(t[4]),
                                                 t[4].data ? t[4].strides[0] : 0, ptr<T>(t[0]),
                                                 t[0].ndim ? t[0].strides[0] : 0, ptr<T>(t[1]), c->scalars[0].i,
                                                 c->scalars[1].i, kernel_errors());
  });
  return ok ? launch_status("nll_loss") : unsupported_dtype("nll_loss", t[2].dtype);
}

int k_cross_entropy(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(t[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[1].sizes[0], C = t[1].sizes[1];
    if (N == 0) return;
    constexpr int V = 16 / sizeof(T), kVecs = 4;
    const bool dense = rows_are_vectors(t[1], V);
    const int64_t nv = C / V;
    // chunks a row so that a few rows still fill the GPU (at least 512 vectors a chunk)
    const int64_t chunks = dense ? std::min<int64_t>((4 * num_sms() + N - 1) / N, nv / 512) : 1;
    if (chunks >= 2 && N <= 65535) {
      using S = typename LsePolicy<acc_t<T>>::S;
      S* partials = nullptr;
      if ((status = scratch_malloc(reinterpret_cast<void**>(&partials), N * chunks * sizeof(S), stream_of(c)))) return;
      const int64_t chunk = (nv + chunks - 1) / chunks;
      cross_entropy_partials<T, kVecs><<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(N)),
                                         std::min(threads_for_row(chunk, 2 * kVecs), 256), 0, stream_of(c)>>>(
          C, chunk, ptr<T>(t[1]), t[1].strides[0], partials);
      cross_entropy_merge<T><<<static_cast<unsigned>((N * 32 + 255) / 256), 256, 0, stream_of(c)>>>(
          N, static_cast<int>(chunks), partials, C, ptr<T>(t[1]), t[1].strides[0], ptr<int64_t>(t[2]),
          t[2].strides[0], ptr<T>(t[3]), t[3].data ? t[3].strides[0] : 0, ptr<stat_t<T>>(t[0]), t[0].strides[0],
          t[0].strides[1], c->scalars[0].i, kernel_errors());
      scratch_free(partials, stream_of(c));
      return;
    }
    const int threads = dense ? std::min(threads_for_row(nv, 2 * kVecs), 256) : block_for(C);
    auto kernel = dense ? cross_entropy_rows<T, kVecs, true> : cross_entropy_rows<T, kVecs, false>;
    kernel<<<static_cast<unsigned>(N), threads, 0, stream_of(c)>>>(
        C, ptr<T>(t[1]), t[1].strides[0], t[1].strides[1], ptr<int64_t>(t[2]), t[2].strides[0], ptr<T>(t[3]),
        t[3].data ? t[3].strides[0] : 0, ptr<stat_t<T>>(t[0]), t[0].strides[0], t[0].strides[1], c->scalars[0].i,
        kernel_errors());
  });
  if (status != GEMS_OK) return status;
  return ok ? launch_status("cross_entropy") : unsupported_dtype("cross_entropy", t[1].dtype);
}

int k_cross_entropy_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[2].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[2].sizes[0], C = t[2].sizes[1];
    if (N == 0 || C == 0) return;
    constexpr int V = 16 / sizeof(T), kVecs = 4;
    const bool dense = rows_are_vectors(t[0], V) && rows_are_vectors(t[2], V);
    const int threads = dense ? std::min(threads_for_row(C / V, kVecs), 256) : block_for(C);
    // dense rows are cut into chunks of 4 passes of the block, so that few rows still fill the GPU
    const int64_t chunk = int64_t{threads} * kVecs * 4, chunks = dense ? (C / V + chunk - 1) / chunk : 1;
    auto kernel = dense ? cross_entropy_backward_rows<T, kVecs, true> : cross_entropy_backward_rows<T, kVecs, false>;
    kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(std::min<int64_t>(N, 65535))), threads, 0,
             stream_of(c)>>>(
        N, C, chunk, ptr<T>(t[0]), t[0].strides[0], t[0].strides[1], ptr<stat_t<T>>(t[1]), t[1].strides[0], ptr<T>(t[2]),
        t[2].strides[0], t[2].strides[1], ptr<int64_t>(t[3]), t[3].strides[0], ptr<stat_t<T>>(t[4]), t[4].strides[0],
        t[4].strides[1]);
  });
  return ok ? launch_status("cross_entropy_backward") : unsupported_dtype("cross_entropy_backward", t[2].dtype);
}

int k_nll_loss_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  const bool ok = dispatch_dtype<kFloating>(t[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = t[0].sizes[0], C = t[0].sizes[1];
    cudaMemsetAsync(ptr<T>(t[0]), 0, N * C * sizeof(T), stream_of(c));
    if (N)
      nll_backward<T><<<static_cast<unsigned>((N + 255) / 256), 256, 0, stream_of(c)>>>(
          N, C, ptr<T>(t[0]), ptr<T>(t[1]), t[1].ndim ? t[1].strides[0] : 0, ptr<int64_t>(t[2]), t[2].strides[0],
          ptr<T>(t[3]), t[3].data ? t[3].strides[0] : 0, ptr<T>(t[4]), c->scalars[0].i, c->scalars[1].i);
  });
  return ok ? launch_status("nll_loss_backward") : unsupported_dtype("nll_loss_backward", t[0].dtype);
}

}  // namespace gems::nvidia
