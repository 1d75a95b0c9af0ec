// Every kernel of the cpu vendor's table. The meaning of each kernel's tensors
// and scalars is documented where it is listed, in kernel_table.cpp.
#pragma once
#include "../abi/gems_vendor_abi.h"

namespace gems::cpu {

constexpr uint32_t kFloating = GEMS_MASK_FLOATING;
constexpr uint32_t kIntegral = GEMS_MASK_INTEGRAL;
constexpr uint32_t kAll = GEMS_MASK_ALL;
constexpr uint32_t kNumeric = GEMS_MASK_FLOATING | GEMS_MASK_INTEGRAL;

// Returns GEMS_UNSUPPORTED with a message naming the kernel and dtype.
int unsupported_dtype(const char* kernel, int32_t dtype);

#define GEMS_CPU_KERNEL(name) int k_##name(const gems_kernel_call* c)
// pointwise
GEMS_CPU_KERNEL(copy); GEMS_CPU_KERNEL(fill); GEMS_CPU_KERNEL(cat);
GEMS_CPU_KERNEL(neg); GEMS_CPU_KERNEL(abs); GEMS_CPU_KERNEL(relu);
GEMS_CPU_KERNEL(exp); GEMS_CPU_KERNEL(log); GEMS_CPU_KERNEL(sqrt); GEMS_CPU_KERNEL(rsqrt);
GEMS_CPU_KERNEL(sin); GEMS_CPU_KERNEL(cos); GEMS_CPU_KERNEL(tanh); GEMS_CPU_KERNEL(sigmoid);
GEMS_CPU_KERNEL(silu); GEMS_CPU_KERNEL(gelu); GEMS_CPU_KERNEL(clamp);
GEMS_CPU_KERNEL(add); GEMS_CPU_KERNEL(sub); GEMS_CPU_KERNEL(mul); GEMS_CPU_KERNEL(div);
GEMS_CPU_KERNEL(remainder); GEMS_CPU_KERNEL(maximum); GEMS_CPU_KERNEL(minimum);
GEMS_CPU_KERNEL(pow);
GEMS_CPU_KERNEL(eq); GEMS_CPU_KERNEL(ne); GEMS_CPU_KERNEL(lt); GEMS_CPU_KERNEL(le);
GEMS_CPU_KERNEL(gt); GEMS_CPU_KERNEL(ge);
GEMS_CPU_KERNEL(where);
GEMS_CPU_KERNEL(bitwise_and); GEMS_CPU_KERNEL(bitwise_or); GEMS_CPU_KERNEL(bitwise_not);
GEMS_CPU_KERNEL(threshold_backward); GEMS_CPU_KERNEL(gelu_backward);
GEMS_CPU_KERNEL(silu_backward); GEMS_CPU_KERNEL(sigmoid_backward); GEMS_CPU_KERNEL(tanh_backward);
GEMS_CPU_KERNEL(addcmul); GEMS_CPU_KERNEL(addcdiv); GEMS_CPU_KERNEL(lerp);
// reductions and row-wise ops
GEMS_CPU_KERNEL(reduce_sum); GEMS_CPU_KERNEL(reduce_mean);
GEMS_CPU_KERNEL(reduce_max); GEMS_CPU_KERNEL(reduce_min);
GEMS_CPU_KERNEL(softmax); GEMS_CPU_KERNEL(log_softmax);
GEMS_CPU_KERNEL(softmax_backward); GEMS_CPU_KERNEL(log_softmax_backward);
GEMS_CPU_KERNEL(layer_norm); GEMS_CPU_KERNEL(layer_norm_backward);
GEMS_CPU_KERNEL(rms_norm); GEMS_CPU_KERNEL(rms_norm_backward);
GEMS_CPU_KERNEL(nll_loss); GEMS_CPU_KERNEL(nll_loss_backward); GEMS_CPU_KERNEL(cross_entropy);
GEMS_CPU_KERNEL(cross_entropy_backward);
GEMS_CPU_KERNEL(cumsum); GEMS_CPU_KERNEL(histc); GEMS_CPU_KERNEL(tril); GEMS_CPU_KERNEL(topk);
// matrix multiply and fused attention
GEMS_CPU_KERNEL(gemm);
GEMS_CPU_KERNEL(attention); GEMS_CPU_KERNEL(attention_backward);
// convolutions (oneDNN's; built with GEMS_HAVE_DNNL)
GEMS_CPU_KERNEL(convolution); GEMS_CPU_KERNEL(convolution_backward_input);
GEMS_CPU_KERNEL(convolution_backward_weight);
// pooling
GEMS_CPU_KERNEL(pool); GEMS_CPU_KERNEL(pool_backward);
// batch_norm's per-channel reductions, its coefficients and its pass over the input
GEMS_CPU_KERNEL(batch_norm_stats); GEMS_CPU_KERNEL(batch_norm_backward_reduce);
GEMS_CPU_KERNEL(batch_norm_coefficients); GEMS_CPU_KERNEL(channel_affine);
GEMS_CPU_KERNEL(group_norm_coefficients);
GEMS_CPU_KERNEL(interpolate);
// indexing, ranges, random numbers
GEMS_CPU_KERNEL(index_select); GEMS_CPU_KERNEL(gather); GEMS_CPU_KERNEL(scatter); GEMS_CPU_KERNEL(dropout); GEMS_CPU_KERNEL(accumulate_rows); GEMS_CPU_KERNEL(arange); GEMS_CPU_KERNEL(isin);
GEMS_CPU_KERNEL(count_nonzero); GEMS_CPU_KERNEL(nonzero); GEMS_CPU_KERNEL(masked_select);
GEMS_CPU_KERNEL(uniform); GEMS_CPU_KERNEL(normal);
#undef GEMS_CPU_KERNEL

}  // namespace gems::cpu
