// batch_norm's per-channel reductions (operands in backends/cpu/kernel_table.cpp)
// over x viewed [N, C, S]: blocks of 256 threads, each over one channel's
// share of its N*S elements (enough shares to fill the card), reduced in the
// block, then one thread a channel merges the shares in order. Statistics
// are Welford moments (backends/common/moments.h), gradients plain sums, in
// float (double for double).
#include "../common/batch_norm_operands.h"
#include "../common/moments.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "reduce.cuh"
#include "runtime.h"

namespace gems::nvidia {
namespace {

constexpr int kShareBlock = 256;

template <typename A>
struct MomentsPolicy {
  using S = Moments<A>;
  __device__ static S init() { return {A(0), A(0), A(0)}; }
  __device__ static S merge(S a, S b) { return moments_merge(a, b); }
  __device__ static S shfl_down(S s, int d) {
    return {__shfl_down_sync(0xffffffffu, s.count, d), __shfl_down_sync(0xffffffffu, s.mean, d),
            __shfl_down_sync(0xffffffffu, s.m2, d)};
  }
};

template <typename A>
struct PairPolicy {
  struct S { A dy, dy_xmu; };
  __device__ static S init() { return {A(0), A(0)}; }
  __device__ static S merge(S a, S b) { return {a.dy + b.dy, a.dy_xmu + b.dy_xmu}; }
  __device__ static S shfl_down(S s, int d) {
    return {__shfl_down_sync(0xffffffffu, s.dy, d), __shfl_down_sync(0xffffffffu, s.dy_xmu, d)};
  }
};

// [N, C, S] strides of an operand.
struct Strides3 {
  int64_t n, c, s;
};

// Visits (offset in a, offset in b) of channel c's elements [begin, end) of
// its N*S, this thread's share: one division a row segment, not an element.
template <typename Visit>
__device__ void each_element(int64_t S, Strides3 a, Strides3 b, int64_t c, int64_t begin, int64_t end, Visit visit) {
  for (int64_t e = begin; e < end;) {
    const int64_t n = e / S, s0 = e - n * S, len = min(S - s0, end - e);
    const int64_t base_a = n * a.n + c * a.c, base_b = n * b.n + c * b.c;
    for (int64_t s = s0 + threadIdx.x; s < s0 + len; s += blockDim.x) visit(base_a + s * a.s, base_b + s * b.s);
    e += len;
  }
}

template <typename T, typename A>
__global__ void stats_shares(int64_t S, int64_t per_share, int64_t total, int shares, Strides3 xs, const T* x,
                             Moments<A>* partial) {
  const int64_t c = blockIdx.x / shares, k = blockIdx.x % shares;
  Moments<A> m{A(0), A(0), A(0)};
  each_element(S, xs, xs, c, k * per_share, min(total, (k + 1) * per_share),
               [&](int64_t at, int64_t) { moments_add(m, load_as<A>(x[at])); });
  m = block_reduce<MomentsPolicy<A>>(m);
  if (threadIdx.x == 0) partial[blockIdx.x] = m;
}

template <typename A>
__global__ void stats_merge(int64_t C, int shares, const Moments<A>* partial, A* mean, int64_t mean_step, A* var,
                            int64_t var_step) {
  const int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= C) return;
  Moments<A> m = partial[c * shares];
  for (int k = 1; k < shares; ++k) m = moments_merge(m, partial[c * shares + k]);
  mean[c * mean_step] = m.mean;
  var[c * var_step] = m.count > A(0) ? m.m2 / m.count : A(0);
}

template <typename T, typename A>
__global__ void grad_shares(int64_t S, int64_t per_share, int64_t total, int shares, Strides3 gs, Strides3 xs,
                            const T* dy, const T* x, const A* mean, int64_t mean_step,
                            typename PairPolicy<A>::S* partial) {
  const int64_t c = blockIdx.x / shares, k = blockIdx.x % shares;
  const A mu = mean[c * mean_step];
  typename PairPolicy<A>::S sums{A(0), A(0)};
  each_element(S, gs, xs, c, k * per_share, min(total, (k + 1) * per_share), [&](int64_t g_at, int64_t x_at) {
    const A g = load_as<A>(dy[g_at]);
    sums.dy += g;
    sums.dy_xmu += g * (load_as<A>(x[x_at]) - mu);
  });
  sums = block_reduce<PairPolicy<A>>(sums);
  if (threadIdx.x == 0) partial[blockIdx.x] = sums;
}

template <typename A>
__global__ void grad_merge(int64_t C, int shares, const typename PairPolicy<A>::S* partial, A* sum_dy,
                           int64_t dy_step, A* sum_dy_xmu, int64_t xmu_step) {
  const int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= C) return;
  A a = 0, b = 0;
  for (int k = 0; k < shares; ++k) {
    a += partial[c * shares + k].dy;
    b += partial[c * shares + k].dy_xmu;
  }
  sum_dy[c * dy_step] = a;
  sum_dy_xmu[c * xmu_step] = b;
}

// Shares per channel: enough blocks for four a multiprocessor, none under 4096 elements.
int shares_for(int64_t C, int64_t total) {
  const int64_t want = (int64_t{num_sms()} * 4 + C - 1) / C;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(want, (total + 4095) / 4096)));
}

Strides3 strides3(const gems_tensor& t) { return {t.strides[0], t.strides[1], t.strides[2]}; }

}  // namespace

int k_batch_norm_stats(const gems_kernel_call* c) {
  const BatchNormOperands op(c, false);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, "batch_norm_stats: expected mean [C], var [C], x [N, C, S]");
  const gems_tensor &mean = *op.out0, &var = *op.out1, &x = *op.x;
  const int64_t C = x.sizes[1], S = x.sizes[2], total = x.sizes[0] * S;
  if (C == 0) return GEMS_OK;
  cudaStream_t stream = stream_of(c);
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    const int shares = shares_for(C, total);
    const int64_t per_share = (total + shares - 1) / shares;
    Moments<A>* partial = nullptr;
    if ((status = scratch_malloc(reinterpret_cast<void**>(&partial), sizeof(Moments<A>) * C * shares, stream))) return;
    stats_shares<T, A><<<static_cast<unsigned>(C * shares), kShareBlock, 0, stream>>>(
        S, per_share, total, shares, strides3(x), reinterpret_cast<const T*>(base_ptr(x)), partial);
    stats_merge<A><<<static_cast<unsigned>((C + 127) / 128), 128, 0, stream>>>(
        C, shares, partial, reinterpret_cast<A*>(base_ptr(mean)), mean.strides[0], reinterpret_cast<A*>(base_ptr(var)),
        var.strides[0]);
    scratch_free(partial, stream);
  });
  if (status) return status;
  return ok ? launch_status("batch_norm_stats") : unsupported_dtype("batch_norm_stats", x.dtype);
}

int k_batch_norm_backward_reduce(const gems_kernel_call* c) {
  const BatchNormOperands op(c, true);
  if (!op.ok)
    return set_error_string(GEMS_INVALID_ARGUMENT, "batch_norm_backward_reduce: expected sum_dy [C], sum_dy_xmu [C], "
                                                   "dy [N, C, S], x [N, C, S], mean [C]");
  const gems_tensor &sum_dy = *op.out0, &sum_dy_xmu = *op.out1, &dy = *op.dy, &x = *op.x, &mean = *op.mean;
  const int64_t C = dy.sizes[1], S = dy.sizes[2], total = dy.sizes[0] * S;
  if (C == 0) return GEMS_OK;
  cudaStream_t stream = stream_of(c);
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    using P = typename PairPolicy<A>::S;
    const int shares = shares_for(C, total);
    const int64_t per_share = (total + shares - 1) / shares;
    P* partial = nullptr;
    if ((status = scratch_malloc(reinterpret_cast<void**>(&partial), sizeof(P) * C * shares, stream))) return;
    grad_shares<T, A><<<static_cast<unsigned>(C * shares), kShareBlock, 0, stream>>>(
        S, per_share, total, shares, strides3(dy), strides3(x), reinterpret_cast<const T*>(base_ptr(dy)),
        reinterpret_cast<const T*>(base_ptr(x)), reinterpret_cast<const A*>(base_ptr(mean)), mean.strides[0], partial);
    grad_merge<A><<<static_cast<unsigned>((C + 127) / 128), 128, 0, stream>>>(
        C, shares, partial, reinterpret_cast<A*>(base_ptr(sum_dy)), sum_dy.strides[0],
        reinterpret_cast<A*>(base_ptr(sum_dy_xmu)), sum_dy_xmu.strides[0]);
    scratch_free(partial, stream);
  });
  if (status) return status;
  return ok ? launch_status("batch_norm_backward_reduce") : unsupported_dtype("batch_norm_backward_reduce", x.dtype);
}

}  // namespace gems::nvidia
