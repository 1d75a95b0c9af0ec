// batch_norm's per-channel coefficients and its one pass over the input, for
// every vendor (host code on cpu, CUDA/HIP on nvidia and amd, C++ for OpenCL
// on intel). The statistics come from batch_norm_stats or
// batch_norm_backward_reduce; these two kernels turn them into what PyTorch's
// batch_norm returns with two launches instead of a dozen small ops and two
// conversions of the whole input to float:
//
//   batch_norm_coefficients (one work-item a channel)
//     forward:  invstd = 1 / sqrt(var + eps), scale = invstd * weight,
//               shift = bias - mean * scale; in training the running mean
//               and variance move by momentum (the variance unbiased by
//               n / (n - 1)), in place
//     backward: a = invstd * weight; training: b = -a * invstd * sum_gx / n,
//               c = -a * sum_dy / n - mean * b with sum_gx = sum_dy_xmu *
//               invstd (also the weight's gradient); evaluation: b = c = 0
//   channel_affine (one work-item an element of [N, C, S])
//     y = shift[c] + x * scale[c]                 (forward)
//     y = (shift[c] + x * scale[c]) + dy * a[c]   (backward: scale = b, shift = c)
//
// in the statistics' type A (float32, float64 for float64 inputs), the
// input's only at the load and the store.
#pragma once
#include "std_compat.h"

#include "host_device.h"

namespace gems {

enum BatchNormCoefficientsMode { kBatchNormForward = 0, kBatchNormBackward = 1 };
// Which optional operands of batch_norm_coefficients a call uses (scalar flags).
enum BatchNormFlags {
  kBatchNormHasWeight = 1,
  kBatchNormHasBias = 2,
  kBatchNormTraining = 4,     // backward: the statistics were the batch's
  kBatchNormUpdateRunning = 8,  // forward: move the running mean and variance
  kBatchNormSaveMean = 16       // forward: write the mean (read as operand 3) into operand 9, the saved
                                // mean in its own dtype, so that no conversion follows the call
};

// The forward coefficients of one channel. rm, rv: its running mean and
// variance, moved under kBatchNormUpdateRunning.
template <typename A>
GEMS_HOST_DEVICE inline void batch_norm_forward_at(A mean, A var, A weight, A bias, int64_t flags, A eps, A momentum,
                                                   A count, A& invstd, A& scale, A& shift, A& rm, A& rv) {
  using std::sqrt;
  invstd = A(1) / sqrt(var + eps);
  scale = flags & kBatchNormHasWeight ? invstd * weight : invstd;
  shift = (flags & kBatchNormHasBias ? bias : A(0)) - mean * scale;
  if (flags & kBatchNormUpdateRunning) {
    rm = rm * (A(1) - momentum) + mean * momentum;
    rv = rv * (A(1) - momentum) + var * (momentum * count / (count - A(1)));
  }
}

// The backward coefficients of one channel: dx = dy * a + x * b + c.
template <typename A>
GEMS_HOST_DEVICE inline void batch_norm_backward_at(A mean, A invstd, A weight, A sum_dy, A sum_dy_xmu, int64_t flags,
                                                    A count, A& a, A& b, A& c, A& grad_weight) {
  a = flags & kBatchNormHasWeight ? invstd * weight : invstd;
  grad_weight = sum_dy_xmu * invstd;
  if (flags & kBatchNormTraining) {
    b = -a * invstd * grad_weight / count;
    c = -a * sum_dy / count - mean * b;
  } else {
    b = A(0);
    c = A(0);
  }
}

// One channel of batch_norm_coefficients: at(k) points at the channel's
// element of operand k (the order of batch_norm_operands.h).
template <typename A, typename At>
GEMS_HOST_DEVICE inline void batch_norm_coefficients_at(int64_t mode, int64_t flags, A eps, A momentum, A count, At at) {
  if (mode == kBatchNormForward) {
    const bool update = flags & kBatchNormUpdateRunning;
    A invstd, scale, shift, rm = update ? *at(7) : A(0), rv = update ? *at(8) : A(0);
    batch_norm_forward_at<A>(*at(3), *at(4), *at(5), *at(6), flags, eps, momentum, count, invstd, scale, shift, rm, rv);
    *at(0) = scale;
    *at(1) = shift;
    *at(2) = invstd;
    if (update) {
      *at(7) = rm;
      *at(8) = rv;
    }
    if (flags & kBatchNormSaveMean) *at(9) = static_cast<A>(*at(3));
  } else {
    A a, b, c, grad_weight;
    batch_norm_backward_at<A>(*at(4), *at(5), *at(6), *at(7), *at(8), flags, count, a, b, c, grad_weight);
    *at(0) = a;
    *at(1) = b;
    *at(2) = c;
    *at(3) = grad_weight;
  }
}

// channel_affine's element.
template <typename A>
GEMS_HOST_DEVICE inline A channel_affine_at(A x, A scale, A shift) {
  return shift + x * scale;
}
template <typename A>
GEMS_HOST_DEVICE inline A channel_affine_at(A x, A scale, A shift, A dy, A dy_scale) {
  return (shift + x * scale) + dy * dy_scale;
}

}  // namespace gems
