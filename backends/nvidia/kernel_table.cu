// The nvidia vendor's kernel table and entry point (and the amd vendor's:
// backends/amd builds these sources as HIP). Kernel names and operands
// follow the reference table in backends/cpu/kernel_table.cpp.
#include <cstring>

#include "cuda_common.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

const gems_kernel_entry kKernels[] = {
    {"copy", kAll, k_copy}, {"fill", kAll, k_fill}, {"cat", kAll, k_cat},
    {"neg", kNumeric, k_neg}, {"abs", kNumeric, k_abs}, {"relu", kNumeric, k_relu},
    {"exp", kFloating, k_exp}, {"log", kFloating, k_log}, {"sqrt", kFloating, k_sqrt},
    {"rsqrt", kFloating, k_rsqrt}, {"sin", kFloating, k_sin}, {"cos", kFloating, k_cos},
    {"tanh", kFloating, k_tanh}, {"sigmoid", kFloating, k_sigmoid}, {"silu", kFloating, k_silu},
    {"gelu", kFloating, k_gelu}, {"clamp", kNumeric, k_clamp},
    {"add", kAll, k_add}, {"sub", kNumeric, k_sub}, {"mul", kAll, k_mul},
    {"div", kNumeric, k_div}, {"pow", kNumeric, k_pow}, {"remainder", kNumeric, k_remainder},
    {"maximum", kAll, k_maximum}, {"minimum", kAll, k_minimum},
    {"eq", kAll, k_eq}, {"ne", kAll, k_ne}, {"lt", kAll, k_lt},
    {"le", kAll, k_le}, {"gt", kAll, k_gt}, {"ge", kAll, k_ge},
    {"bitwise_and", kBitwise, k_bitwise_and}, {"bitwise_or", kBitwise, k_bitwise_or},
    {"bitwise_not", kBitwise, k_bitwise_not},
    {"where", kAll, k_where},
    {"addcmul", kNumeric, k_addcmul}, {"addcdiv", kFloating, k_addcdiv}, {"lerp", kFloating, k_lerp},
    {"threshold_backward", kNumeric, k_threshold_backward},
    {"gelu_backward", kFloating, k_gelu_backward},
    {"silu_backward", kFloating, k_silu_backward},
    {"sigmoid_backward", kFloating, k_sigmoid_backward},
    {"tanh_backward", kFloating, k_tanh_backward},
    {"reduce_sum", kNumeric, k_reduce_sum}, {"reduce_mean", kFloating, k_reduce_mean},
    {"reduce_max", kAll, k_reduce_max}, {"reduce_min", kAll, k_reduce_min},
    {"softmax", kFloating, k_softmax}, {"log_softmax", kFloating, k_log_softmax},
    {"softmax_backward", kFloating, k_softmax_backward},
    {"log_softmax_backward", kFloating, k_log_softmax_backward},
    {"layer_norm", kFloating, k_layer_norm}, {"layer_norm_backward", kFloating, k_layer_norm_backward},
    {"rms_norm", kFloating, k_rms_norm}, {"rms_norm_backward", kFloating, k_rms_norm_backward},
    {"nll_loss", kFloating, k_nll_loss}, {"nll_loss_backward", kFloating, k_nll_loss_backward},
    {"cross_entropy", kFloating, k_cross_entropy}, {"cross_entropy_backward", kFloating, k_cross_entropy_backward},
    {"cumsum", kNumeric, k_cumsum}, {"topk", kNumeric, k_topk}, {"sort", kNumeric, k_sort}, {"histc", kNumeric, k_histc}, {"tril", kAll, k_tril},
#ifdef GEMS_HAVE_CUBLASLT
    {"gemm", kFloating, k_gemm},
#else
    {"gemm", kFloating, gemm_tiled},
#endif
    {"pool", kNumeric, k_pool}, {"pool_backward", kFloating, k_pool_backward},
    {"interpolate", kFloating | GEMS_DTYPE_BIT(GEMS_UINT8), k_interpolate},
    {"batch_norm_stats", kFloating, k_batch_norm_stats},
    {"batch_norm_backward_reduce", kFloating, k_batch_norm_backward_reduce},
    {"batch_norm_coefficients", GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), k_batch_norm_coefficients},
    {"group_norm_coefficients", GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), k_group_norm_coefficients},
    {"channel_affine", kFloating, k_channel_affine},
#ifdef GEMS_HAVE_CUDNN
    // cuDNN's fused attention: 16-bit only (float32 attention takes the math path)
    {"attention", kHalfTypes, k_attention}, {"attention_backward", kHalfTypes, k_attention_backward},
    // cuDNN's convolutions (without cuDNN the core's im2col and GEMM serve them)
    {"convolution", kFloating, k_convolution}, {"convolution_backward_input", kFloating, k_convolution_backward_input},
    {"convolution_backward_weight", kFloating, k_convolution_backward_weight},
#endif
    {"index_select", kAll, k_index_select}, {"gather", kAll, k_gather}, {"scatter", kAll, k_scatter}, {"accumulate_rows", kNumeric, k_accumulate_rows}, {"isin", kNumeric, k_isin},
    {"count_nonzero", kAll, k_count_nonzero}, {"nonzero", kAll, k_nonzero}, {"masked_select", kAll, k_masked_select},
    {"arange", kNumeric, k_arange},
    {"uniform", kFloating, k_uniform}, {"dropout", kFloating, k_dropout}, {"normal", kFloating, k_normal},
};

}  // namespace
}  // namespace gems::nvidia

extern "C" GEMS_VENDOR_EXPORT int gems_vendor_init(uint32_t requested_abi, const gems_host_api* host,
                                                    gems_vendor_api* out) {
  using namespace gems::nvidia;
  if (!out) return GEMS_INVALID_ARGUMENT;
  std::memset(out, 0, sizeof(*out));
  out->abi_version = GEMS_VENDOR_ABI_VERSION;
  out->struct_size = sizeof(gems_vendor_api);
  if (requested_abi != GEMS_VENDOR_ABI_VERSION) return GEMS_UNSUPPORTED;
#if defined(GEMS_HIP)  // the same sources built as the amd vendor (backends/amd)
  out->name = "amd";
  out->memory_kind = GEMS_MEMORY_HIP;
#else
  out->name = "nvidia";
  out->memory_kind = GEMS_MEMORY_CUDA;
#endif
  fill_runtime(out);
  out->kernels = kKernels;
  out->num_kernels = static_cast<int32_t>(sizeof(kKernels) / sizeof(kKernels[0]));
  return GEMS_OK;
}
