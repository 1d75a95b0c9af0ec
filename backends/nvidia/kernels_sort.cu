// sort along the last dim. Rows that topk's kernel sorts on chip (up to
// kTopkMaxK elements) are its topk of every element. Longer rows (a sampling
// step's vocabulary, 32K-150K logits) are sorted by CUB on topk's order keys
// (backends/common/order_key.h): one key per element whose unsigned order is
// the order wanted, largest first, so NaN ranks as PyTorch ranks it and equal
// elements keep their order in both directions. Keys of up to 32 bits are
// packed with their row number into one 64-bit key and all rows sorted at
// once by a radix sort over just the bits in use (stable, so ties keep their
// order); CUB's segmented sort, one block a row, took 4.6x torch's time on
// 8 rows of 128K floats. 64-bit keys use the segmented sort.
#include <climits>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_sort.cuh>

#include "../common/order_key.h"
#include "../common/topk_operands.h"
#include "kernels.h"
#include "reduce.cuh"

namespace gems::nvidia {
namespace {

// Row r's element j: its key (packed: (row << key bits) | (~key), so that an
// ascending sort puts rows in order and each row largest key first) and its
// index in the row; for the segmented sort, the row offsets too.
template <typename T, bool kPacked>
using sort_key_t = std::conditional_t<kPacked, uint64_t, order_bits_t<T>>;

template <typename T, bool kPacked>
__global__ void make_keys(StridedShape<3> rows, int64_t n, int64_t xs, const T* x, bool largest,
                          sort_key_t<T, kPacked>* keys, int* index, int64_t* offsets) {
  const int64_t total = rows.numel * n;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = e / n, j = e % n;
    int64_t off[3];
    offsets_of(rows, r, off);
    const T v = x[off[2] + j * xs];
    using A = acc_t<T>;
    const A a = load_as<A>(v);
    const auto key = order_key_of<T, is_float_v<T>, std::is_signed_v<A>>(v, a != a, largest);
    if constexpr (kPacked) {
      keys[e] = (static_cast<uint64_t>(r) << (8 * sizeof(key))) | static_cast<decltype(key)>(~key);
    } else {
      keys[e] = key;
      if (j == 0) offsets[r] = r * n;
      if (e == 0) offsets[rows.numel] = total;
    }
    index[e] = static_cast<int>(j);
  }
}

// values[r, j] = x[r, index[r, j]], indices[r, j] = index[r, j], in the outputs' strides.
template <typename T>
__global__ void write_sorted(StridedShape<3> rows, int64_t n, int64_t vs, int64_t is, int64_t xs, const T* x,
                             const int* index, T* values, int64_t* indices) {
  const int64_t total = rows.numel * n;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = e / n, j = e % n;
    int64_t off[3];
    offsets_of(rows, r, off);
    const int64_t i = index[e];
    values[off[0] + j * vs] = x[off[2] + i * xs];
    indices[off[1] + j * is] = i;
  }
}

template <typename T>
int sort_long_rows(const gems_kernel_call* c, const TopkOperands& op) {
  const gems_tensor* ops[3] = {&op.values, &op.indices, &op.in};
  const StridedShape<3> rows = outer_shape<3>(ops, op.last);
  const int64_t total = rows.numel * op.n;
  if (total == 0) return GEMS_OK;
  constexpr int kKeyBits = 8 * sizeof(order_bits_t<T>);
  int row_bits = 0;
  while ((int64_t{1} << row_bits) < rows.numel) ++row_bits;
  const bool packed = kKeyBits <= 32 && row_bits <= 64 - kKeyBits;
  cudaStream_t stream = stream_of(c);
  // The sort's scratch: keys in and out, indices in and out, offsets, CUB's own.
  auto run = [&](auto packed_tag) -> int {
    constexpr bool kPacked = decltype(packed_tag)::value;
    using K = sort_key_t<T, kPacked>;
    auto sort = [&](void* temp, size_t& temp_bytes, const K* ki, K* ko, const int* vi, int* vo, const int64_t* offsets) {
      if constexpr (kPacked)
        return cub::DeviceRadixSort::SortPairs(temp, temp_bytes, ki, ko, vi, vo, total, 0, kKeyBits + row_bits, stream);
      else
        return cub::DeviceSegmentedSort::StableSortPairsDescending(temp, temp_bytes, ki, ko, vi, vo, total, rows.numel,
                                                                   offsets, offsets + 1, stream);
    };
    size_t temp_bytes = 0;
    sort(nullptr, temp_bytes, nullptr, nullptr, nullptr, nullptr, nullptr);
    const size_t key_bytes = scratch_aligned(total * sizeof(K)), index_bytes = scratch_aligned(total * sizeof(int));
    const size_t offset_bytes = kPacked ? 0 : scratch_aligned((rows.numel + 1) * sizeof(int64_t));
    char* scratch = nullptr;
    if (int st = scratch_malloc(reinterpret_cast<void**>(&scratch),
                                2 * key_bytes + 2 * index_bytes + offset_bytes + temp_bytes, stream))
      return st;
    K* keys_in = reinterpret_cast<K*>(scratch);
    K* keys_out = reinterpret_cast<K*>(scratch + key_bytes);
    int* index_in = reinterpret_cast<int*>(scratch + 2 * key_bytes);
    int* index_out = reinterpret_cast<int*>(scratch + 2 * key_bytes + index_bytes);
    int64_t* offsets = kPacked ? nullptr : reinterpret_cast<int64_t*>(scratch + 2 * key_bytes + 2 * index_bytes);
    void* temp = scratch + 2 * key_bytes + 2 * index_bytes + offset_bytes;
    const T* x = reinterpret_cast<const T*>(base_ptr(op.in));
    make_keys<T, kPacked><<<grid_for(total), kBlock, 0, stream>>>(rows, op.n, op.xs, x, op.largest, keys_in, index_in,
                                                                  offsets);
    sort(temp, temp_bytes, keys_in, keys_out, index_in, index_out, offsets);
    write_sorted<T><<<grid_for(total), kBlock, 0, stream>>>(rows, op.n, op.vs, op.is, op.xs, x, index_out,
                                                            reinterpret_cast<T*>(base_ptr(op.values)),
                                                            reinterpret_cast<int64_t*>(base_ptr(op.indices)));
    scratch_free(scratch, stream);
    return launch_status("sort");
  };
  if constexpr (kKeyBits <= 32) {
    if (packed) return run(std::true_type{});
  }
  return run(std::false_type{});
}

}  // namespace

// tensors: values, indices (int64), in, all of in's shape; along the last
// dim; scalars[0].i descending (topk's operands with k = n).
int k_sort(const gems_kernel_call* c) {
  const TopkOperands op(c);
  if (op.k != op.n) return set_error_string(GEMS_INVALID_ARGUMENT, "sort: values must have the input's shape");
  if (op.n <= kTopkMaxK) return k_topk(c);
  if (op.n > INT_MAX) return set_error_string(GEMS_UNSUPPORTED, "sort: rows of more than 2^31 elements");
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kNumeric>(op.in.dtype, [&](auto tag) {
    status = sort_long_rows<typename decltype(tag)::type>(c, op);
  });
  return ok ? status : unsupported_dtype("sort", op.in.dtype);
}

}  // namespace gems::nvidia
