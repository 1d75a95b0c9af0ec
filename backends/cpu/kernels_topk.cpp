// topk: the k largest (or smallest) elements of every row, by order keys
// (backends/common/order_key.h) so that NaN ranks as on every other vendor.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "dtype_dispatch.h"
#include "kernels.h"
#include "row_loop.h"
#include "runtime.h"
#include "../common/order_key.h"
#include "../common/topk_operands.h"

namespace gems::cpu {
namespace {

// Sorts (key, index) pairs by key, largest first, equal keys by index (the
// order topk returns; the pairs arrive in index order): a least-significant-
// digit radix sort of the inverted keys, 8 bits a pass, stable, skipping the
// passes where every key has the same digit. A full sort (sort, argsort, top-p
// sampling over a vocabulary) took std::partial_sort's heap sort 2.9 ms for
// 32000 floats, 1.7x torch CPU's time.
template <typename U>
void radix_sort_largest_first(std::vector<std::pair<U, int64_t>>& row, std::vector<std::pair<U, int64_t>>& spare) {
  const size_t n = row.size();
  spare.resize(n);
  for (unsigned shift = 0; shift < 8 * sizeof(U); shift += 8) {
    size_t start[257] = {};
    for (const auto& e : row) ++start[((static_cast<U>(~e.first) >> shift) & 0xffu) + 1];
    bool one_digit = false;
    for (int d = 1; d <= 256; ++d) one_digit |= start[d] == n;
    if (one_digit) continue;
    for (int d = 1; d <= 256; ++d) start[d] += start[d - 1];
    for (const auto& e : row) spare[start[(static_cast<U>(~e.first) >> shift) & 0xffu]++] = e;
    row.swap(spare);
  }
}

}  // namespace

// tensors: values [..., k], indices (int64) [..., k], in [..., n]; along the
// last dim; scalars[0].i largest. Rows come out sorted (largest first, or
// smallest first), equal elements by index; of equal elements at the k-th
// place the lowest indices are taken.
int k_topk(const gems_kernel_call* c) {
  const TopkOperands op(c);
  if (op.k > op.n) return set_error(GEMS_INVALID_ARGUMENT, "topk: k is larger than the row");
  const bool ok = dispatch_dtype<kNumeric>(op.in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using U = order_bits_t<T>;
    using A = acc_t<T>;
    const gems_tensor* ops[3] = {&op.values, &op.indices, &op.in};
    OuterLoop<3> outer(ops, op.last < 0 ? 0 : op.last);
    outer.for_each(op.n, [&](int64_t, char** p) {
      T* v = reinterpret_cast<T*>(p[0]);
      int64_t* ix = reinterpret_cast<int64_t*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      thread_local std::vector<std::pair<U, int64_t>> row;
      row.resize(static_cast<size_t>(op.n));
      for (int64_t i = 0; i < op.n; ++i) {
        const A a = static_cast<A>(x[i * op.xs]);
        row[i] = {order_key_of<T, is_floating_v<T>, std::is_signed_v<A>>(x[i * op.xs], a != a, op.largest), i};
      }
      if (op.k * 16 > op.n) {  // most of the row: sort it all by bits
        thread_local std::vector<std::pair<U, int64_t>> spare;
        radix_sort_largest_first(row, spare);
      } else {
        std::partial_sort(row.begin(), row.begin() + op.k, row.end(), [](const auto& a, const auto& b) {
          return a.first > b.first || (a.first == b.first && a.second < b.second);
        });
      }
      for (int64_t j = 0; j < op.k; ++j) {
        v[j * op.vs] = x[row[j].second * op.xs];
        ix[j * op.is] = row[j].second;
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("topk", op.in.dtype);
}

}  // namespace gems::cpu
