// Host side of kernels/index.clcpp.
#include "kernels.h"
#include "launch.h"

namespace gems::intel {

int k_index_select(const gems_kernel_call* c) {
  if (c->tensors[0].ndim == 0) {  // a 0-d self: one element of one dim
    gems_tensor ops[3] = {c->tensors[0], c->tensors[1], c->tensors[2]};
    for (int k = 0; k < 2; ++k) { ops[k].ndim = 1; ops[k].sizes[0] = 1; ops[k].strides[0] = 1; }
    gems_kernel_call one = *c;
    one.tensors = ops;
    return k_index_select(&one);
  }
  const gems_tensor &out = c->tensors[0], &self = c->tensors[1], &index = c->tensors[2];
  if (!served(kAll, out.dtype)) return unsupported("index_select", out.dtype);
  if (index.dtype != GEMS_INT64 && index.dtype != GEMS_INT32) return unsupported("index_select (index)", index.dtype);
  const int64_t dim = c->scalars[0].i;
  const bool wrap = c->num_scalars > 1 && c->scalars[1].i;
  if (numel(out) == 0) return GEMS_OK;
  if (out.ndim == 0 || dim < 0 || dim >= out.ndim)
    return set_error(GEMS_INVALID_ARGUMENT, "index_select: dim out of range");
  gi_layout L{};
  L.ndim = out.ndim;
  for (int d = 0; d < out.ndim; ++d) {
    L.sizes[d] = out.sizes[d];
    L.strides[0][d] = out.strides[d];
    L.strides[1][d] = d == dim ? 0 : self.strides[d];
  }
  int64_t inner = 1;
  for (int d = static_cast<int>(dim) + 1; d < out.ndim; ++d) inner *= out.sizes[d];
  void* error = nullptr;
  if (int s = runtime().error_record(c->device, &error)) return s;
  return Launch(c, kProgramIndex, kernel_name("index_select", out.dtype))
      .tensor(out).tensor(self).tensor(index).value(L).value(inner).value(static_cast<int64_t>(out.sizes[dim]))
      .value(static_cast<int64_t>(index.ndim ? index.strides[0] : 1)).value(static_cast<int>(index.dtype == GEMS_INT64))
      .value(static_cast<int64_t>(self.sizes[dim])).value(static_cast<int64_t>(self.strides[dim])).value(dim)
      .value(static_cast<int>(wrap)).ptr(error)
      .run(static_cast<size_t>(numel(out)));
}

namespace {
bool index_dtype(int32_t d) { return d == GEMS_INT64 || d == GEMS_INT32; }
}  // namespace

int k_gather(const gems_kernel_call* c) {
  const gems_tensor& out = c->tensors[0];
  const int n = c->num_tensors - 2;
  if (n < 1 || n > 4) return set_error(GEMS_UNSUPPORTED, "gather takes 1 to 4 index tensors");
  if (!served(kAll, out.dtype)) return unsupported("gather", out.dtype);
  const int64_t width = element_size(out.dtype);
  gi_pick P{};
  P.count = n;
  P.wrap = c->scalars[0].i != 0;
  const gems_tensor* ops[GI_MAX_OPERANDS];
  for (int k = 0; k < 2 + n; ++k) ops[k] = &c->tensors[k];
  for (int k = 0; k < n; ++k) {
    if (!index_dtype(c->tensors[2 + k].dtype)) return unsupported("gather (index)", c->tensors[2 + k].dtype);
    P.dim[k] = c->scalars[1 + 3 * k].i;
    P.size[k] = c->scalars[2 + 3 * k].i;
    P.stride[k] = c->scalars[3 + 3 * k].i;
    P.is64[k] = c->tensors[2 + k].dtype == GEMS_INT64;
  }
  if (numel(out) == 0) return GEMS_OK;
  void* error = nullptr;
  if (int s = runtime().error_record(c->device, &error)) return s;
  Launch l(c, kProgramIndex, "gather_w" + std::to_string(width));
  l.tensor(out).tensor(c->tensors[1]);
  for (int k = 0; k < 4; ++k) l.ptr(k < n ? element_ptr(c->tensors[2 + k]) : nullptr);
  return l.value(make_layout(ops, 2 + n)).value(P).ptr(error).run(static_cast<size_t>(numel(out)));
}

int k_scatter(const gems_kernel_call* c) {
  const gems_tensor &dest = c->tensors[0], &index = c->tensors[2];
  if (!served(kAll, dest.dtype)) return unsupported("scatter", dest.dtype);
  const int64_t width = element_size(dest.dtype);
  if (!index_dtype(index.dtype)) return unsupported("scatter (index)", index.dtype);
  if (numel(index) == 0) return GEMS_OK;
  const gems_tensor* ops[3] = {&c->tensors[2], &c->tensors[0], &c->tensors[1]};
  // The layout follows index's shape; operands in the kernel's order dest, src, index.
  gi_layout L = make_layout(ops, 3);
  for (int d = 0; d < L.ndim; ++d) {
    const int64_t s_index = L.strides[0][d];
    L.strides[0][d] = L.strides[1][d];
    L.strides[1][d] = L.strides[2][d];
    L.strides[2][d] = s_index;
  }
  if (L.contiguous) L.contiguous = L.strides[0][0] == 1 && L.strides[1][0] == 1 && L.strides[2][0] == 1;
  void* error = nullptr;
  if (int s = runtime().error_record(c->device, &error)) return s;
  return Launch(c, kProgramIndex, "scatter_w" + std::to_string(width))
      .tensor(dest).tensor(c->tensors[1]).tensor(index).value(L).value(c->scalars[1].i).value(c->scalars[2].i)
      .value(c->scalars[0].i).value(static_cast<int>(index.dtype == GEMS_INT64))
      .value(static_cast<int>(c->num_scalars > 3 && c->scalars[3].i != 0)).ptr(error)
      .run(static_cast<size_t>(numel(index)));
}

int k_accumulate_rows(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &src = c->tensors[1], &index = c->tensors[2];
  if (!served(kNumeric, out.dtype)) return unsupported("accumulate_rows", out.dtype);
  if (!index_dtype(index.dtype)) return unsupported("accumulate_rows (index)", index.dtype);
  const int64_t rows = out.sizes[0], cols = out.sizes[1], n = index.ndim ? index.sizes[0] : 1;
  if (n == 0 || rows == 0 || cols == 0) return GEMS_OK;
  const bool floating = kFloating & GEMS_DTYPE_BIT(out.dtype);
  const size_t acc = out.dtype == GEMS_FLOAT64 || !floating ? 8 : 4;
  void *scratch = nullptr, *counts = nullptr, *error = nullptr;
  if (int s = runtime().error_record(c->device, &error)) return s;
  if (int s = runtime().malloc(c->device, static_cast<size_t>(rows * cols) * acc, &scratch)) return s;
  if (int s = runtime().malloc(c->device, static_cast<size_t>(rows) * sizeof(int32_t), &counts)) {
    runtime().free(scratch);
    return s;
  }
  const int64_t step = index.ndim ? index.strides[0] : 0;
  const int is64 = index.dtype == GEMS_INT64, from_end = c->num_scalars > 3 && c->scalars[3].i != 0;
  int s = runtime().memset(scratch, 0, static_cast<size_t>(rows * cols) * acc, c->stream);
  if (!s) s = runtime().memset(counts, 0, static_cast<size_t>(rows) * sizeof(int32_t), c->stream);
  if (!s)
    s = Launch(c, kProgramIndex, "accumulate_count").ptr(counts).tensor(index).value(n).value(step).value(is64)
            .value(rows).value(from_end).ptr(error).run(1);
  if (!s)
    s = Launch(c, kProgramIndex, kernel_name("accumulate_sum", out.dtype))
            .ptr(scratch).ptr(counts).tensor(src).tensor(index).value(n).value(step).value(is64).value(rows).value(cols)
            .value(static_cast<int64_t>(src.strides[0])).value(static_cast<int64_t>(src.strides[1])).value(from_end)
            .value(static_cast<int>(c->scalars[2].i != 0))
            .run(static_cast<size_t>(cols));
  if (!s)
    s = Launch(c, kProgramIndex, kernel_name("accumulate_apply", out.dtype))
            .tensor(out).ptr(scratch).ptr(counts).value(rows).value(cols).value(static_cast<int64_t>(out.strides[0]))
            .value(static_cast<int64_t>(out.strides[1])).value(static_cast<int>(c->scalars[0].i != 0)).value(c->scalars[1].i)
            .run(static_cast<size_t>(rows * cols));
  // The runtime's free waits for the kernels that use the scratch.
  runtime().free(counts);
  runtime().free(scratch);
  return s;
}

}  // namespace gems::intel
