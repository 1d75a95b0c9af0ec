// count_nonzero and nonzero: how many of a dense tensor's elements are not
// zero, and their coordinates in memory order (boolean masks in indexing,
// masked_select, torch.where(cond)). The core counts first to size nonzero's
// result; then tiles of the input count theirs again, a scan of those counts
// gives each tile where its rows start, and each tile writes its rows there.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include "kernels.h"
#include "reduce.cuh"

namespace gems::nvidia {
namespace {

constexpr int kThreads = 256, kItems = 8;  // a tile: 2048 elements, 8 adjacent ones a thread
constexpr int64_t kTile = int64_t{kThreads} * kItems;

struct Dims {
  int64_t sizes[GEMS_MAX_DIMS];
  int ndim;
};

template <typename T>
__device__ __forceinline__ bool nonzero_at(const T* x, int64_t i, int64_t n) {
  return i < n && load_as<acc_t<T>>(x[i]) != acc_t<T>(0);
}

// counts[t]: how many elements of tile t are not zero; with kTotal, their
// sum over the tiles in counts[0] instead (an integer sum: the same in any order).
template <typename T, bool kTotal>
__global__ void count_tiles(const T* x, int64_t n, int64_t* counts) {
  const int64_t first = int64_t{blockIdx.x} * kTile + threadIdx.x * kItems;
  int mine = 0;
#pragma unroll
  for (int k = 0; k < kItems; ++k) mine += nonzero_at(x, first + k, n);
  using Reduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const int total = Reduce(storage).Sum(mine);
  if (threadIdx.x != 0) return;
  if (kTotal) atomicAdd(reinterpret_cast<unsigned long long*>(counts), static_cast<unsigned long long>(total));
  else counts[blockIdx.x] = total;
}

// Writes tile t's rows from starts[t] on: each thread's nonzero elements after
// those of the threads before it (a block scan of their counts).
template <typename T>
__global__ void write_tiles(const T* x, int64_t n, const int64_t* starts, Dims dims, int64_t* out, int64_t rows,
                            int64_t so, int64_t sc) {
  const int64_t first = int64_t{blockIdx.x} * kTile + threadIdx.x * kItems;
  bool hit[kItems];
  int mine = 0;
#pragma unroll
  for (int k = 0; k < kItems; ++k) mine += hit[k] = nonzero_at(x, first + k, n);
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage storage;
  int before;
  Scan(storage).ExclusiveSum(mine, before);
  int64_t r = starts[blockIdx.x] + before;
#pragma unroll
  for (int k = 0; k < kItems; ++k) {
    if (!hit[k] || r >= rows) continue;
    int64_t rem = first + k;
    for (int d = dims.ndim - 1; d >= 0; --d) {
      out[r * so + d * sc] = rem % dims.sizes[d];
      rem /= dims.sizes[d];
    }
    ++r;
  }
}

}  // namespace

// tensors: out (int64, one element), in (dense, any dtype).
int k_count_nonzero(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  const int64_t n = numel_of(in), tiles = (n + kTile - 1) / kTile;
  if (tiles >= INT_MAX) return set_error_string(GEMS_UNSUPPORTED, "count_nonzero: 2^31 tiles or more");
  cudaStream_t stream = stream_of(c);
  auto* total = reinterpret_cast<int64_t*>(base_ptr(out));
  cudaMemsetAsync(total, 0, sizeof(int64_t), stream);
  const bool ok = dispatch_dtype<kAll>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (tiles > 0)
      count_tiles<T, true><<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(
          reinterpret_cast<const T*>(base_ptr(in)), n, total);
  });
  return ok ? launch_status("count_nonzero") : unsupported_dtype("count_nonzero", in.dtype);
}

// tensors: out [count, ndim] (int64), in (dense, any dtype).
int k_nonzero(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  Dims dims{};
  dims.ndim = in.ndim;
  for (int d = 0; d < in.ndim; ++d) dims.sizes[d] = in.sizes[d];
  const int64_t n = numel_of(in), rows = out.sizes[0], tiles = (n + kTile - 1) / kTile;
  if (n == 0 || rows == 0 || in.ndim == 0) return GEMS_OK;
  if (tiles >= INT_MAX) return set_error_string(GEMS_UNSUPPORTED, "nonzero: 2^31 tiles or more");
  cudaStream_t stream = stream_of(c);
  size_t temp_bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, temp_bytes, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), static_cast<int>(tiles), stream);
  const size_t count_bytes = scratch_aligned(tiles * sizeof(int64_t));
  char* scratch = nullptr;
  if (int st = scratch_malloc(reinterpret_cast<void**>(&scratch), 2 * count_bytes + temp_bytes, stream)) return st;
  auto* counts = reinterpret_cast<int64_t*>(scratch);
  auto* starts = reinterpret_cast<int64_t*>(scratch + count_bytes);
  const bool ok = dispatch_dtype<kAll>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = reinterpret_cast<const T*>(base_ptr(in));
    count_tiles<T, false><<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(x, n, counts);
    cub::DeviceScan::ExclusiveSum(scratch + 2 * count_bytes, temp_bytes, counts, starts, static_cast<int>(tiles),
                                  stream);
    write_tiles<T><<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(
        x, n, starts, dims, reinterpret_cast<int64_t*>(base_ptr(out)), rows, out.strides[0], out.strides[1]);
  });
  scratch_free(scratch, stream);
  return ok ? launch_status("nonzero") : unsupported_dtype("nonzero", in.dtype);
}

}  // namespace gems::nvidia
