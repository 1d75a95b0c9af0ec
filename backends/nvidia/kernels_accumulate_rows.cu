// accumulate_rows: out[r] += the src rows whose index is r (embedding's
// backward, index_put with accumulate). Deterministic, as PyTorch's CUDA
// embedding backward: the positions are sorted by index with CUB's stable
// radix sort, so each destination row owns one run of positions; a block
// sums a run's rows in position order in the compute type and adds the sum
// to out once. No atomics: the same bits on every run (and the same order of
// adds as the cpu vendor). An index outside [0, R) adds nothing and is
// recorded (kernels cannot raise; the core raises at its next wait).
#include <climits>
#include <cub/device/device_radix_sort.cuh>

#include "cuda_common.cuh"
#include "elementwise.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr int kRunsBlock = 128;

// key[i] = position i's destination row, R for an index outside [0, R) (sorted last, skipped; recorded).
template <typename I>
__global__ void row_keys(const I* index, int64_t n, int64_t stride, int64_t rows, bool from_end, uint32_t* keys,
                         int* positions, KernelErrors* errors) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t given = static_cast<int64_t>(index[i * stride]);
    const int64_t r = given + (from_end && given < 0 ? rows : 0);
    const bool in_range = r >= 0 && r < rows;
    if (!in_range) record_kernel_error(errors, GEMS_KERNEL_ERROR_INDEX, given, 0, rows);
    keys[i] = in_range ? static_cast<uint32_t>(r) : static_cast<uint32_t>(rows);
    positions[i] = static_cast<int>(i);
  }
}

struct RunArgs {
  int64_t n, rows, cols, out_row, out_col, src_row, src_col, skip;
  bool has_skip, by_freq;
};

// Whether sorted position begin starts a run whose row is summed (not the
// out-of-range key R, not the skipped row); end: one past the run.
__device__ inline bool run_from(const RunArgs& a, const uint32_t* keys, int64_t begin, int64_t& end) {
  const uint32_t row = keys[begin];
  if ((begin > 0 && keys[begin - 1] == row) || row == a.rows || (a.has_skip && row == a.skip)) return false;
  end = begin + 1;
  while (end < a.n && keys[end] == row) ++end;
  return true;
}

// A block per run start and column tile (blocks stride over the sorted
// positions; blockIdx.y picks the tile, so a long run's columns spread over
// several blocks): a position whose key differs from the one before starts a
// run, whose rows are summed V columns at a time (16-byte loads where the
// rows are dense and aligned, else V = 1 through the column strides).
template <typename T, int V>
__global__ void sum_runs(RunArgs a, const uint32_t* keys, const int* positions, const T* src, T* out) {
  using A = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;
  using Chunk = Vec<T, V>;
  for (int64_t begin = blockIdx.x; begin < a.n; begin += gridDim.x) {
    int64_t end;
    if (!run_from(a, keys, begin, end)) continue;
    const uint32_t row = keys[begin];
    const A scale = a.by_freq ? A(1) / static_cast<A>(end - begin) : A(1);
    T* to = out + int64_t{row} * a.out_row;
    for (int64_t j = int64_t{blockIdx.y} * blockDim.x + threadIdx.x; j < a.cols / V; j += int64_t{gridDim.y} * blockDim.x) {
      A sum[V];
#pragma unroll
      for (int k = 0; k < V; ++k) sum[k] = A(0);
      for (int64_t e = begin; e < end; ++e) {
        const T* from = src + int64_t{positions[e]} * a.src_row;
        Chunk c;
        if constexpr (V > 1) c = reinterpret_cast<const Chunk*>(from)[j];
        else c.v[0] = from[j * a.src_col];
#pragma unroll
        for (int k = 0; k < V; ++k) {
          if constexpr (std::is_integral_v<T>) sum[k] += load_as<A>(c.v[k]);
          else sum[k] += load_as<A>(c.v[k]) * scale;
        }
      }
      Chunk o;
      if constexpr (V > 1) o = reinterpret_cast<Chunk*>(to)[j];
      else o.v[0] = to[j * a.out_col];
#pragma unroll
      for (int k = 0; k < V; ++k) o.v[k] = store_as<T>(load_as<A>(o.v[k]) + sum[k]);
      if constexpr (V > 1) reinterpret_cast<Chunk*>(to)[j] = o;
      else to[j * a.out_col] = o.v[0];
    }
  }
}

// Narrow rows (scatter_add's one-element rows, few columns): a block per run
// would leave all but a few of its threads idle, so here a thread takes a run
// (the position that starts it) and sums all its columns, in the same order.
template <typename T>
__global__ void sum_runs_by_thread(RunArgs a, const uint32_t* keys, const int* positions, const T* src, T* out) {
  using A = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;
  for (int64_t begin = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; begin < a.n;
       begin += int64_t{gridDim.x} * blockDim.x) {
    int64_t end;
    if (!run_from(a, keys, begin, end)) continue;
    const uint32_t row = keys[begin];
    const A scale = a.by_freq ? A(1) / static_cast<A>(end - begin) : A(1);
    T* to = out + int64_t{row} * a.out_row;
    for (int64_t j = 0; j < a.cols; ++j) {
      A sum = A(0);
      for (int64_t e = begin; e < end; ++e) {
        const A v = load_as<A>(src[int64_t{positions[e]} * a.src_row + j * a.src_col]);
        if constexpr (std::is_integral_v<T>) sum += v;
        else sum += v * scale;
      }
      to[j * a.out_col] = store_as<T>(load_as<A>(to[j * a.out_col]) + sum);
    }
  }
}

// Rows narrower than this many columns take a thread a run.
constexpr int64_t kNarrowCols = 8;

}  // namespace

// tensors: out [R, D], src [N, D], index [N]; scalars as documented in
// backends/cpu/kernel_table.cpp.
int k_accumulate_rows(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &src = c->tensors[1], &index = c->tensors[2];
  RunArgs a{index.sizes[0], out.sizes[0], out.sizes[1], out.strides[0], out.strides[1], src.strides[0], src.strides[1],
            c->scalars[1].i, c->scalars[0].i != 0, c->scalars[2].i != 0};
  if (a.n == 0 || a.cols == 0) return GEMS_OK;
  if (a.rows >= UINT32_MAX || a.n > INT_MAX)
    return set_error_string(GEMS_UNSUPPORTED, "accumulate_rows: 2^32 rows or 2^31 positions or more");
  int bits = 1;
  while ((int64_t{1} << bits) <= a.rows) ++bits;  // keys run to R inclusive
  cudaStream_t stream = stream_of(c);
  size_t temp_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const uint32_t*>(nullptr),
                                  static_cast<uint32_t*>(nullptr), static_cast<const int*>(nullptr),
                                  static_cast<int*>(nullptr), a.n, 0, bits, stream);
  const size_t key_bytes = scratch_aligned(a.n * sizeof(uint32_t)), position_bytes = scratch_aligned(a.n * sizeof(int));
  char* scratch = nullptr;
  if (int st = scratch_malloc(reinterpret_cast<void**>(&scratch), 2 * key_bytes + 2 * position_bytes + temp_bytes,
                              stream))
    return st;
  auto* keys_in = reinterpret_cast<uint32_t*>(scratch);
  auto* keys = reinterpret_cast<uint32_t*>(scratch + key_bytes);
  auto* positions_in = reinterpret_cast<int*>(scratch + 2 * key_bytes);
  auto* positions = reinterpret_cast<int*>(scratch + 2 * key_bytes + position_bytes);
  void* temp = scratch + 2 * key_bytes + 2 * position_bytes;
  const bool from_end = c->scalars[3].i != 0;
  if (index.dtype == GEMS_INT32)
    row_keys<<<grid_for(a.n), kBlock, 0, stream>>>(reinterpret_cast<const int32_t*>(base_ptr(index)), a.n,
                                                   index.strides[0], a.rows, from_end, keys_in, positions_in, kernel_errors());
  else
    row_keys<<<grid_for(a.n), kBlock, 0, stream>>>(reinterpret_cast<const int64_t*>(base_ptr(index)), a.n,
                                                   index.strides[0], a.rows, from_end, keys_in, positions_in, kernel_errors());
  cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys, positions_in, positions, a.n, 0, bits, stream);
  const bool ok = dispatch_dtype<kNumeric>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = 16 / sizeof(T);
    const T* ps = reinterpret_cast<const T*>(base_ptr(src));
    T* po = reinterpret_cast<T*>(base_ptr(out));
    const bool vectors = V > 1 && a.src_col == 1 && a.out_col == 1 && a.cols % V == 0 && a.src_row % V == 0 &&
                         a.out_row % V == 0 && reinterpret_cast<uintptr_t>(ps) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(po) % 16 == 0;
    if (a.cols < kNarrowCols) {
      sum_runs_by_thread<T><<<grid_for(a.n), kBlock, 0, stream>>>(a, keys, positions, ps, po);
      return;
    }
    const int64_t tiles = std::min<int64_t>((a.cols / (vectors ? V : 1) + kRunsBlock - 1) / kRunsBlock, 65535);
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(a.n, std::max<int64_t>(1, num_sms() * 16 / tiles))),
                    static_cast<unsigned>(tiles));
    if (vectors) sum_runs<T, V><<<grid, kRunsBlock, 0, stream>>>(a, keys, positions, ps, po);
    else sum_runs<T, 1><<<grid, kRunsBlock, 0, stream>>>(a, keys, positions, ps, po);
  });
  scratch_free(scratch, stream);
  return ok ? launch_status("accumulate_rows") : unsupported_dtype("accumulate_rows", out.dtype);
}

}  // namespace gems::nvidia
