// Pooling, forward and backward, and separable resampling (interpolate)
// (operands in backends/cpu/kernel_table.cpp):
// the shared per-element math of backends/common/pooling.h, a thread per
// element of the written tensor, threads in its memory order (channels
// fastest for channels-last) so that neighbours read neighbours. The
// backward gathers each input element's gradient from the windows that read
// it (no atomics: deterministic, as PyTorch's CUDA kernels for NCHW). The
// index math runs in 32 bits (I = int32_t) whenever the call fits.
#include "../common/interpolate_operands.h"
#include "../common/pool_operands.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "runtime.h"

namespace gems::nvidia {
namespace {

constexpr int kPoolBlock = 256;

template <typename T, typename I>
__global__ void pool_forward(PoolGeometry g, I count, const T* x, T* y, int64_t* indices) {
  using A = acc_t<T>;
  auto load = [x](I at) { return load_as<A>(x[at]); };
  I y_strides[5], z_strides[5];
  for (int k = 0; k < 5; ++k) {
    y_strides[k] = I(g.y[k]);
    z_strides[k] = I(g.z[k]);
  }
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < count; i += step) {
    I n, c, o[3], index;
    pool_coords<I>(g, g.out, i, n, c, o);
    const A v = pool_forward_at<A, I>(g, n, c, o, load, index);
    y[n * y_strides[0] + c * y_strides[1] + o[0] * y_strides[2] + o[1] * y_strides[3] + o[2] * y_strides[4]] =
        store_as<T>(v);
    if (indices)
      indices[n * z_strides[0] + c * z_strides[1] + o[0] * z_strides[2] + o[1] * z_strides[3] + o[2] * z_strides[4]] =
          index;
  }
}

template <typename T, typename I>
__global__ void pool_backward(PoolGeometry g, I count, const T* dy, const int64_t* indices, T* dx) {
  using A = acc_t<T>;
  auto grad = [dy](I at) { return load_as<A>(dy[at]); };
  auto index = [indices](I at) { return indices[at]; };
  I x_strides[5];
  for (int k = 0; k < 5; ++k) x_strides[k] = I(g.x[k]);
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < count; i += step) {
    I n, c, p[3];
    pool_coords<I>(g, g.in, i, n, c, p);
    dx[n * x_strides[0] + c * x_strides[1] + p[0] * x_strides[2] + p[1] * x_strides[3] + p[2] * x_strides[4]] =
        store_as<T>(pool_backward_at<A, I>(g, n, c, p, grad, index));
  }
}

// Calls launch(I{}) with the index type the call's math fits: int32_t or int64_t.
template <typename Launch>
void with_index_type(const PoolOperands& op, Launch launch) {
  if (op.fits_int32())
    launch(int32_t{});
  else
    launch(int64_t{});
}

// interpolate's taps: dim d's index and weight tables, [K_d, O_d] (none for a padded dim).
template <typename A>
struct InterpolateTables {
  const int64_t* index[3];
  const A* weight[3];
};

// interpolate's output of a sum: the floating dtypes round their opmath
// sum once; uint8 rounds and clamps its fixed-point int32 sum.
template <typename T>
struct RoundSum {
  __device__ T operator()(acc_t<T> sum) const { return store_as<T>(sum); }
};
struct FixedPointSum {
  int32_t precision;
  __device__ uint8_t operator()(int32_t sum) const { return fixed_point_to_uint8(sum, precision); }
};

template <typename T, typename A, typename I, typename Store>
__global__ void interpolate_kernel(InterpolateGeometry g, I count, const T* x, T* y, InterpolateTables<A> t,
                                   Store store) {
  auto load = [x](I at) { return load_as<A>(x[at]); };
  auto index = [&](int d, I k, I o) { return t.index[d] ? I(t.index[d][k * I(g.out[d]) + o]) : I(0); };
  auto weight = [&](int d, I k, I o) { return t.weight[d] ? t.weight[d][k * I(g.out[d]) + o] : A(1); };
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < count; i += step) {
    I n, c, o[3];
    interpolate_coords<I>(g, i, n, c, o);
    y[interpolate_offset<I>(g, n, c, o)] = store(interpolate_at<A, I>(g, n, c, o, index, weight, load));
  }
}

unsigned blocks_for(int64_t count) {
  return static_cast<unsigned>(std::min<int64_t>((count + kPoolBlock - 1) / kPoolBlock, int64_t{num_sms()} * 32));
}

}  // namespace

int k_pool(const gems_kernel_call* c) {
  const PoolOperands op(c, false);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, PoolOperands::kExpected);
  const int64_t count = op.count();
  int64_t* indices = op.indices ? reinterpret_cast<int64_t*>(base_ptr(*op.indices)) : nullptr;
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (count == 0) return;
    const T* x = reinterpret_cast<const T*>(base_ptr(*op.x));
    T* y = reinterpret_cast<T*>(base_ptr(*op.y));
    with_index_type(op, [&](auto index) {
      using I = decltype(index);
      pool_forward<T, I><<<blocks_for(count), kPoolBlock, 0, stream_of(c)>>>(op.g, I(count), x, y, indices);
    });
  };
  const bool ok = pool_is_max(op.g) ? dispatch_dtype<kNumeric>(op.x->dtype, run)
                                    : dispatch_dtype<kPoolAverageDtypes>(op.x->dtype, run);
  return ok ? launch_status("pool") : unsupported_dtype("pool", op.x->dtype);
}

int k_pool_backward(const gems_kernel_call* c) {
  const PoolOperands op(c, true);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, PoolOperands::kExpected);
  const int64_t count = op.count();
  const int64_t* indices = op.indices ? reinterpret_cast<const int64_t*>(base_ptr(*op.indices)) : nullptr;
  const bool ok = dispatch_dtype<kFloating>(op.x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (count == 0) return;
    const T* dy = reinterpret_cast<const T*>(base_ptr(*op.y));
    T* dx = reinterpret_cast<T*>(base_ptr(*op.x));
    with_index_type(op, [&](auto index) {
      using I = decltype(index);
      pool_backward<T, I><<<blocks_for(count), kPoolBlock, 0, stream_of(c)>>>(op.g, I(count), dy, indices, dx);
    });
  });
  return ok ? launch_status("pool_backward") : unsupported_dtype("pool_backward", op.x->dtype);
}

// One launch of interpolate_kernel with sums in A, written through store.
template <typename T, typename A, typename Store>
void launch_interpolate(const gems_kernel_call* c, const InterpolateOperands& op, Store store) {
  const int64_t count = op.count();
  if (count == 0) return;
  const int pad = 3 - op.dims;
  InterpolateTables<A> t{};
  for (int d = pad; d < 3; ++d) {
    t.index[d] = reinterpret_cast<const int64_t*>(base_ptr(*op.index[d - pad]));
    t.weight[d] = reinterpret_cast<const A*>(base_ptr(*op.weight[d - pad]));
  }
  const T* x = reinterpret_cast<const T*>(base_ptr(*op.x));
  T* y = reinterpret_cast<T*>(base_ptr(*op.y));
  if (op.fits_int32())
    interpolate_kernel<T, A, int32_t><<<blocks_for(count), kPoolBlock, 0, stream_of(c)>>>(op.g, int32_t(count), x, y, t,
                                                                                          store);
  else
    interpolate_kernel<T, A, int64_t><<<blocks_for(count), kPoolBlock, 0, stream_of(c)>>>(op.g, count, x, y, t, store);
}

int k_interpolate(const gems_kernel_call* c) {
  const InterpolateOperands op(c);
  if (!op.ok) return set_error_string(GEMS_INVALID_ARGUMENT, InterpolateOperands::kExpected);
  if (op.x->dtype == GEMS_UINT8) {
    launch_interpolate<uint8_t, int32_t>(c, op, FixedPointSum{op.precision});
    return launch_status("interpolate");
  }
  const bool ok = dispatch_dtype<kFloating>(op.x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_interpolate<T, acc_t<T>>(c, op, RoundSum<T>{});
  });
  return ok ? launch_status("interpolate") : unsupported_dtype("interpolate", op.x->dtype);
}

}  // namespace gems::nvidia
