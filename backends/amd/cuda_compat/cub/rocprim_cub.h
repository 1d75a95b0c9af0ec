// The few CUB entry points the nvidia kernels use, on rocPRIM (Debian's
// librocprim-dev): same arguments, same results (rocPRIM's radix sorts are
// stable, as CUB's). The cub/ headers beside this one include it.
#pragma once
#include "../../hip_portability.h"

#include <rocprim/block/block_reduce.hpp>
#include <rocprim/block/block_scan.hpp>
#include <rocprim/device/device_radix_sort.hpp>
#include <rocprim/device/device_scan.hpp>
#include <rocprim/device/device_segmented_radix_sort.hpp>

namespace cub {

template <typename T, int kThreads>
class BlockReduce {
  using Impl = rocprim::block_reduce<T, kThreads>;

 public:
  using TempStorage = typename Impl::storage_type;
  __device__ explicit BlockReduce(TempStorage& storage) : storage_(storage) {}
  // The block's sum, valid in thread 0.
  __device__ T Sum(T v) {
    T total;
    Impl().reduce(v, total, storage_, rocprim::plus<T>());
    return total;
  }

 private:
  TempStorage& storage_;
};

template <typename T, int kThreads>
class BlockScan {
  using Impl = rocprim::block_scan<T, kThreads>;

 public:
  using TempStorage = typename Impl::storage_type;
  __device__ explicit BlockScan(TempStorage& storage) : storage_(storage) {}
  __device__ void ExclusiveSum(T v, T& before, T& total) {
    Impl().exclusive_scan(v, before, T(0), total, storage_, rocprim::plus<T>());
  }

 private:
  TempStorage& storage_;
};

struct DeviceScan {
  template <typename In, typename Out>
  static hipError_t ExclusiveSum(void* temp, size_t& temp_bytes, In in, Out out, int n, hipStream_t stream = 0) {
    using T = typename std::iterator_traits<Out>::value_type;
    return rocprim::exclusive_scan(temp, temp_bytes, in, out, T(0), static_cast<size_t>(n), rocprim::plus<T>(), stream);
  }
};

struct DeviceRadixSort {
  template <typename K, typename V, typename N>
  static hipError_t SortPairs(void* temp, size_t& temp_bytes, const K* keys_in, K* keys_out, const V* values_in,
                              V* values_out, N n, int begin_bit = 0, int end_bit = sizeof(K) * 8,
                              hipStream_t stream = 0) {
    return rocprim::radix_sort_pairs(temp, temp_bytes, keys_in, keys_out, values_in, values_out,
                                     static_cast<size_t>(n), static_cast<unsigned>(begin_bit),
                                     static_cast<unsigned>(end_bit), stream);
  }
};

struct DeviceSegmentedSort {
  template <typename K, typename V, typename N, typename S, typename Offsets>
  static hipError_t StableSortPairsDescending(void* temp, size_t& temp_bytes, const K* keys_in, K* keys_out,
                                              const V* values_in, V* values_out, N n, S segments, Offsets begins,
                                              Offsets ends, hipStream_t stream = 0) {
    return rocprim::segmented_radix_sort_pairs_desc(temp, temp_bytes, keys_in, keys_out, values_in, values_out,
                                                    static_cast<unsigned>(n), static_cast<unsigned>(segments), begins,
                                                    ends, 0u, static_cast<unsigned>(sizeof(K) * 8), stream);
  }
};

}  // namespace cub
