// torch.autocast("gems"): mixed precision on the gems device. PyTorch's
// autocast keys dispatch every op through AutocastPrivateUse1 first; without
// a registration there even a view raised NotImplementedError. Ops pass
// through unchanged, except the ones PyTorch's own policy lists name (the
// lists it shares with other backends, as CUDA's autocast uses them): products
// and convolutions run in the autocast dtype, precision-sensitive ops
// (softmax, norms, losses, exp/log, sums) in float32, and ops of several
// inputs in their widest type.
#include <ATen/autocast_mode.h>
#include <torch/library.h>

namespace gems {
namespace {
using namespace at;  // the policy lists name ATen's types unqualified, as in ATen's own autocast file

#define GEMS_AUTOCAST_LOW(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, lower_precision_fp)
#define GEMS_AUTOCAST_FP32(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32)
#define GEMS_AUTOCAST_FP32_SET_OPT_DTYPE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32_set_opt_dtype)
#define GEMS_AUTOCAST_PROMOTE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, promote)

TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) { m.fallback(torch::CppFunction::makeFallthrough()); }

TORCH_LIBRARY_IMPL(aten, AutocastPrivateUse1, m) {
  AT_FORALL_LOWER_PRECISION_FP(GEMS_AUTOCAST_LOW)
  AT_FORALL_FP32(GEMS_AUTOCAST_FP32)
  AT_FORALL_FP32_SET_OPT_DTYPE(GEMS_AUTOCAST_FP32_SET_OPT_DTYPE)
  AT_FORALL_DIFFERENT_REDISPATCH_SIGNATURE(KERNEL_DIFFERENT_REDISPATCH_SIGNATURE_PRIVATEUSEONE)
  AT_FORALL_PROMOTE(GEMS_AUTOCAST_PROMOTE)
  // gems serves cross entropy as one fused op, which CUDA decomposes into log_softmax and nll_loss (both
  // float32 under autocast): the same float32 loss here.
  KERNEL_PRIVATEUSEONE(cross_entropy_loss, fp32)
}

}  // namespace
}  // namespace gems
