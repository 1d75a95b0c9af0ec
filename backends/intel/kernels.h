// Every kernel of the intel vendor's table; the meaning of each kernel's
// tensors and scalars is the reference table's (backends/cpu/kernel_table.cpp).
#pragma once
#include "../abi/gems_vendor_abi.h"

namespace gems::intel {

#define GEMS_INTEL_KERNEL(name) int k_##name(const gems_kernel_call* c)
// pointwise (kernels_pointwise.cpp)
GEMS_INTEL_KERNEL(copy); GEMS_INTEL_KERNEL(fill); GEMS_INTEL_KERNEL(cat);
GEMS_INTEL_KERNEL(neg); GEMS_INTEL_KERNEL(abs); GEMS_INTEL_KERNEL(relu);
GEMS_INTEL_KERNEL(exp); GEMS_INTEL_KERNEL(log); GEMS_INTEL_KERNEL(sqrt); GEMS_INTEL_KERNEL(rsqrt);
GEMS_INTEL_KERNEL(sin); GEMS_INTEL_KERNEL(cos); GEMS_INTEL_KERNEL(tanh); GEMS_INTEL_KERNEL(sigmoid);
GEMS_INTEL_KERNEL(silu); GEMS_INTEL_KERNEL(gelu); GEMS_INTEL_KERNEL(clamp);
GEMS_INTEL_KERNEL(add); GEMS_INTEL_KERNEL(sub); GEMS_INTEL_KERNEL(mul); GEMS_INTEL_KERNEL(div);
GEMS_INTEL_KERNEL(remainder); GEMS_INTEL_KERNEL(maximum); GEMS_INTEL_KERNEL(minimum); GEMS_INTEL_KERNEL(pow);
GEMS_INTEL_KERNEL(eq); GEMS_INTEL_KERNEL(ne); GEMS_INTEL_KERNEL(lt); GEMS_INTEL_KERNEL(le);
GEMS_INTEL_KERNEL(gt); GEMS_INTEL_KERNEL(ge); GEMS_INTEL_KERNEL(where);
GEMS_INTEL_KERNEL(bitwise_and); GEMS_INTEL_KERNEL(bitwise_or); GEMS_INTEL_KERNEL(bitwise_not);
GEMS_INTEL_KERNEL(threshold_backward); GEMS_INTEL_KERNEL(gelu_backward); GEMS_INTEL_KERNEL(silu_backward);
GEMS_INTEL_KERNEL(sigmoid_backward); GEMS_INTEL_KERNEL(tanh_backward);
GEMS_INTEL_KERNEL(addcmul); GEMS_INTEL_KERNEL(addcdiv); GEMS_INTEL_KERNEL(lerp);
GEMS_INTEL_KERNEL(arange); GEMS_INTEL_KERNEL(tril);
GEMS_INTEL_KERNEL(uniform); GEMS_INTEL_KERNEL(normal); GEMS_INTEL_KERNEL(dropout);
// reductions and rows (kernels_reduce.cpp)
GEMS_INTEL_KERNEL(reduce_sum); GEMS_INTEL_KERNEL(reduce_mean); GEMS_INTEL_KERNEL(reduce_max); GEMS_INTEL_KERNEL(reduce_min);
GEMS_INTEL_KERNEL(softmax); GEMS_INTEL_KERNEL(log_softmax);
GEMS_INTEL_KERNEL(softmax_backward); GEMS_INTEL_KERNEL(log_softmax_backward);
GEMS_INTEL_KERNEL(layer_norm); GEMS_INTEL_KERNEL(rms_norm);
// losses and the norms' backward (kernels_loss.cpp)
GEMS_INTEL_KERNEL(nll_loss); GEMS_INTEL_KERNEL(nll_loss_backward); GEMS_INTEL_KERNEL(cross_entropy);
GEMS_INTEL_KERNEL(cross_entropy_backward); GEMS_INTEL_KERNEL(layer_norm_backward); GEMS_INTEL_KERNEL(rms_norm_backward);
// counting and selecting (kernels_select.cpp)
GEMS_INTEL_KERNEL(count_nonzero); GEMS_INTEL_KERNEL(nonzero); GEMS_INTEL_KERNEL(masked_select);
GEMS_INTEL_KERNEL(cumsum); GEMS_INTEL_KERNEL(isin); GEMS_INTEL_KERNEL(histc); GEMS_INTEL_KERNEL(topk);
// fused attention (kernels_attention.cpp)
GEMS_INTEL_KERNEL(attention); GEMS_INTEL_KERNEL(attention_backward);
// convolutions (kernels_conv.cpp)
GEMS_INTEL_KERNEL(convolution); GEMS_INTEL_KERNEL(convolution_backward_input); GEMS_INTEL_KERNEL(convolution_backward_weight);
// pooling (kernels_pool.cpp)
GEMS_INTEL_KERNEL(pool); GEMS_INTEL_KERNEL(pool_backward);
// batch_norm's per-channel reductions, coefficients and pass over the input (kernels_batch_norm.cpp)
GEMS_INTEL_KERNEL(batch_norm_stats); GEMS_INTEL_KERNEL(batch_norm_backward_reduce);
GEMS_INTEL_KERNEL(batch_norm_coefficients); GEMS_INTEL_KERNEL(channel_affine);
GEMS_INTEL_KERNEL(group_norm_coefficients);
GEMS_INTEL_KERNEL(interpolate);
// gemm (kernels_gemm.cpp), indexing (kernels_index.cpp)
GEMS_INTEL_KERNEL(gemm);
GEMS_INTEL_KERNEL(index_select); GEMS_INTEL_KERNEL(gather); GEMS_INTEL_KERNEL(scatter); GEMS_INTEL_KERNEL(accumulate_rows);
#undef GEMS_INTEL_KERNEL

}  // namespace gems::intel
