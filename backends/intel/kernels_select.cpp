// Host side of kernels/select.clcpp. count_nonzero, nonzero and masked_select
// take dense operands (the core's contract: elements at [0, numel) in order).
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

constexpr size_t kGroup = 64;  // GI_GROUP in kernels/group.h


gi_layout shape_of(const gems_tensor& t) {
  gi_layout L{};
  L.ndim = t.ndim;
  for (int d = 0; d < t.ndim; ++d) L.sizes[d] = t.sizes[d];
  return L;
}

}  // namespace

int k_count_nonzero(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  if (!served(kAll, in.dtype)) return unsupported("count_nonzero", in.dtype);
  return Launch(c, kProgramSelect, kernel_name("count_nonzero", in.dtype)).tensor(out).tensor(in).value(numel(in))
      .run(kGroup, kGroup);
}

int k_nonzero(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  if (!served(kAll, in.dtype)) return unsupported("nonzero", in.dtype);
  const int64_t rows = out.sizes[0];
  if (rows == 0 || numel(in) == 0) return GEMS_OK;
  return Launch(c, kProgramSelect, kernel_name("nonzero", in.dtype))
      .tensor(out).tensor(in).value(numel(in)).value(rows).value(static_cast<int64_t>(out.strides[0]))
      .value(static_cast<int64_t>(out.ndim > 1 ? out.strides[1] : 0)).value(shape_of(in))
      .run(kGroup, kGroup);
}

int k_masked_select(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &values = c->tensors[1], &mask = c->tensors[2];
  if (mask.dtype != GEMS_BOOL && mask.dtype != GEMS_UINT8) return unsupported("masked_select", mask.dtype);
  if (!served(kAll, values.dtype)) return unsupported("masked_select", values.dtype);
  const int64_t width = element_size(values.dtype);
  const int64_t rows = out.ndim ? out.sizes[0] : 1;
  if (rows == 0 || numel(mask) == 0) return GEMS_OK;
  // The layout walks the mask's shape in row-major (memory) order: no merging reorders it.
  gems_tensor shape = mask;
  const gems_tensor* ops[3] = {&shape, &values, &mask};
  return Launch(c, kProgramSelect, "masked_select_w" + std::to_string(width))
      .tensor(out).tensor(values).tensor(mask).value(make_layout(ops, 3)).value(rows)
      .value(static_cast<int64_t>(out.ndim ? out.strides[0] : 1))
      .run(kGroup, kGroup);
}

int k_cumsum(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &in = c->tensors[1];
  if (!served(kNumeric, out.dtype)) return unsupported("cumsum", out.dtype);
  const int k = out.ndim - 1;
  const int64_t n = k >= 0 ? out.sizes[k] : 1;
  gems_tensor o = out, i = in;
  o.ndim = i.ndim = k > 0 ? k : 0;
  const gems_tensor* ops[2] = {&o, &i};
  const int64_t rows = numel(o);
  if (rows == 0 || n == 0) return GEMS_OK;
  return Launch(c, kProgramSelect, kernel_name("cumsum", out.dtype))
      .tensor(out).tensor(in).value(make_layout(ops, 2)).value(n).value(static_cast<int64_t>(k >= 0 ? out.strides[k] : 1))
      .value(static_cast<int64_t>(k >= 0 ? in.strides[k] : 1))
      .run(static_cast<size_t>(rows));
}

int k_isin(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &elements = c->tensors[1], &test = c->tensors[2];
  if (!served(kNumeric, elements.dtype)) return unsupported("isin", elements.dtype);
  if (numel(out) == 0) return GEMS_OK;
  const gems_tensor* ops[2] = {&out, &elements};
  return Launch(c, kProgramSelect, kernel_name("isin", elements.dtype))
      .tensor(out).tensor(elements).tensor(test).value(make_layout(ops, 2)).value(numel(test))
      .value(static_cast<int64_t>(test.ndim ? test.strides[0] : 0)).value(static_cast<int>(c->scalars[0].i != 0))
      .run(static_cast<size_t>(numel(out)));
}

int k_histc(const gems_kernel_call* c) {
  const gems_tensor &counts = c->tensors[0], &x = c->tensors[1];
  if (!served(kNumeric, x.dtype)) return unsupported("histc", x.dtype);
  const int64_t bins = numel(counts);
  if (bins == 0) return GEMS_OK;
  return Launch(c, kProgramSelect, kernel_name("histc", x.dtype))
      .tensor(counts).tensor(x).value(numel(x)).value(static_cast<int64_t>(x.ndim ? x.strides[0] : 0)).value(bins)
      .value(c->scalars[0].f).value(c->scalars[1].f)
      .run(static_cast<size_t>(bins));
}

// topk and sort (operands: backends/common/topk_operands.h).
int k_topk(const gems_kernel_call* c) {
  const gems_tensor &values = c->tensors[0], &indices = c->tensors[1], &in = c->tensors[2];
  if (!served(kNumeric, in.dtype)) return unsupported("topk", in.dtype);
  const int last = in.ndim - 1;
  const int64_t n = last >= 0 ? in.sizes[last] : 1, k = last >= 0 ? values.sizes[last] : 1;
  gems_tensor v = values, ix = indices, x = in;
  v.ndim = ix.ndim = x.ndim = last > 0 ? last : 0;
  const gems_tensor* ops[3] = {&v, &ix, &x};
  const int64_t rows = numel(x);
  if (rows == 0 || k == 0) return GEMS_OK;
  void* scratch = nullptr;
  const bool sorts = !(k <= 64 && k < n);  // as the kernel decides
  if (sorts)
    if (int s = runtime().malloc(c->device, static_cast<size_t>(rows * 2 * n) * sizeof(int64_t), &scratch)) return s;
  const int s = Launch(c, kProgramSelect, kernel_name("topk", in.dtype))
                    .tensor(values).tensor(indices).tensor(in).value(make_layout(ops, 3)).value(n).value(k)
                    .value(static_cast<int64_t>(last >= 0 ? values.strides[last] : 1))
                    .value(static_cast<int64_t>(last >= 0 ? indices.strides[last] : 1))
                    .value(static_cast<int64_t>(last >= 0 ? in.strides[last] : 1)).value(static_cast<int>(c->scalars[0].i != 0))
                    .ptr(scratch)
                    .run(static_cast<size_t>(rows));
  if (scratch) runtime().free(scratch);  // waits for the kernel
  return s;
}

}  // namespace gems::intel
