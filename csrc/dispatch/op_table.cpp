// The op table: the one place that lists every aten overload gems serves,
// the vendor kernels it needs, and its wrapper. docs/ops.md is generated
// from it (tools/gen_ops_md.py). Also here: which ops are switched on, on
// which dispatch keys (gems, and the vendor's native device in patch mode),
// the per-op call counters and the op log.
#include "op_registry.h"

#include <ATen/Operators.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "fallback.h"
#include "op_table.h"
#include "ops.h"

namespace gems {

namespace {
// A row registered on gems tensors only, never on the native device in patch mode.
OpEntry gems_only(OpEntry e) {
  e.patches_native = false;
  return e;
}
}  // namespace

const std::vector<OpEntry>& op_table() {
  using namespace gems::ops;
  static const std::vector<OpEntry> table = {
      // arithmetic
      GEMS_OP(add, Tensor, add, "add"), GEMS_OP(add_, Tensor, add_, "add"), GEMS_OP(add, out, add_out, "add"),
      GEMS_OP(sub, Tensor, sub, "sub"), GEMS_OP(sub_, Tensor, sub_, "sub"), GEMS_OP(sub, out, sub_out, "sub"),
      GEMS_OP(mul, Tensor, mul, "mul"), GEMS_OP(mul_, Tensor, mul_, "mul"), GEMS_OP(mul, out, mul_out, "mul"),
      GEMS_OP(div, Tensor, div, "div"), GEMS_OP(div_, Tensor, div_, "div"), GEMS_OP(div, out, div_out, "div"),
      GEMS_OP(div, Tensor_mode, div_mode, "div"), GEMS_OP(div_, Tensor_mode, div_mode_, "div"),
      GEMS_OP(div, out_mode, div_mode_out, "div"),
      GEMS_OP0(floor_divide, floor_divide, "div"), GEMS_OP(floor_divide_, Tensor, floor_divide_, "div"),
      GEMS_OP(floor_divide, out, floor_divide_out, "div"),
      GEMS_OP(remainder, Tensor, remainder, "remainder"), GEMS_OP(remainder_, Tensor, remainder_, "remainder"),
      GEMS_OP(remainder, Tensor_out, remainder_out, "remainder"),
      GEMS_OP0(maximum, maximum, "maximum"), GEMS_OP(maximum, out, maximum_out, "maximum"),
      GEMS_OP0(minimum, minimum, "minimum"), GEMS_OP(minimum, out, minimum_out, "minimum"),
      GEMS_OP(pow, Tensor_Tensor, pow_tensor, "pow"), GEMS_OP(pow, Tensor_Scalar, pow_scalar, "pow"),
      GEMS_OP(pow, Tensor_Tensor_out, pow_tensor_out, "pow"),
      // unary
#define GEMS_UNARY_ROWS(NAME, KERNEL) \
  GEMS_OP0(NAME, NAME, KERNEL), GEMS_OP0(NAME##_, NAME##_, KERNEL), GEMS_OP(NAME, out, NAME##_out, KERNEL)
      GEMS_UNARY_ROWS(exp, "exp"), GEMS_UNARY_ROWS(log, "log"), GEMS_UNARY_ROWS(sqrt, "sqrt"),
      GEMS_UNARY_ROWS(rsqrt, "rsqrt"), GEMS_UNARY_ROWS(sin, "sin"), GEMS_UNARY_ROWS(cos, "cos"),
      GEMS_UNARY_ROWS(tanh, "tanh"), GEMS_UNARY_ROWS(sigmoid, "sigmoid"), GEMS_UNARY_ROWS(silu, "silu"),
      GEMS_UNARY_ROWS(abs, "abs"), GEMS_UNARY_ROWS(neg, "neg"),
#undef GEMS_UNARY_ROWS
      GEMS_OP0(relu, relu, "relu"), GEMS_OP0(relu_, relu_, "relu"),
      GEMS_OP0(gelu, gelu, "gelu"), GEMS_OP0(gelu_, gelu_, "gelu"), GEMS_OP(gelu, out, gelu_out, "gelu"),
      GEMS_OP0(clamp, clamp, "clamp"), GEMS_OP0(clamp_, clamp_, "clamp"), GEMS_OP(clamp, out, clamp_out, "clamp"),
      GEMS_OP(clamp, Tensor, clamp_tensor, "maximum,minimum"), GEMS_OP(clamp_, Tensor, clamp_tensor_, "maximum,minimum"),
      GEMS_OP(clamp, Tensor_out, clamp_tensor_out, "maximum,minimum"),
      GEMS_OP0(clamp_min, clamp_min, "clamp"), GEMS_OP0(clamp_min_, clamp_min_, "clamp"),
      GEMS_OP(clamp_min, out, clamp_min_out, "clamp"),
      GEMS_OP0(clamp_max, clamp_max, "clamp"), GEMS_OP0(clamp_max_, clamp_max_, "clamp"),
      GEMS_OP(clamp_max, out, clamp_max_out, "clamp"),
      GEMS_OP(clamp_min, Tensor, clamp_min_tensor, "maximum"), GEMS_OP(clamp_min_, Tensor, clamp_min_tensor_, "maximum"),
      GEMS_OP(clamp_min, Tensor_out, clamp_min_tensor_out, "maximum"),
      GEMS_OP(clamp_max, Tensor, clamp_max_tensor, "minimum"), GEMS_OP(clamp_max_, Tensor, clamp_max_tensor_, "minimum"),
      GEMS_OP(clamp_max, Tensor_out, clamp_max_tensor_out, "minimum"),
      GEMS_OP0(reciprocal, reciprocal, "div"), GEMS_OP0(reciprocal_, reciprocal_, "div"),
      GEMS_OP(reciprocal, out, reciprocal_out, "div"),
      // comparisons and selection
#define GEMS_COMPARE_ROWS(NAME)                                                                 \
  GEMS_OP(NAME, Tensor, NAME##_tensor, #NAME), GEMS_OP(NAME, Scalar, NAME##_scalar, #NAME),   \
      GEMS_OP(NAME, Tensor_out, NAME##_tensor_out, #NAME)
      GEMS_COMPARE_ROWS(eq), GEMS_COMPARE_ROWS(ne), GEMS_COMPARE_ROWS(lt),
      GEMS_COMPARE_ROWS(le), GEMS_COMPARE_ROWS(gt), GEMS_COMPARE_ROWS(ge),
#undef GEMS_COMPARE_ROWS
      GEMS_OP(where, self, where, "where"), GEMS_OP(where, self_out, where_out, "where"),
      // bitwise ops on integers and bool masks
      GEMS_OP(bitwise_and, Tensor, bitwise_and, "bitwise_and"),
      GEMS_OP(bitwise_and, Tensor_out, bitwise_and_out, "bitwise_and"),
      GEMS_OP(bitwise_or, Tensor, bitwise_or, "bitwise_or"), GEMS_OP(bitwise_or, Tensor_out, bitwise_or_out, "bitwise_or"),
      GEMS_OP0(bitwise_not, bitwise_not, "bitwise_not"), GEMS_OP(bitwise_not, out, bitwise_not_out, "bitwise_not"),
      GEMS_OP0(logical_not, logical_not, "eq"), GEMS_OP(logical_not, out, logical_not_out, "eq"),
      GEMS_OP0(isneginf, isneginf, "eq"), GEMS_OP(isneginf, out, isneginf_out, "eq"),
      GEMS_OP(masked_fill_, Scalar, masked_fill_, "where"), GEMS_OP(masked_fill_, Tensor, masked_fill_tensor_, "where"),
#define GEMS_ALL_ANY_ROWS(NAME, KERNEL)                                                                       \
  GEMS_OP0(NAME, NAME, KERNEL), GEMS_OP(NAME, all_out, NAME##_all_out, KERNEL),                               \
      GEMS_OP(NAME, dim, NAME##_dim, KERNEL), GEMS_OP(NAME, out, NAME##_dim_out, KERNEL),                     \
      GEMS_OP(NAME, dims, NAME##_dims, KERNEL), GEMS_OP(NAME, dims_out, NAME##_dims_out, KERNEL)
      GEMS_ALL_ANY_ROWS(all, "reduce_min,ne"), GEMS_ALL_ANY_ROWS(any, "reduce_max,ne"),
#undef GEMS_ALL_ANY_ROWS
      // fills
      GEMS_OP(fill_, Scalar, fill_, "fill"), GEMS_OP(fill_, Tensor, fill_tensor_, "fill"),
      GEMS_OP0(zero_, zero_, "fill"),
      // optimizer arithmetic
      GEMS_OP0(addcmul, addcmul, "addcmul"), GEMS_OP0(addcmul_, addcmul_, "addcmul"),
      GEMS_OP(addcmul, out, addcmul_out, "addcmul"),
      GEMS_OP0(addcdiv, addcdiv, "addcdiv"), GEMS_OP0(addcdiv_, addcdiv_, "addcdiv"),
      GEMS_OP(addcdiv, out, addcdiv_out, "addcdiv"),
      GEMS_OP(lerp, Scalar, lerp_scalar, "lerp"), GEMS_OP(lerp_, Scalar, lerp_scalar_, "lerp"),
      GEMS_OP(lerp, Scalar_out, lerp_scalar_out, "lerp"),
      // activation backward
      GEMS_OP0(threshold_backward, threshold_backward, "threshold_backward"),
      GEMS_OP0(gelu_backward, gelu_backward, "gelu_backward"),
      GEMS_OP0(silu_backward, silu_backward, "silu_backward"),
      GEMS_OP0(sigmoid_backward, sigmoid_backward, "sigmoid_backward"),
      GEMS_OP0(tanh_backward, tanh_backward, "tanh_backward"),
      // reductions
      GEMS_OP0(sum, sum, "reduce_sum"), GEMS_OP(sum, dim_IntList, sum_dim, "reduce_sum"),
      GEMS_OP(sum, IntList_out, sum_out, "reduce_sum"),
      GEMS_OP0(nansum, nansum, "reduce_sum,ne,where"), GEMS_OP(nansum, out, nansum_out, "reduce_sum,ne,where"),
      GEMS_OP0(linalg_vector_norm, linalg_vector_norm, "abs,reduce_sum,reduce_max,reduce_min,mul,sqrt,pow,ne"),
      GEMS_OP(linalg_vector_norm, out, linalg_vector_norm_out, "abs,reduce_sum,reduce_max,reduce_min,mul,sqrt,pow,ne"),
      GEMS_OP0(mean, mean, "reduce_mean"), GEMS_OP(mean, dim, mean_dim, "reduce_mean"),
      GEMS_OP(mean, out, mean_out, "reduce_mean"),
      GEMS_OP0(max, max, "reduce_max"), GEMS_OP(max, dim, max_dim, "reduce_max"),
      GEMS_OP0(min, min, "reduce_min"), GEMS_OP(min, dim, min_dim, "reduce_min"),
      GEMS_OP0(amax, amax, "reduce_max"), GEMS_OP0(amin, amin, "reduce_min"),
      GEMS_OP0(argmax, argmax, "reduce_max"), GEMS_OP0(argmin, argmin, "reduce_min"),
      // scans and masks of matrices
      GEMS_OP0(cumsum, cumsum, "cumsum"), GEMS_OP(cumsum, out, cumsum_out, "cumsum"),
      GEMS_OP0(tril, tril, "tril"), GEMS_OP(tril, out, tril_out, "tril"),
      GEMS_OP0(triu, triu, "tril"), GEMS_OP(triu, out, triu_out, "tril"),
      // selection
      GEMS_OP0(topk, topk, "topk"), GEMS_OP(topk, values, topk_values, "topk"),
      GEMS_OP(sort, stable, sort_stable, "sort"), GEMS_OP(sort, values_stable, sort_values_stable, "sort"),
      GEMS_OP0(histc, histc, "histc,reduce_min,reduce_max"),
      GEMS_OP(histc, out, histc_out, "histc,reduce_min,reduce_max"),
      // softmax
      GEMS_OP0(_softmax, softmax, "softmax"), GEMS_OP0(_log_softmax, log_softmax, "log_softmax"),
      GEMS_OP0(_softmax_backward_data, softmax_backward, "softmax_backward"),
      GEMS_OP0(_log_softmax_backward_data, log_softmax_backward, "log_softmax_backward"),
      // normalisation and loss
      GEMS_OP0(native_layer_norm, native_layer_norm, "layer_norm"),
      GEMS_OP0(native_layer_norm_backward, native_layer_norm_backward, "layer_norm_backward"),
      GEMS_OP0(_fused_rms_norm, fused_rms_norm, "rms_norm"),
      GEMS_OP0(_fused_rms_norm_backward, fused_rms_norm_backward, "rms_norm_backward"),
      gems_only(GEMS_OP0(native_batch_norm, native_batch_norm, "batch_norm_stats,batch_norm_coefficients,channel_affine")),
      gems_only(GEMS_OP0(native_batch_norm_backward, native_batch_norm_backward, "batch_norm_backward_reduce,batch_norm_coefficients,channel_affine,add,rsqrt")),
      gems_only(GEMS_OP0(native_group_norm, native_group_norm, "batch_norm_stats,group_norm_coefficients,channel_affine")),
      gems_only(GEMS_OP0(native_group_norm_backward, native_group_norm_backward, "batch_norm_backward_reduce,group_norm_coefficients,channel_affine")),
      gems_only(GEMS_OP0(_weight_norm_interface, weight_norm_interface, "abs,reduce_sum,mul,sqrt,pow,div")),
      gems_only(GEMS_OP0(_weight_norm_interface_backward, weight_norm_interface_backward, "reduce_sum,mul,sub,div")),
      GEMS_OP0(native_dropout, native_dropout, "dropout"),
      GEMS_OP0(native_dropout_backward, native_dropout_backward, "dropout"),
      GEMS_OP0(nll_loss_forward, nll_loss_forward, "nll_loss"),
      GEMS_OP0(nll_loss_backward, nll_loss_backward, "nll_loss_backward"),
      gems_only(GEMS_OP0(softplus, softplus, "mul,exp,add,sub,log,div,eq,gt,where")),
      gems_only(GEMS_OP(softplus, out, softplus_out, "mul,exp,add,sub,log,div,eq,gt,where")),
      gems_only(GEMS_OP0(softplus_backward, softplus_backward, "mul,gt,sigmoid,where")),
      gems_only(GEMS_OP(softplus_backward, grad_input, softplus_backward_out, "mul,gt,sigmoid,where")),
      GEMS_OP0(mse_loss, mse_loss, "sub,mul,reduce_sum,reduce_mean"),
      GEMS_OP(mse_loss, out, mse_loss_out, "sub,mul,reduce_sum,reduce_mean"),
      GEMS_OP0(mse_loss_backward, mse_loss_backward, "sub,mul"),
      GEMS_OP(mse_loss_backward, grad_input, mse_loss_backward_out, "sub,mul"),
      gems::OpEntry{"cross_entropy_loss", "cross_entropy",
                    [](torch::Library& lib) { lib.impl("cross_entropy_loss", TORCH_FN(ops::cross_entropy_loss)); },
                    /*autograd_key=*/true},
      // matrix products
      GEMS_OP0(mm, mm, "gemm"), GEMS_OP(mm, out, mm_out, "gemm"),
      GEMS_OP0(bmm, bmm, "gemm"), GEMS_OP(bmm, out, bmm_out, "gemm"),
      GEMS_OP0(addmm, addmm, "gemm"), GEMS_OP0(addmm_, addmm_, "gemm"), GEMS_OP(addmm, out, addmm_out, "gemm"),
      GEMS_OP0(baddbmm, baddbmm, "gemm"), GEMS_OP0(baddbmm_, baddbmm_, "gemm"),
      GEMS_OP(baddbmm, out, baddbmm_out, "gemm"),
      GEMS_OP0(mv, mv, "gemm"), GEMS_OP(mv, out, mv_out, "gemm"),
      GEMS_OP0(addmv, addmv, "gemm"), GEMS_OP0(addmv_, addmv_, "gemm"), GEMS_OP(addmv, out, addmv_out, "gemm"),
      GEMS_OP0(addr, addr, "mul,add"), GEMS_OP0(addr_, addr_, "mul,add"), GEMS_OP(addr, out, addr_out, "mul,add"),
      // vision ops, built from other kernels (ops_conv.cpp, ops_pool_upsample.cpp, ops_nn.cpp): on gems
      // tensors only (gems_only): in patch mode torch's cuDNN/oneDNN/native kernels keep the native device's
      // convolutions, norms, pooling and upsampling, which these compositions do not beat.
      // convolutions (every vendor with a gemm)
      gems_only(GEMS_OP0(convolution, convolution, "gemm,add,fill")),
      gems_only(GEMS_OP0(convolution_backward, convolution_backward, "gemm,add,fill,reduce_sum")),
      gems_only(GEMS_OP0(_adaptive_avg_pool2d, adaptive_avg_pool2d, "gemm")),
      gems_only(GEMS_OP0(_adaptive_avg_pool2d_backward, adaptive_avg_pool2d_backward, "gemm")),
      gems_only(GEMS_OP0(_adaptive_avg_pool3d, adaptive_avg_pool3d, "gemm")),
      gems_only(GEMS_OP0(_adaptive_avg_pool3d_backward, adaptive_avg_pool3d_backward, "gemm")),
// an op and its backward, each served from these kernels
#define GEMS_PAIR_ROWS(NAME, FORWARD, BACKWARD) \
  gems_only(GEMS_OP0(NAME, NAME, FORWARD)), gems_only(GEMS_OP0(NAME##_backward, NAME##_backward, BACKWARD))
// max, average and adaptive max pooling: the vendor's pooling kernels
#define GEMS_POOL_ROWS(NAME) GEMS_PAIR_ROWS(NAME, "pool", "pool_backward")
      GEMS_POOL_ROWS(max_pool2d_with_indices), GEMS_POOL_ROWS(max_pool3d_with_indices),
      GEMS_POOL_ROWS(avg_pool2d), GEMS_POOL_ROWS(avg_pool3d),
      GEMS_POOL_ROWS(adaptive_max_pool2d), GEMS_POOL_ROWS(adaptive_max_pool3d),
// fractional max pooling: host-free window starts from the random samples
// (pointwise kernels in the input's dtype), the windows gathered and reduced;
// the gradients added at their indices
#define GEMS_FRACTIONAL_ROWS(NAME)                                                                                  \
  GEMS_PAIR_ROWS(NAME, "arange,add,mul,sub,copy,cat,fill,gather,reduce_max,ne,where",                               \
                 "accumulate_rows,arange,reduce_min,reduce_max,fill")
      GEMS_FRACTIONAL_ROWS(fractional_max_pool2d), GEMS_FRACTIONAL_ROWS(fractional_max_pool3d),
#undef GEMS_FRACTIONAL_ROWS
// padding and nearest upsampling along host index maps: rows picked with
// index_select, gradient slices added back with accumulate_rows; where the
// vendor's interpolate kernel serves the dtype (floats), one pass of it each
// way instead (an optional kernel: checked at the call, not needed here)
#define GEMS_INDEX_MAP_ROWS(NAME) GEMS_PAIR_ROWS(NAME, "index_select", "accumulate_rows,copy,fill")
      GEMS_INDEX_MAP_ROWS(reflection_pad1d), GEMS_INDEX_MAP_ROWS(reflection_pad2d),
      GEMS_INDEX_MAP_ROWS(reflection_pad3d), GEMS_INDEX_MAP_ROWS(replication_pad1d),
      GEMS_INDEX_MAP_ROWS(replication_pad2d), GEMS_INDEX_MAP_ROWS(replication_pad3d),
      GEMS_INDEX_MAP_ROWS(upsample_nearest1d), GEMS_INDEX_MAP_ROWS(upsample_nearest2d),
      GEMS_INDEX_MAP_ROWS(upsample_nearest3d),
#undef GEMS_POOL_ROWS
#undef GEMS_INDEX_MAP_ROWS
      gems_only(GEMS_OP0(pixel_shuffle, pixel_shuffle, "copy")),
      gems_only(GEMS_OP0(pixel_unshuffle, pixel_unshuffle, "copy")),
      gems_only(GEMS_OP0(im2col, unfold_blocks, "copy,fill")),
      gems_only(GEMS_OP0(col2im, fold_blocks, "add,copy,fill")),
// linear and cubic upsampling: one pass of the interpolate kernel over host
// tap tables; the backward one pass over the transposed tables, the gradient
// padded with a zero slice (fill, copy)
#define GEMS_UPSAMPLE_LINEAR_ROWS(NAME) GEMS_PAIR_ROWS(NAME, "interpolate", "interpolate,copy,fill")
      GEMS_UPSAMPLE_LINEAR_ROWS(upsample_linear1d), GEMS_UPSAMPLE_LINEAR_ROWS(upsample_bilinear2d),
      GEMS_UPSAMPLE_LINEAR_ROWS(upsample_trilinear3d), GEMS_UPSAMPLE_LINEAR_ROWS(upsample_bicubic2d),
#define GEMS_UPSAMPLE_ANTIALIAS_ROWS(NAME)                                                                         \
  gems_only(GEMS_OP0(_##NAME##_aa, NAME##_aa, "interpolate")),                                                    \
      gems_only(GEMS_OP0(_##NAME##_aa_backward, NAME##_aa_backward, "interpolate,copy,fill"))
      GEMS_UPSAMPLE_ANTIALIAS_ROWS(upsample_bilinear2d), GEMS_UPSAMPLE_ANTIALIAS_ROWS(upsample_bicubic2d),
#undef GEMS_UPSAMPLE_ANTIALIAS_ROWS
#undef GEMS_UPSAMPLE_LINEAR_ROWS
#undef GEMS_PAIR_ROWS
#define GEMS_UPSAMPLE_EXACT_ROWS(D)                                                                                 \
  gems_only(GEMS_OP0(_upsample_nearest_exact##D, upsample_nearest_exact##D, "index_select")),                     \
      gems_only(GEMS_OP0(_upsample_nearest_exact##D##_backward, upsample_nearest_exact##D##_backward,             \
                         "accumulate_rows,copy,fill"))
      GEMS_UPSAMPLE_EXACT_ROWS(1d), GEMS_UPSAMPLE_EXACT_ROWS(2d), GEMS_UPSAMPLE_EXACT_ROWS(3d),
#undef GEMS_UPSAMPLE_EXACT_ROWS
      // fused attention: scaled_dot_product_attention picks it through _fused_sdp_choice
      GEMS_OP0(_fused_sdp_choice, fused_sdp_choice, "attention"),
      GEMS_OP0(_scaled_dot_product_fused_attention_overrideable, fused_attention_overrideable, "attention"),
      GEMS_OP0(_scaled_dot_product_fused_attention_overrideable_backward, fused_attention_overrideable_backward,
               "attention_backward"),
      // tensor building
      GEMS_OP0(cat, cat, "cat"), GEMS_OP(cat, out, cat_out, "cat"),
      GEMS_OP0(index_select, index_select, "index_select"),
      GEMS_OP(index_select, out, index_select_out, "index_select"),
      GEMS_OP0(gather, gather, "gather"), GEMS_OP(gather, out, gather_out, "gather"),
      GEMS_OP(index, Tensor, index, "gather"), GEMS_OP(index, Tensor_out, index_out, "gather"),
      GEMS_OP0(nonzero, nonzero, "count_nonzero,nonzero"), GEMS_OP(nonzero, out, nonzero_out, "count_nonzero,nonzero"),
      GEMS_OP0(masked_select, masked_select, "count_nonzero,nonzero,gather"),
      GEMS_OP(masked_select, out, masked_select_out, "count_nonzero,nonzero,gather"),
      GEMS_OP0(_index_put_impl_, index_put_impl_, "scatter,accumulate_rows"),
      gems_only(GEMS_OP0(masked_scatter_, masked_scatter_, "count_nonzero,nonzero,scatter")),
      GEMS_OP0(embedding_dense_backward, embedding_dense_backward, "accumulate_rows"),
      GEMS_OP(scatter, src, scatter_src, "scatter"), GEMS_OP(scatter_, src, scatter_src_, "scatter"),
      GEMS_OP(scatter, src_out, scatter_src_out, "scatter"), GEMS_OP(scatter, value, scatter_value, "scatter"),
      GEMS_OP(scatter_, value, scatter_value_, "scatter"), GEMS_OP(scatter, value_out, scatter_value_out, "scatter"),
      GEMS_OP0(scatter_add, scatter_add, "accumulate_rows,arange,reduce_min,reduce_max"),
      GEMS_OP0(scatter_add_, scatter_add_, "accumulate_rows,arange,reduce_min,reduce_max"),
      GEMS_OP(scatter_add, out, scatter_add_out, "accumulate_rows,arange,reduce_min,reduce_max"),
      GEMS_OP(isin, Tensor_Tensor, isin, "isin"), GEMS_OP(isin, Tensor_Tensor_out, isin_out, "isin"),
      GEMS_OP(arange, start_out, arange_out, "arange"),
      GEMS_OP0(uniform_, uniform_, "uniform"), GEMS_OP0(normal_, normal_, "normal"),
      GEMS_OP0(multinomial, multinomial, "uniform,log,div,topk,cumsum,reduce_max,reduce_min,reduce_sum"),
      GEMS_OP(multinomial, out, multinomial_out, "uniform,log,div,topk,cumsum,reduce_max,reduce_min,reduce_sum"),
  };
  return table;
}

// ---- which ops are on, where ----
namespace {

std::mutex g_state_mutex;
// The registrations on one backend key, and on its autograd key for the
// entries that ask for it.
struct Registrations {
  std::unique_ptr<torch::Library> backend, autograd;
};
Registrations g_gems_lib, g_native_lib;
std::vector<std::string> g_gems_ops, g_native_ops;

bool vendor_has(const char* kernels) {
  // Every kernel an entry names must be in the vendor's table.
  std::string list = kernels;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = list.find(',', start);
    const std::string name = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    bool found = false;
    for (int32_t i = 0; i < api().num_kernels && !found; ++i) found = name == api().kernels[i].name;
    if (!found) return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
}

Registrations build(c10::DispatchKey key, const std::vector<std::string>& names, std::vector<std::string>& registered) {
  registered.clear();
  Registrations libs;
  if (names.empty()) return libs;
  libs.backend = std::make_unique<torch::Library>(torch::Library::IMPL, "aten", key, __FILE__, __LINE__);
  const std::set<std::string> wanted(names.begin(), names.end());
  for (const OpEntry& e : op_table()) {
    if (!wanted.count(e.overload) || !vendor_has(e.kernels)) continue;
    if (key != c10::DispatchKey::PrivateUse1 && !e.patches_native) continue;
    if (key != c10::DispatchKey::PrivateUse1) {
      std::string name = e.overload, overload;
      const auto dot = name.find('.');
      if (dot != std::string::npos) { overload = name.substr(dot + 1); name = name.substr(0, dot); }
      remember_native_kernel(c10::Dispatcher::singleton().findSchemaOrThrow(("aten::" + name).c_str(), overload.c_str()),
                             key);
    }
    e.register_on(*libs.backend);
    if (e.autograd_key) {
      if (!libs.autograd)
        libs.autograd = std::make_unique<torch::Library>(
            torch::Library::IMPL, "aten", c10::getAutogradKeyFromBackend(c10::toBackendComponent(key)), __FILE__,
            __LINE__);
      e.register_on(*libs.autograd);
    }
    registered.push_back(e.overload);
  }
  return libs;
}

}  // namespace

c10::DispatchKey native_key() {
  const std::string& v = vendor().name;
  if (v == "nvidia") return c10::DispatchKey::CUDA;
  if (v == "amd") return c10::DispatchKey::CUDA;  // ROCm torch reports HIP memory as "cuda"
  if (v == "intel") return c10::DispatchKey::XPU;
  return c10::DispatchKey::CPU;
}

void set_enabled_ops(const std::vector<std::string>& gems_ops, const std::vector<std::string>& native_ops) {
  std::lock_guard<std::mutex> g(g_state_mutex);
  // Old registrations go first, so that no kernel is ever registered twice.
  g_gems_lib = {};
  g_native_lib = {};
  g_gems_lib = build(c10::DispatchKey::PrivateUse1, gems_ops, g_gems_ops);
  set_fused_attention_enabled(std::find(g_gems_ops.begin(), g_gems_ops.end(),
                                        "_scaled_dot_product_fused_attention_overrideable") != g_gems_ops.end());
  g_native_lib = build(native_key(), native_ops, g_native_ops);
}

std::vector<std::string> enabled_ops(bool native) {
  std::lock_guard<std::mutex> g(g_state_mutex);
  return native ? g_native_ops : g_gems_ops;
}

std::vector<std::string> all_overloads() {
  std::vector<std::string> names;
  for (const OpEntry& e : op_table()) names.push_back(e.overload);
  return names;
}

// ---- counters ----
namespace {
std::mutex g_counter_mutex;
std::map<std::string, std::atomic<uint64_t>*>& counters() {
  static std::map<std::string, std::atomic<uint64_t>*> m;
  return m;
}
}  // namespace

std::atomic<uint64_t>* native_counter(const char* name, const char* overload) {
  std::string key = name;
  if (key.rfind("aten::", 0) == 0) key = key.substr(6);
  if (overload && *overload) key += std::string(".") + overload;
  std::lock_guard<std::mutex> g(g_counter_mutex);
  auto& slot = counters()[key];
  if (!slot) slot = new std::atomic<uint64_t>(0);  // lives as long as the process
  return slot;
}

std::map<std::string, uint64_t> native_counts() {
  std::lock_guard<std::mutex> g(g_counter_mutex);
  std::map<std::string, uint64_t> out;
  for (auto& [k, v] : counters())
    if (v->load()) out[k] = v->load();
  return out;
}

void reset_native_counts() {
  std::lock_guard<std::mutex> g(g_counter_mutex);
  for (auto& [k, v] : counters()) v->store(0);
}

// ---- op log ----
namespace {
std::atomic<bool> g_recording{false};
std::mutex g_log_mutex;
FILE* g_log = nullptr;
}  // namespace

bool recording() { return g_recording.load(std::memory_order_relaxed); }

void set_record(bool on, const std::string& path) {
  std::lock_guard<std::mutex> g(g_log_mutex);
  if (g_log && g_log != stderr) std::fclose(g_log);
  g_log = nullptr;
  if (on) {
    g_log = path.empty() ? stderr : std::fopen(path.c_str(), "a");
    TORCH_CHECK(g_log, "flag_gems: cannot open the op log file ", path);
  }
  g_recording = on;
}

void record_call(const char* name) {
  std::string op = name;
  if (op.rfind("aten::", 0) == 0) op = op.substr(6);
  std::string upper = op;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::lock_guard<std::mutex> g(g_log_mutex);
  if (!g_log) return;
  std::fprintf(g_log, "[DEBUG] flag_gems.ops.%s: GEMS %s\n", op.c_str(), upper.c_str());
  std::fflush(g_log);
}

}  // namespace gems
