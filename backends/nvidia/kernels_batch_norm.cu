// batch_norm's kernels (operands in backends/cpu/kernel_table.cpp). The
// per-channel reductions over x viewed [N, C, S]: blocks of 256 threads, each over one channel's
// share of its N*S elements (enough shares to fill the card), reduced in the
// block, then one thread a channel merges the shares in order. Statistics
// are Welford moments (backends/common/moments.h), gradients plain sums, in
// float (double for double). The coefficients (a thread a channel) and the
// pass over the input (a block a row of [N, C, S] in memory order, so that a
// row's coefficients are read once) follow backends/common/batch_norm_apply.h.
#include "../common/batch_norm_apply.h"
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
  // A channel's whole state as its two outputs: the mean and the biased variance.
  __device__ static void store(S s, A* mean, A* var) {
    *mean = s.mean;
    *var = s.count > A(0) ? s.m2 / s.count : A(0);
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
  __device__ static void store(S s, A* sum_dy, A* sum_dy_xmu) {
    *sum_dy = s.dy;
    *sum_dy_xmu = s.dy_xmu;
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

// One thread a channel: its shares' states merged in order, stored as its two outputs.
template <typename P, typename A>
__global__ void merge_shares(int64_t C, int shares, const typename P::S* partial, A* out0, int64_t step0, A* out1,
                             int64_t step1) {
  const int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= C) return;
  typename P::S s = partial[c * shares];
  for (int k = 1; k < shares; ++k) s = P::merge(s, partial[c * shares + k]);
  P::store(s, out0 + c * step0, out1 + c * step1);
}

// Shares per channel: enough blocks for four a multiprocessor, none under 4096 elements.
int shares_for(int64_t C, int64_t total) {
  const int64_t want = (int64_t{num_sms()} * 4 + C - 1) / C;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(want, (total + 4095) / 4096)));
}

Strides3 strides3(const gems_tensor& t) { return {t.strides[0], t.strides[1], t.strides[2]}; }

// The vectors of batch_norm_coefficients (nine or ten) or group_norm_coefficients
// (up to ten), each of its own float dtype (backends/common/batch_norm_operands.h).
template <int K = BatchNormCoefficientsOperands::kTensors>
struct CoefficientVectors {
  char* p[K];
  int64_t stride[K];  // in elements
  int32_t dtype[K];
};

// Element i of vector k, read and written as A: what the shared coefficient
// code gets for *at(...).
template <typename A, int K>
struct VectorElement {
  const CoefficientVectors<K>* v;
  int k;
  int64_t i;
  template <typename T>
  __device__ T* typed() const {
    return reinterpret_cast<T*>(v->p[k]) + i * v->stride[k];
  }
  __device__ operator A() const {
    switch (v->dtype[k]) {
      case GEMS_FLOAT32: return load_as<A>(*typed<float>());
      case GEMS_FLOAT64: return load_as<A>(*typed<double>());
      case GEMS_FLOAT16: return load_as<A>(*typed<half>());
      default: return load_as<A>(*typed<bf16>());
    }
  }
  __device__ const VectorElement& operator=(A x) const {
    switch (v->dtype[k]) {
      case GEMS_FLOAT32: *typed<float>() = store_as<float>(x); break;
      case GEMS_FLOAT64: *typed<double>() = store_as<double>(x); break;
      case GEMS_FLOAT16: *typed<half>() = store_as<half>(x); break;
      default: *typed<bf16>() = store_as<bf16>(x); break;
    }
    return *this;
  }
};
template <typename A, int K>
struct VectorPointer {
  VectorElement<A, K> e;
  __device__ VectorElement<A, K> operator*() const { return e; }
};

template <int K>
CoefficientVectors<K> coefficient_vectors(const gems_kernel_call* c) {
  CoefficientVectors<K> v{};
  for (int k = 0; k < c->num_tensors; ++k) {
    v.p[k] = static_cast<char*>(base_ptr(c->tensors[k]));
    v.stride[k] = c->tensors[k].strides[0];
    v.dtype[k] = c->tensors[k].dtype;
  }
  return v;
}

// Runs one of the two reductions over C channels of `total` elements each:
// launch_shares(partial, shares, per_share) launches its shares kernel, one
// block a share writing one partial state; merge_shares then writes the
// [C] outputs out0 and out1.
template <typename P, typename A, typename LaunchShares>
int reduce_channels(const gems_kernel_call* c, int64_t C, int64_t total, const gems_tensor& out0,
                    const gems_tensor& out1, LaunchShares launch_shares) {
  using S = typename P::S;
  cudaStream_t stream = stream_of(c);
  const int shares = shares_for(C, total);
  S* partial = nullptr;
  if (int status = scratch_malloc(reinterpret_cast<void**>(&partial), sizeof(S) * C * shares, stream)) return status;
  launch_shares(partial, shares, (total + shares - 1) / shares, stream);
  merge_shares<P, A><<<static_cast<unsigned>((C + 127) / 128), 128, 0, stream>>>(
      C, shares, partial, reinterpret_cast<A*>(base_ptr(out0)), out0.strides[0], reinterpret_cast<A*>(base_ptr(out1)),
      out1.strides[0]);
  scratch_free(partial, stream);
  return GEMS_OK;
}

template <typename A>
__global__ void coefficients(int64_t C, int64_t mode, int64_t flags, A eps, A momentum, A count, CoefficientVectors<> v) {
  const int64_t ch = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (ch >= C) return;
  batch_norm_coefficients_at<A>(mode, flags, eps, momentum, count,
                                [&](int k) { return VectorPointer<A, BatchNormCoefficientsOperands::kTensors>{{&v, k, ch}}; });
}

template <typename A>
__global__ void group_coefficients(GroupNormCoefficientsOperands op, A eps, A count, CoefficientVectors<10> v) {
  const int64_t ch = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (ch >= op.C) return;
  group_norm_coefficients_at<A>(op.mode, op.flags, eps, count, op.N, op.C, op.G, ch,
                                [&](int k, int64_t i) { return VectorPointer<A, 10>{{&v, k, i}}; });
}

// channel_affine's operands: [N, C, S] tensors as rows of len elements in
// memory order (channels_inner: a row is one (n, s) position's channels; else
// one (n, c) row of S), each with its row strides and inner step.
template <typename T, typename A>
struct AffineArgs {
  T* y;
  const T *x, *dy;
  const A *scale, *shift, *dy_scale;
  int64_t vs, hs, ds;  // the vectors' strides
  Strides3 ys, xs, gs;
  int64_t C, S;
  bool channels_inner;
};

template <typename T, typename A>
__global__ void channel_affine_rows(int64_t rows, AffineArgs<T, A> a) {
  const int64_t len = a.channels_inner ? a.C : a.S;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t n, ch = 0, sp = 0;
    if (a.channels_inner) {
      n = r / a.S;
      sp = r - n * a.S;
    } else {
      n = r / a.C;
      ch = r - n * a.C;
    }
    const int64_t yb = n * a.ys.n + ch * a.ys.c + sp * a.ys.s, xb = n * a.xs.n + ch * a.xs.c + sp * a.xs.s,
                  gb = n * a.gs.n + ch * a.gs.c + sp * a.gs.s;
    const int64_t ystep = a.channels_inner ? a.ys.c : a.ys.s, xstep = a.channels_inner ? a.xs.c : a.xs.s,
                  gstep = a.channels_inner ? a.gs.c : a.gs.s;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      const int64_t c = a.channels_inner ? j : ch;
      const A v = load_as<A>(a.x[xb + j * xstep]);
      const A out = a.dy ? channel_affine_at<A>(v, a.scale[c * a.vs], a.shift[c * a.hs], load_as<A>(a.dy[gb + j * gstep]),
                                                a.dy_scale[c * a.ds])
                         : channel_affine_at<A>(v, a.scale[c * a.vs], a.shift[c * a.hs]);
      a.y[yb + j * ystep] = store_as<T>(out);
    }
  }
}

}  // namespace

int k_batch_norm_coefficients(const gems_kernel_call* c) {
  const BatchNormCoefficientsOperands op(c);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, BatchNormCoefficientsOperands::kExpected);
  if (op.C == 0) return GEMS_OK;
  const bool ok = dispatch_dtype<GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64)>(op.t[0].dtype, [&](auto tag) {
    using A = typename decltype(tag)::type;
    const auto v = coefficient_vectors<BatchNormCoefficientsOperands::kTensors>(c);
    coefficients<A><<<static_cast<unsigned>((op.C + 127) / 128), 128, 0, stream_of(c)>>>(
        op.C, op.mode, op.flags, A(op.eps), A(op.momentum), A(op.count), v);
  });
  return ok ? launch_status("batch_norm_coefficients") : unsupported_dtype("batch_norm_coefficients", op.t[0].dtype);
}

int k_group_norm_coefficients(const gems_kernel_call* c) {
  const GroupNormCoefficientsOperands op(c);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, GroupNormCoefficientsOperands::kExpected);
  const bool ok = dispatch_dtype<GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64)>(op.t[0].dtype, [&](auto tag) {
    using A = typename decltype(tag)::type;
    const auto v = coefficient_vectors<10>(c);
    group_coefficients<A><<<static_cast<unsigned>((op.C + 127) / 128), 128, 0, stream_of(c)>>>(op, A(op.eps),
                                                                                              A(op.count), v);
  });
  return ok ? launch_status("group_norm_coefficients") : unsupported_dtype("group_norm_coefficients", op.t[0].dtype);
}

int k_channel_affine(const gems_kernel_call* c) {
  const ChannelAffineOperands op(c);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, ChannelAffineOperands::kExpected);
  if (op.count() == 0) return GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(op.x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    const gems_tensor* g = op.dy ? op.dy : op.x;
    AffineArgs<T, A> a{reinterpret_cast<T*>(base_ptr(*op.y)),
                       reinterpret_cast<const T*>(base_ptr(*op.x)),
                       op.dy ? reinterpret_cast<const T*>(base_ptr(*op.dy)) : nullptr,
                       reinterpret_cast<const A*>(base_ptr(*op.scale)),
                       reinterpret_cast<const A*>(base_ptr(*op.shift)),
                       op.dy_scale ? reinterpret_cast<const A*>(base_ptr(*op.dy_scale)) : nullptr,
                       op.scale->strides[0],
                       op.shift->strides[0],
                       op.dy_scale ? op.dy_scale->strides[0] : 0,
                       strides3(*op.y),
                       strides3(*op.x),
                       strides3(*g),
                       op.x->sizes[1],
                       op.x->sizes[2],
                       op.y->strides[1] == 1 && op.x->sizes[1] > 1};
    const int64_t rows = a.channels_inner ? op.x->sizes[0] * a.S : op.x->sizes[0] * a.C;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(rows, int64_t{num_sms()} * 16));
    channel_affine_rows<T, A><<<blocks, kShareBlock, 0, stream_of(c)>>>(rows, a);
  });
  return ok ? launch_status("channel_affine") : unsupported_dtype("channel_affine", op.x->dtype);
}

int k_batch_norm_stats(const gems_kernel_call* c) {
  const BatchNormOperands op(c, false);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, op.expected());
  const gems_tensor& x = *op.x;
  const int64_t C = x.sizes[1], S = x.sizes[2], total = x.sizes[0] * S;
  if (C == 0) return GEMS_OK;
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    status = reduce_channels<MomentsPolicy<A>, A>(
        c, C, total, *op.out0, *op.out1, [&](Moments<A>* partial, int shares, int64_t per_share, cudaStream_t stream) {
          stats_shares<T, A><<<static_cast<unsigned>(C * shares), kShareBlock, 0, stream>>>(
              S, per_share, total, shares, strides3(x), reinterpret_cast<const T*>(base_ptr(x)), partial);
        });
  });
  if (status) return status;
  return ok ? launch_status("batch_norm_stats") : unsupported_dtype("batch_norm_stats", x.dtype);
}

int k_batch_norm_backward_reduce(const gems_kernel_call* c) {
  const BatchNormOperands op(c, true);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, op.expected());
  const gems_tensor &dy = *op.dy, &x = *op.x, &mean = *op.mean;
  const int64_t C = dy.sizes[1], S = dy.sizes[2], total = dy.sizes[0] * S;
  if (C == 0) return GEMS_OK;
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    using P = PairPolicy<A>;
    status = reduce_channels<P, A>(
        c, C, total, *op.out0, *op.out1,
        [&](typename P::S* partial, int shares, int64_t per_share, cudaStream_t stream) {
          grad_shares<T, A><<<static_cast<unsigned>(C * shares), kShareBlock, 0, stream>>>(
              S, per_share, total, shares, strides3(dy), strides3(x), reinterpret_cast<const T*>(base_ptr(dy)),
              reinterpret_cast<const T*>(base_ptr(x)), reinterpret_cast<const A*>(base_ptr(mean)), mean.strides[0],
              partial);
        });
  });
  if (status) return status;
  return ok ? launch_status("batch_norm_backward_reduce") : unsupported_dtype("batch_norm_backward_reduce", x.dtype);
}

}  // namespace gems::nvidia
