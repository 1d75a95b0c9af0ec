// Host side of kernels/loss.clcpp: nll_loss, fused cross entropy and the
// norms' backward (operands as in backends/cpu/kernel_table.cpp).
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

constexpr size_t kGroup = 64;  // GI_GROUP in kernels/group.h

bool floating(int32_t dtype) { return served(kFloating, dtype); }
const void* maybe(const gems_kernel_call* c, int i) {
  return i < c->num_tensors && c->tensors[i].data ? element_ptr(c->tensors[i]) : nullptr;
}
int64_t step0(const gems_kernel_call* c, int i) {
  return i < c->num_tensors && c->tensors[i].ndim ? c->tensors[i].strides[0] : 0;
}
bool rows_contiguous(const gems_tensor& t) { return t.ndim == 2 && t.strides[1] == 1 && t.strides[0] == t.sizes[1]; }

}  // namespace

int k_nll_loss(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!floating(t[2].dtype)) return unsupported("nll_loss", t[2].dtype);
  if (t[3].dtype != GEMS_INT64) return unsupported("nll_loss (target)", t[3].dtype);
  void* error = nullptr;
  if (int s = runtime().error_record(c->device, &error)) return s;
  return Launch(c, kProgramLoss, kernel_name("nll_loss", t[2].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).tensor(t[3]).ptr(maybe(c, 4))
      .value(t[2].sizes[0]).value(t[2].sizes[1]).value(t[2].strides[0]).value(t[2].strides[1]).value(step0(c, 3))
      .value(step0(c, 4)).value(step0(c, 0)).value(static_cast<int>(c->scalars[0].i)).value(c->scalars[1].i).ptr(error)
      .run(kGroup, kGroup);
}

int k_nll_loss_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!floating(t[0].dtype)) return unsupported("nll_loss_backward", t[0].dtype);
  if (!rows_contiguous(t[0])) return set_error(GEMS_UNSUPPORTED, "nll_loss_backward: grad_in must be contiguous");
  const int64_t n = t[0].sizes[0], classes = t[0].sizes[1];
  return Launch(c, kProgramLoss, kernel_name("nll_loss_backward", t[0].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).ptr(maybe(c, 3)).tensor(t[4]).value(n).value(classes)
      .value(step0(c, 1)).value(step0(c, 2)).value(step0(c, 3)).value(static_cast<int>(c->scalars[0].i))
      .value(c->scalars[1].i)
      .run(static_cast<size_t>(n * classes));
}

int k_cross_entropy(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!floating(t[1].dtype)) return unsupported("cross_entropy", t[1].dtype);
  if (t[2].dtype != GEMS_INT64) return unsupported("cross_entropy (target)", t[2].dtype);
  const int64_t n = t[1].sizes[0], classes = t[1].sizes[1];
  if (n == 0) return GEMS_OK;
  void* error = nullptr;
  if (int s = runtime().error_record(c->device, &error)) return s;
  return Launch(c, kProgramLoss, kernel_name("cross_entropy", t[1].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).ptr(maybe(c, 3)).value(classes).value(t[0].strides[0])
      .value(t[0].strides[1]).value(t[1].strides[0]).value(t[1].strides[1]).value(step0(c, 2)).value(step0(c, 3))
      .value(c->scalars[0].i).ptr(error)
      .run(static_cast<size_t>(n) * kGroup, kGroup);
}

int k_cross_entropy_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!floating(t[2].dtype)) return unsupported("cross_entropy_backward", t[2].dtype);
  const int64_t n = t[2].sizes[0], classes = t[2].sizes[1];
  if (n * classes == 0) return GEMS_OK;
  return Launch(c, kProgramLoss, kernel_name("cross_entropy_backward", t[2].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).tensor(t[3]).tensor(t[4]).value(n).value(classes)
      .value(t[0].strides[0]).value(t[0].strides[1]).value(step0(c, 1)).value(t[2].strides[0]).value(t[2].strides[1])
      .value(step0(c, 3)).value(t[4].strides[0]).value(t[4].strides[1])
      .run(static_cast<size_t>(n * classes));
}

namespace {
// grad_in, grad_weight, grad_bias (or NULL), grad_out, in, mean (or NULL), rstd, weight (or NULL).
int norm_backward(const gems_kernel_call* c, const char* name, const gems_tensor* grad_in, const void* grad_weight,
                  const void* grad_bias, const gems_tensor& grad_out, const gems_tensor& in, const void* mean,
                  const gems_tensor& rstd, const void* weight, bool rms) {
  if (!floating(in.dtype)) return unsupported(name, in.dtype);
  if (!rows_contiguous(in) || !rows_contiguous(grad_out) || (grad_in && !rows_contiguous(*grad_in)))
    return set_error(GEMS_UNSUPPORTED, std::string(name) + ": the intel kernel needs contiguous rows");
  const int64_t m = in.sizes[0], n = in.sizes[1];
  if (m == 0 || n == 0) return GEMS_OK;
  if (grad_in) {
    if (int s = Launch(c, kProgramLoss, kernel_name("norm_backward", in.dtype))
                    .tensor(*grad_in).tensor(grad_out).tensor(in).ptr(mean).tensor(rstd).ptr(weight).value(n)
                    .value(static_cast<int>(rms))
                    .run(static_cast<size_t>(m) * kGroup, kGroup))
      return s;
  }
  if (!grad_weight && !grad_bias) return GEMS_OK;
  return Launch(c, kProgramLoss, kernel_name("norm_backward_params", in.dtype))
      .ptr(grad_weight).ptr(grad_bias).tensor(grad_out).tensor(in).ptr(mean).tensor(rstd).value(m).value(n)
      .value(static_cast<int>(rms))
      .run(static_cast<size_t>(n));
}
}  // namespace

int k_layer_norm_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  return norm_backward(c, "layer_norm_backward", t[0].data ? &t[0] : nullptr, maybe(c, 1), maybe(c, 2), t[3], t[4],
                       element_ptr(t[5]), t[6], maybe(c, 7), false);
}
int k_rms_norm_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  return norm_backward(c, "rms_norm_backward", t[0].data ? &t[0] : nullptr, maybe(c, 1), nullptr, t[2], t[3], nullptr,
                       t[4], maybe(c, 5), true);
}

}  // namespace gems::intel
