// Every kernel of the nvidia vendor's table; the operands of each kernel name
// are documented in backends/cpu/kernel_table.cpp, the reference for all vendors.
#pragma once
#include <cuda_runtime.h>

#include "../abi/gems_vendor_abi.h"

namespace gems::nvidia {

#define GEMS_CUDA_KERNEL(name) int k_##name(const gems_kernel_call* c)
GEMS_CUDA_KERNEL(copy); GEMS_CUDA_KERNEL(fill); GEMS_CUDA_KERNEL(cat);
GEMS_CUDA_KERNEL(neg); GEMS_CUDA_KERNEL(abs); GEMS_CUDA_KERNEL(relu);
GEMS_CUDA_KERNEL(exp); GEMS_CUDA_KERNEL(log); GEMS_CUDA_KERNEL(sqrt); GEMS_CUDA_KERNEL(rsqrt);
GEMS_CUDA_KERNEL(sin); GEMS_CUDA_KERNEL(cos); GEMS_CUDA_KERNEL(tanh); GEMS_CUDA_KERNEL(sigmoid);
GEMS_CUDA_KERNEL(silu); GEMS_CUDA_KERNEL(gelu); GEMS_CUDA_KERNEL(clamp);
GEMS_CUDA_KERNEL(add); GEMS_CUDA_KERNEL(sub); GEMS_CUDA_KERNEL(mul); GEMS_CUDA_KERNEL(div);
GEMS_CUDA_KERNEL(pow); GEMS_CUDA_KERNEL(remainder); GEMS_CUDA_KERNEL(maximum); GEMS_CUDA_KERNEL(minimum);
GEMS_CUDA_KERNEL(eq); GEMS_CUDA_KERNEL(ne); GEMS_CUDA_KERNEL(lt); GEMS_CUDA_KERNEL(le);
GEMS_CUDA_KERNEL(gt); GEMS_CUDA_KERNEL(ge);
GEMS_CUDA_KERNEL(where);
GEMS_CUDA_KERNEL(threshold_backward); GEMS_CUDA_KERNEL(gelu_backward);
GEMS_CUDA_KERNEL(silu_backward); GEMS_CUDA_KERNEL(sigmoid_backward); GEMS_CUDA_KERNEL(tanh_backward);
GEMS_CUDA_KERNEL(addcmul); GEMS_CUDA_KERNEL(addcdiv); GEMS_CUDA_KERNEL(lerp);
GEMS_CUDA_KERNEL(reduce_sum); GEMS_CUDA_KERNEL(reduce_mean);
GEMS_CUDA_KERNEL(reduce_max); GEMS_CUDA_KERNEL(reduce_min);
GEMS_CUDA_KERNEL(softmax); GEMS_CUDA_KERNEL(log_softmax);
GEMS_CUDA_KERNEL(softmax_backward); GEMS_CUDA_KERNEL(log_softmax_backward);
GEMS_CUDA_KERNEL(layer_norm); GEMS_CUDA_KERNEL(layer_norm_backward);
GEMS_CUDA_KERNEL(rms_norm); GEMS_CUDA_KERNEL(rms_norm_backward);
GEMS_CUDA_KERNEL(nll_loss); GEMS_CUDA_KERNEL(nll_loss_backward); GEMS_CUDA_KERNEL(cross_entropy);
GEMS_CUDA_KERNEL(cross_entropy_backward);
GEMS_CUDA_KERNEL(cumsum); GEMS_CUDA_KERNEL(topk); GEMS_CUDA_KERNEL(sort); GEMS_CUDA_KERNEL(histc); GEMS_CUDA_KERNEL(tril);
GEMS_CUDA_KERNEL(bitwise_and); GEMS_CUDA_KERNEL(bitwise_or); GEMS_CUDA_KERNEL(bitwise_not);
GEMS_CUDA_KERNEL(gemm);
// The portable tiled GEMM (kernels_gemm_tiled.cu): the amd vendor's gemm, and
// nvidia's without cuBLASLt or with GEMS_GEMM=tiled.
int gemm_tiled(const gems_kernel_call* c);
GEMS_CUDA_KERNEL(attention); GEMS_CUDA_KERNEL(attention_backward);
GEMS_CUDA_KERNEL(convolution); GEMS_CUDA_KERNEL(convolution_backward_input); GEMS_CUDA_KERNEL(convolution_backward_weight);
GEMS_CUDA_KERNEL(pool); GEMS_CUDA_KERNEL(pool_backward);
GEMS_CUDA_KERNEL(batch_norm_stats); GEMS_CUDA_KERNEL(batch_norm_backward_reduce);
GEMS_CUDA_KERNEL(batch_norm_coefficients); GEMS_CUDA_KERNEL(channel_affine);
GEMS_CUDA_KERNEL(group_norm_coefficients);
GEMS_CUDA_KERNEL(interpolate);
GEMS_CUDA_KERNEL(index_select); GEMS_CUDA_KERNEL(gather); GEMS_CUDA_KERNEL(scatter); GEMS_CUDA_KERNEL(dropout); GEMS_CUDA_KERNEL(accumulate_rows); GEMS_CUDA_KERNEL(arange); GEMS_CUDA_KERNEL(isin);
GEMS_CUDA_KERNEL(count_nonzero); GEMS_CUDA_KERNEL(nonzero); GEMS_CUDA_KERNEL(masked_select);
GEMS_CUDA_KERNEL(uniform); GEMS_CUDA_KERNEL(normal);
#undef GEMS_CUDA_KERNEL

// Rows topk's kernel sorts on chip: a sort of rows this long is a topk of all.
constexpr int kTopkMaxK = 2048;

// Attention for up to a few query rows (decode steps), any key count, without
// cuDNN's per-shape graphs (kernels_attention_decode.cu).
bool attention_decode_serves(const gems_kernel_call* c);
int attention_decode(const gems_kernel_call* c);

// Products of 1 to 8 rows with an nn.Linear weight (a decode step), 16-bit,
// on gemm's operands (out [1, M, N], a [1, M, K], b [1, K, N]); gemm asks
// before it goes to cuBLASLt (kernels_gemm_few_rows.cu).
bool gemm_few_rows_serves(const gems_tensor& out, const gems_tensor& a, const gems_tensor& b);
void gemm_few_rows(const gems_tensor& out, const gems_tensor& a, const gems_tensor& b, double alpha, bool accumulate,
                   cudaStream_t stream);

}  // namespace gems::nvidia
