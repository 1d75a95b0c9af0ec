// Pooling, forward and backward (operands in backends/cpu/kernel_table.cpp):
// the shared per-element math of backends/common/pooling.h, a thread per
// element of the written tensor, threads in its memory order (channels
// fastest for channels-last) so that neighbours read neighbours. The
// backward gathers each input element's gradient from the windows that read
// it (no atomics: deterministic, as PyTorch's CUDA kernels for NCHW).
#include "../common/pool_operands.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "runtime.h"

namespace gems::nvidia {
namespace {

constexpr int kPoolBlock = 256;

template <typename T>
__global__ void pool_forward(PoolGeometry g, int64_t count, const T* x, T* y, int64_t* indices) {
  using A = acc_t<T>;
  auto load = [x](int64_t at) { return load_as<A>(x[at]); };
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += step) {
    int64_t n, c, o[3], index;
    pool_coords(g, g.out, i, n, c, o);
    const A v = pool_forward_at<A>(g, n, c, o, load, index);
    y[n * g.y[0] + c * g.y[1] + o[0] * g.y[2] + o[1] * g.y[3] + o[2] * g.y[4]] = store_as<T>(v);
    if (indices) indices[n * g.z[0] + c * g.z[1] + o[0] * g.z[2] + o[1] * g.z[3] + o[2] * g.z[4]] = index;
  }
}

template <typename T>
__global__ void pool_backward(PoolGeometry g, int64_t count, const T* dy, const int64_t* indices, T* dx) {
  using A = acc_t<T>;
  auto grad = [dy](int64_t at) { return load_as<A>(dy[at]); };
  auto index = [indices](int64_t at) { return indices[at]; };
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += step) {
    int64_t n, c, p[3];
    pool_coords(g, g.in, i, n, c, p);
    dx[n * g.x[0] + c * g.x[1] + p[0] * g.x[2] + p[1] * g.x[3] + p[2] * g.x[4]] =
        store_as<T>(pool_backward_at<A>(g, n, c, p, grad, index));
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
    pool_forward<T><<<blocks_for(count), kPoolBlock, 0, stream_of(c)>>>(
        op.g, count, reinterpret_cast<const T*>(base_ptr(*op.x)), reinterpret_cast<T*>(base_ptr(*op.y)), indices);
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
    pool_backward<T><<<blocks_for(count), kPoolBlock, 0, stream_of(c)>>>(
        op.g, count, reinterpret_cast<const T*>(base_ptr(*op.y)), indices, reinterpret_cast<T*>(base_ptr(*op.x)));
  });
  return ok ? launch_status("pool_backward") : unsupported_dtype("pool_backward", op.x->dtype);
}

}  // namespace gems::nvidia
