// Host side of kernels/reduce.clcpp: reductions over trailing dims, the
// softmax family over the last dim, layer_norm and rms_norm.
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

constexpr size_t kGroup = 64;  // GI_GROUP in kernels/reduce.clcpp


// A tensor of the first `ndim` dims of t (the outer dims of a reduction).
gems_tensor leading(const gems_tensor& t, int ndim) {
  gems_tensor r = t;
  r.ndim = ndim;
  return r;
}
// A tensor of the last `ndim` dims of t.
gems_tensor trailing(const gems_tensor& t, int ndim) {
  gems_tensor r = t;
  r.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    r.sizes[d] = t.sizes[t.ndim - ndim + d];
    r.strides[d] = t.strides[t.ndim - ndim + d];
  }
  return r;
}

int reduce(const gems_kernel_call* c, const char* name, uint32_t mask, int op) {
  const gems_tensor& out = c->tensors[0];
  const gems_tensor& in = c->tensors[1];
  if (!served(mask, in.dtype)) return unsupported(name, in.dtype);
  const bool with_indices = c->num_tensors > 2 && c->tensors[2].data;
  const int k = out.ndim, r = in.ndim - out.ndim;
  const gems_tensor o = leading(out, k), i = leading(in, k);
  const gems_tensor idx = with_indices ? leading(c->tensors[2], k) : o;
  const gems_tensor* outer_ops[3] = {&o, &i, &idx};
  const gems_tensor inner_t = trailing(in, r);
  const gems_tensor* inner_ops[1] = {&inner_t};
  const int64_t rows = numel(out), count = numel(inner_t);
  if (rows == 0) return GEMS_OK;
  if (count == 0 && (op == GI_MAX || op == GI_MIN))
    return set_error(GEMS_INVALID_ARGUMENT, std::string(name) + " of an empty set of elements");
  return Launch(c, kProgramReduce, kernel_name("reduce", in.dtype))
      .tensor(out).ptr(with_indices ? element_ptr(c->tensors[2]) : nullptr).tensor(in)
      .value(make_layout(outer_ops, 3)).value(make_layout(inner_ops, 1)).value(count).value(op)
      .run(static_cast<size_t>(rows) * kGroup, kGroup);
}

// Rows of the last dim: tensors out, a[, b] share their outer dims.
int rows(const gems_kernel_call* c, const char* name, int op, int n_ops) {
  const gems_tensor& out = c->tensors[0];
  if (!served(kFloating, out.dtype)) return unsupported(name, out.dtype);
  const int k = out.ndim - 1;
  const int64_t n = k >= 0 ? out.sizes[k] : 1;
  gems_tensor outer[3];
  int64_t step[3] = {1, 1, 1};
  const gems_tensor* ops[3];
  for (int j = 0; j < 3; ++j) {
    const gems_tensor& t = c->tensors[j < n_ops ? j : 0];
    outer[j] = leading(t, k > 0 ? k : 0);
    step[j] = k >= 0 ? t.strides[k] : 1;
    ops[j] = &outer[j];
  }
  const int64_t count = numel(outer[0]);
  if (count == 0 || n == 0) return GEMS_OK;
  return Launch(c, kProgramReduce, kernel_name("rows", out.dtype))
      .tensor(c->tensors[0]).tensor(c->tensors[1]).tensor(c->tensors[n_ops > 2 ? 2 : 1])
      .value(make_layout(ops, 3)).value(n).value(step[0]).value(step[1]).value(step[2]).value(op)
      .run(static_cast<size_t>(count) * kGroup, kGroup);
}

// layer_norm (rms = 0) or rms_norm over contiguous [M, N] rows.
int norm(const gems_kernel_call* c, const char* name, const gems_tensor& out, const gems_tensor* mean,
         const gems_tensor& rstd, const gems_tensor& in, const gems_tensor* weight, const gems_tensor* bias, bool rms) {
  if (!served(kFloating, in.dtype)) return unsupported(name, in.dtype);
  if (in.ndim != 2 || in.strides[1] != 1 || out.strides[1] != 1 || (rstd.ndim && rstd.strides[0] != 1) ||
      (mean && mean->ndim && mean->strides[0] != 1))
    return set_error(GEMS_UNSUPPORTED, std::string(name) + ": the intel kernel needs rows with unit stride");
  const int64_t m = in.sizes[0], n = in.sizes[1];
  if (m == 0) return GEMS_OK;
  Launch launch(c, kProgramReduce, kernel_name("norm", in.dtype));
  launch.tensor(out).ptr(mean ? element_ptr(*mean) : nullptr).tensor(rstd).tensor(in)
      .ptr(weight ? element_ptr(*weight) : nullptr).ptr(bias ? element_ptr(*bias) : nullptr)
      .value(n).value(static_cast<int64_t>(in.strides[0])).value(static_cast<int64_t>(out.strides[0]));
  // eps in the statistics' type: double for double rows.
  if (in.dtype == GEMS_FLOAT64) launch.value(c->scalars[0].f);
  else launch.value(static_cast<float>(c->scalars[0].f));
  return launch.value(static_cast<int>(rms)).run(static_cast<size_t>(m) * kGroup, kGroup);
}

const gems_tensor* present(const gems_tensor& t) { return t.data ? &t : nullptr; }

}  // namespace

int k_reduce_sum(const gems_kernel_call* c) { return reduce(c, "reduce_sum", kNumeric, GI_SUM); }
int k_reduce_mean(const gems_kernel_call* c) { return reduce(c, "reduce_mean", kFloating, GI_MEAN); }
int k_reduce_max(const gems_kernel_call* c) { return reduce(c, "reduce_max", kAll, GI_MAX); }
int k_reduce_min(const gems_kernel_call* c) { return reduce(c, "reduce_min", kAll, GI_MIN); }
int k_softmax(const gems_kernel_call* c) { return rows(c, "softmax", GI_SOFTMAX, 2); }
int k_log_softmax(const gems_kernel_call* c) { return rows(c, "log_softmax", GI_LOG_SOFTMAX, 2); }
int k_softmax_backward(const gems_kernel_call* c) { return rows(c, "softmax_backward", GI_SOFTMAX_BACKWARD, 3); }
int k_log_softmax_backward(const gems_kernel_call* c) {
  return rows(c, "log_softmax_backward", GI_LOG_SOFTMAX_BACKWARD, 3);
}
int k_layer_norm(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  return norm(c, "layer_norm", t[0], &t[1], t[2], t[3], present(t[4]), present(t[5]), false);
}
int k_rms_norm(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  return norm(c, "rms_norm", t[0], nullptr, t[1], t[2], c->num_tensors > 3 ? present(t[3]) : nullptr, nullptr, true);
}

}  // namespace gems::intel
