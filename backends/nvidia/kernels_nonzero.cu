// count_nonzero, nonzero and masked_select: how many of a dense tensor's
// elements are not zero, their coordinates in memory order (boolean masks in
// indexing, torch.where(cond)), and the values where a mask is set. The core
// counts first to size the result; then tiles of the input count theirs
// again, a scan of those counts gives each tile where its rows start, and each
// tile writes its rows there (a few tiles: one block, one launch).
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include "kernels.h"
#include "reduce.cuh"

namespace gems::nvidia {
namespace {

constexpr int kThreads = 256, kItems = 8;  // a tile: 2048 elements, 8 adjacent ones a thread
constexpr int64_t kTile = int64_t{kThreads} * kItems;
// Up to this many tiles one block writes them all, one after another (where
// the launches and the scan of the many-block way would cost more).
constexpr int64_t kOneBlockTiles = 8;

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

// Emits row r of the result for each nonzero element i of x, in memory order:
// for the tiles [b * per_block, (b + 1) * per_block) of block b, from row
// starts[b] on (0 without starts), tile after tile, each thread's elements
// after those of the threads before it (a block scan of their counts). One
// block with every tile serves small inputs in one launch.
template <typename T, typename Emit>
__global__ void write_tiles(const T* x, int64_t n, const int64_t* starts, int64_t per_block, int64_t rows, Emit emit) {
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage storage;
  int64_t r0 = starts ? starts[blockIdx.x] : 0;
  for (int64_t tile = blockIdx.x * per_block; tile < (blockIdx.x + 1) * per_block && tile * kTile < n; ++tile) {
    const int64_t first = tile * kTile + threadIdx.x * kItems;
    bool hit[kItems];
    int mine = 0;
#pragma unroll
    for (int k = 0; k < kItems; ++k) mine += hit[k] = nonzero_at(x, first + k, n);
    int before, total;
    Scan(storage).ExclusiveSum(mine, before, total);
    __syncthreads();  // storage is reused by the next tile's scan
    int64_t r = r0 + before;
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      if (!hit[k]) continue;
      if (r < rows) emit(r, first + k);
      ++r;
    }
    r0 += total;
  }
}

// nonzero's rows: the coordinates of element i.
struct Coordinates {
  Dims dims;
  int64_t* out;
  int64_t so, sc;
  __device__ void operator()(int64_t r, int64_t i) const {
    for (int d = dims.ndim - 1; d >= 0; --d) {
      out[r * so + d * sc] = i % dims.sizes[d];
      i /= dims.sizes[d];
    }
  }
};

// masked_select's rows: element i of the values (moved as bits of their size).
template <typename V>
struct Values {
  const V* in;
  V* out;
  int64_t so;
  __device__ void operator()(int64_t r, int64_t i) const { out[r * so] = in[i]; }
};

// Emits the rows of x's n elements' nonzero ones (at most `rows`): one block
// for a few tiles, else a count a tile, their scan and a block a tile.
template <typename T, typename Emit>
int emit_nonzero(const T* x, int64_t n, int64_t rows, Emit emit, cudaStream_t stream) {
  const int64_t tiles = (n + kTile - 1) / kTile;
  if (tiles >= INT_MAX) return set_error_string(GEMS_UNSUPPORTED, "nonzero: 2^31 tiles or more");
  if (tiles <= kOneBlockTiles) {  // one launch, no scratch: a small mask (an MoE layer's, a row selection's)
    write_tiles<<<1, kThreads, 0, stream>>>(x, n, static_cast<const int64_t*>(nullptr), tiles, rows, emit);
    return GEMS_OK;
  }
  size_t temp_bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, temp_bytes, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), static_cast<int>(tiles), stream);
  const size_t count_bytes = scratch_aligned(tiles * sizeof(int64_t));
  char* scratch = nullptr;
  if (int st = scratch_malloc(reinterpret_cast<void**>(&scratch), 2 * count_bytes + temp_bytes, stream)) return st;
  auto* counts = reinterpret_cast<int64_t*>(scratch);
  auto* starts = reinterpret_cast<int64_t*>(scratch + count_bytes);
  count_tiles<T, false><<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(x, n, counts);
  cub::DeviceScan::ExclusiveSum(scratch + 2 * count_bytes, temp_bytes, counts, starts, static_cast<int>(tiles), stream);
  write_tiles<<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(x, n, static_cast<const int64_t*>(starts), 1,
                                                                     rows, emit);
  scratch_free(scratch, stream);
  return GEMS_OK;
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
  Coordinates rows{{}, reinterpret_cast<int64_t*>(base_ptr(out)), out.strides[0], in.ndim ? out.strides[1] : 0};
  rows.dims.ndim = in.ndim;
  for (int d = 0; d < in.ndim; ++d) rows.dims.sizes[d] = in.sizes[d];
  const int64_t n = numel_of(in);
  if (n == 0 || out.sizes[0] == 0 || in.ndim == 0) return GEMS_OK;
  int st = GEMS_OK;
  const bool ok = dispatch_dtype<kAll>(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    st = emit_nonzero(reinterpret_cast<const T*>(base_ptr(in)), n, out.sizes[0], rows, stream_of(c));
  });
  if (!ok) return unsupported_dtype("nonzero", in.dtype);
  return st != GEMS_OK ? st : launch_status("nonzero");
}

// tensors: out [count], values (dense), mask (dense, values' shape, bool or uint8).
int k_masked_select(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &values = c->tensors[1], &mask = c->tensors[2];
  if (mask.dtype != GEMS_BOOL && mask.dtype != GEMS_UINT8) return unsupported_dtype("masked_select", mask.dtype);
  const int64_t n = numel_of(mask);
  if (n == 0 || out.sizes[0] == 0) return GEMS_OK;
  const auto* m = reinterpret_cast<const uint8_t*>(base_ptr(mask));
  auto run = [&](auto bits) {
    using V = decltype(bits);
    Values<V> rows{reinterpret_cast<const V*>(base_ptr(values)), reinterpret_cast<V*>(base_ptr(out)), out.strides[0]};
    return emit_nonzero(m, n, out.sizes[0], rows, stream_of(c));
  };
  const int64_t size = element_size(values.dtype);
  const int st = size == 1 ? run(uint8_t{}) : size == 2 ? run(uint16_t{}) : size == 4 ? run(uint32_t{}) : run(uint64_t{});
  return st != GEMS_OK ? st : launch_status("masked_select");
}

}  // namespace gems::nvidia
