// group_norm's coefficients for channel_affine's one pass over the input, for
// every vendor (host code on cpu, CUDA/HIP on nvidia and amd, C++ for OpenCL
// on intel): one launch instead of the thirty small ops that folded the
// per-(sample, group) statistics and the per-channel affine together. One
// work-item a channel c (of C, in groups of K = C / G), looping over the N
// samples; g = c / K, in the statistics' type A (float32, float64 for float64):
//
//   forward:  rstd[n,g] = 1 / sqrt(var[n,g] + eps) (written by the group's
//             first channel), scale[n,c] = rstd * weight[c], shift[n,c] =
//             bias[c] - scale * mean[n,g]  (PyTorch CPU's order)
//   backward: from the per-(n, c) sums of dy and dy * x (batch_norm_backward_reduce
//             with a zero mean), PyTorch CPU's formulas per (n, g) with
//             ds = sum over the group of sum_dy_x * weight, db likewise of sum_dy,
//             m = 1 / count (elements of a group):
//               dy_scale[n,c] = rstd * weight[c]
//               x_scale[n,c]  = (db * mean - ds) * rstd^3 * m
//               shift[n,c]    = -x_scale * mean - db * rstd * m
//             and grad_weight[c] = sum over n of (sum_dy_x - mean * sum_dy) * rstd,
//             grad_bias[c] = sum over n of sum_dy.
#pragma once
#include "std_compat.h"

#include "batch_norm_apply.h"
#include "host_device.h"

namespace gems {

// The operands in order (group_norm_coefficients' tensors):
//   forward:  scale [N*C], shift [N*C], rstd [N*G] (written), mean [N*G], var [N*G], weight [C], bias [C],
//             and under kBatchNormSaveMean saved_mean [N*G] (written: the mean in its own dtype)
//   backward: dy_scale [N*C], x_scale [N*C], shift [N*C], grad_weight [C], grad_bias [C] (written),
//             sum_dy [N*C], sum_dy_x [N*C], mean [N*G], rstd [N*G], weight [C]
// flags: kBatchNormHasWeight, kBatchNormHasBias (an operand they leave out is not read).
// at(k, i) points at element i of operand k.
template <typename A, typename At>
GEMS_HOST_DEVICE inline void group_norm_coefficients_at(int64_t mode, int64_t flags, A eps, A count, int64_t N,
                                                        int64_t C, int64_t G, int64_t c, At at) {
  using std::sqrt;
  const int64_t K = C / G, g = c / K;
  const bool weighted = flags & kBatchNormHasWeight;
  if (mode == kBatchNormForward) {
    const A w = weighted ? *at(5, c) : A(1), b = flags & kBatchNormHasBias ? *at(6, c) : A(0);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t ng = n * G + g, nc = n * C + c;
      const A rstd = A(1) / sqrt(*at(4, ng) + eps);
      if (c % K == 0) {
        *at(2, ng) = rstd;
        if (flags & kBatchNormSaveMean) *at(7, ng) = static_cast<A>(*at(3, ng));
      }
      const A scale = weighted ? rstd * w : rstd;
      *at(0, nc) = scale;
      *at(1, nc) = b - scale * *at(3, ng);
    }
    return;
  }
  const A m = A(1) / count, w = weighted ? *at(9, c) : A(1);
  A grad_weight = A(0), grad_bias = A(0);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t ng = n * G + g, nc = n * C + c;
    const A mean = *at(7, ng), rstd = *at(8, ng);
    A ds = A(0), db = A(0);
    for (int64_t k = 0; k < K; ++k) {
      const int64_t at_k = n * C + g * K + k;
      const A wk = weighted ? *at(9, g * K + k) : A(1);
      ds += *at(6, at_k) * wk;
      db += *at(5, at_k) * wk;
    }
    const A x_scale = (db * mean - ds) * rstd * rstd * rstd * m;
    *at(0, nc) = weighted ? rstd * w : rstd;
    *at(1, nc) = x_scale;
    *at(2, nc) = -x_scale * mean - db * rstd * m;
    grad_weight += (*at(6, nc) - mean * *at(5, nc)) * rstd;
    grad_bias += *at(5, nc);
  }
  *at(3, c) = grad_weight;
  *at(4, c) = grad_bias;
}

}  // namespace gems
