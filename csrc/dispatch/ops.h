// Every gems op wrapper; op_table.cpp registers them. Signatures follow the
// aten schemas exactly (see ATen/ops/*_ops.h).
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/core/IListRef.h>

#include <array>
#include <optional>
#include <tuple>

namespace gems::ops {
using at::Tensor;
using c10::Scalar;
using OptScalar = std::optional<c10::Scalar>;
using OptTensor = std::optional<at::Tensor>;
using OptDtype = std::optional<at::ScalarType>;

// pointwise (ops_pointwise.cpp)
Tensor add(const Tensor&, const Tensor&, const Scalar&);
Tensor& add_(Tensor&, const Tensor&, const Scalar&);
Tensor& add_out(const Tensor&, const Tensor&, const Scalar&, Tensor&);
Tensor sub(const Tensor&, const Tensor&, const Scalar&);
Tensor& sub_(Tensor&, const Tensor&, const Scalar&);
Tensor& sub_out(const Tensor&, const Tensor&, const Scalar&, Tensor&);
Tensor mul(const Tensor&, const Tensor&);
Tensor& mul_(Tensor&, const Tensor&);
Tensor& mul_out(const Tensor&, const Tensor&, Tensor&);
Tensor div(const Tensor&, const Tensor&);
Tensor& div_(Tensor&, const Tensor&);
Tensor& div_out(const Tensor&, const Tensor&, Tensor&);
Tensor div_mode(const Tensor&, const Tensor&, std::optional<c10::string_view>);
Tensor& div_mode_(Tensor&, const Tensor&, std::optional<c10::string_view>);
Tensor& div_mode_out(const Tensor&, const Tensor&, std::optional<c10::string_view>, Tensor&);
Tensor remainder(const Tensor&, const Tensor&);
Tensor& remainder_(Tensor&, const Tensor&);
Tensor& remainder_out(const Tensor&, const Tensor&, Tensor&);
Tensor maximum(const Tensor&, const Tensor&);
Tensor& maximum_out(const Tensor&, const Tensor&, Tensor&);
Tensor minimum(const Tensor&, const Tensor&);
Tensor& minimum_out(const Tensor&, const Tensor&, Tensor&);
Tensor floor_divide(const Tensor&, const Tensor&);
Tensor& floor_divide_(Tensor&, const Tensor&);
Tensor& floor_divide_out(const Tensor&, const Tensor&, Tensor&);
Tensor pow_tensor(const Tensor&, const Tensor&);
Tensor pow_scalar(const Tensor&, const Scalar&);
Tensor& pow_tensor_out(const Tensor&, const Tensor&, Tensor&);
#define GEMS_DECLARE_UNARY(NAME) \
  Tensor NAME(const Tensor&);    \
  Tensor& NAME##_(Tensor&);      \
  Tensor& NAME##_out(const Tensor&, Tensor&);
GEMS_DECLARE_UNARY(exp)
GEMS_DECLARE_UNARY(log)
GEMS_DECLARE_UNARY(sqrt)
GEMS_DECLARE_UNARY(rsqrt)
GEMS_DECLARE_UNARY(sin)
GEMS_DECLARE_UNARY(cos)
GEMS_DECLARE_UNARY(tanh)
GEMS_DECLARE_UNARY(sigmoid)
GEMS_DECLARE_UNARY(silu)
GEMS_DECLARE_UNARY(abs)
GEMS_DECLARE_UNARY(neg)
#undef GEMS_DECLARE_UNARY
Tensor relu(const Tensor&);
Tensor& relu_(Tensor&);
Tensor gelu(const Tensor&, c10::string_view);
Tensor& gelu_(Tensor&, c10::string_view);
Tensor& gelu_out(const Tensor&, c10::string_view, Tensor&);
Tensor clamp(const Tensor&, const OptScalar&, const OptScalar&);
Tensor& clamp_(Tensor&, const OptScalar&, const OptScalar&);
Tensor& clamp_out(const Tensor&, const OptScalar&, const OptScalar&, Tensor&);
Tensor clamp_tensor(const Tensor&, const std::optional<Tensor>&, const std::optional<Tensor>&);
Tensor& clamp_tensor_(Tensor&, const std::optional<Tensor>&, const std::optional<Tensor>&);
Tensor& clamp_tensor_out(const Tensor&, const std::optional<Tensor>&, const std::optional<Tensor>&, Tensor&);
Tensor clamp_min(const Tensor&, const Scalar&);
Tensor& clamp_min_(Tensor&, const Scalar&);
Tensor& clamp_min_out(const Tensor&, const Scalar&, Tensor&);
Tensor clamp_max(const Tensor&, const Scalar&);
Tensor& clamp_max_(Tensor&, const Scalar&);
Tensor& clamp_max_out(const Tensor&, const Scalar&, Tensor&);
Tensor clamp_min_tensor(const Tensor&, const Tensor&);
Tensor& clamp_min_tensor_(Tensor&, const Tensor&);
Tensor& clamp_min_tensor_out(const Tensor&, const Tensor&, Tensor&);
Tensor clamp_max_tensor(const Tensor&, const Tensor&);
Tensor& clamp_max_tensor_(Tensor&, const Tensor&);
Tensor& clamp_max_tensor_out(const Tensor&, const Tensor&, Tensor&);
Tensor reciprocal(const Tensor&);
Tensor& reciprocal_(Tensor&);
Tensor& reciprocal_out(const Tensor&, Tensor&);
#define GEMS_DECLARE_COMPARE(NAME)                      \
  Tensor NAME##_tensor(const Tensor&, const Tensor&);   \
  Tensor NAME##_scalar(const Tensor&, const Scalar&);   \
  Tensor& NAME##_tensor_out(const Tensor&, const Tensor&, Tensor&);
GEMS_DECLARE_COMPARE(eq)
GEMS_DECLARE_COMPARE(ne)
GEMS_DECLARE_COMPARE(lt)
GEMS_DECLARE_COMPARE(le)
GEMS_DECLARE_COMPARE(gt)
GEMS_DECLARE_COMPARE(ge)
#undef GEMS_DECLARE_COMPARE
Tensor where(const Tensor&, const Tensor&, const Tensor&);
Tensor& where_out(const Tensor&, const Tensor&, const Tensor&, Tensor&);
Tensor bitwise_and(const Tensor&, const Tensor&);
Tensor& bitwise_and_out(const Tensor&, const Tensor&, Tensor&);
Tensor bitwise_or(const Tensor&, const Tensor&);
Tensor& bitwise_or_out(const Tensor&, const Tensor&, Tensor&);
Tensor bitwise_not(const Tensor&);
Tensor& bitwise_not_out(const Tensor&, Tensor&);
Tensor logical_not(const Tensor&);
Tensor& logical_not_out(const Tensor&, Tensor&);
Tensor isneginf(const Tensor&);
Tensor& isneginf_out(const Tensor&, Tensor&);
Tensor& masked_fill_(Tensor&, const Tensor&, const Scalar&);
Tensor& masked_fill_tensor_(Tensor&, const Tensor&, const Tensor&);
Tensor& fill_(Tensor&, const Scalar&);
Tensor& fill_tensor_(Tensor&, const Tensor&);
Tensor& zero_(Tensor&);
Tensor addcmul(const Tensor&, const Tensor&, const Tensor&, const Scalar&);
Tensor& addcmul_(Tensor&, const Tensor&, const Tensor&, const Scalar&);
Tensor& addcmul_out(const Tensor&, const Tensor&, const Tensor&, const Scalar&, Tensor&);
Tensor addcdiv(const Tensor&, const Tensor&, const Tensor&, const Scalar&);
Tensor& addcdiv_(Tensor&, const Tensor&, const Tensor&, const Scalar&);
Tensor& addcdiv_out(const Tensor&, const Tensor&, const Tensor&, const Scalar&, Tensor&);
Tensor lerp_scalar(const Tensor&, const Tensor&, const Scalar&);
Tensor& lerp_scalar_(Tensor&, const Tensor&, const Scalar&);
Tensor& lerp_scalar_out(const Tensor&, const Tensor&, const Scalar&, Tensor&);
Tensor threshold_backward(const Tensor&, const Tensor&, const Scalar&);
Tensor gelu_backward(const Tensor&, const Tensor&, c10::string_view);
Tensor silu_backward(const Tensor&, const Tensor&);
Tensor sigmoid_backward(const Tensor&, const Tensor&);
Tensor tanh_backward(const Tensor&, const Tensor&);

// reductions and softmax (ops_reduce.cpp)
Tensor sum(const Tensor&, OptDtype);
Tensor sum_dim(const Tensor&, at::OptionalIntArrayRef, bool, OptDtype);
Tensor& sum_out(const Tensor&, at::OptionalIntArrayRef, bool, OptDtype, Tensor&);
Tensor nansum(const Tensor&, at::OptionalIntArrayRef, bool, OptDtype);
Tensor& nansum_out(const Tensor&, at::OptionalIntArrayRef, bool, OptDtype, Tensor&);
Tensor linalg_vector_norm(const Tensor&, const Scalar&, at::OptionalIntArrayRef, bool, OptDtype);
Tensor& linalg_vector_norm_out(const Tensor&, const Scalar&, at::OptionalIntArrayRef, bool, OptDtype, Tensor&);
Tensor mean(const Tensor&, OptDtype);
Tensor mean_dim(const Tensor&, at::OptionalIntArrayRef, bool, OptDtype);
Tensor& mean_out(const Tensor&, at::OptionalIntArrayRef, bool, OptDtype, Tensor&);
Tensor max(const Tensor&);
Tensor min(const Tensor&);
std::tuple<Tensor, Tensor> max_dim(const Tensor&, int64_t, bool);
std::tuple<Tensor, Tensor> min_dim(const Tensor&, int64_t, bool);
Tensor amax(const Tensor&, at::IntArrayRef, bool);
Tensor amin(const Tensor&, at::IntArrayRef, bool);
Tensor argmax(const Tensor&, std::optional<int64_t>, bool);
Tensor argmin(const Tensor&, std::optional<int64_t>, bool);
#define GEMS_DECLARE_ALL_ANY(NAME)                                     \
  Tensor NAME(const Tensor&);                                          \
  Tensor& NAME##_all_out(const Tensor&, Tensor&);                      \
  Tensor NAME##_dim(const Tensor&, int64_t, bool);                     \
  Tensor& NAME##_dim_out(const Tensor&, int64_t, bool, Tensor&);       \
  Tensor NAME##_dims(const Tensor&, at::OptionalIntArrayRef, bool);    \
  Tensor& NAME##_dims_out(const Tensor&, at::OptionalIntArrayRef, bool, Tensor&);
GEMS_DECLARE_ALL_ANY(all)
GEMS_DECLARE_ALL_ANY(any)
#undef GEMS_DECLARE_ALL_ANY
Tensor cumsum(const Tensor&, int64_t, OptDtype);
Tensor& cumsum_out(const Tensor&, int64_t, OptDtype, Tensor&);
Tensor tril(const Tensor&, int64_t);
Tensor& tril_out(const Tensor&, int64_t, Tensor&);
Tensor triu(const Tensor&, int64_t);
Tensor& triu_out(const Tensor&, int64_t, Tensor&);
std::tuple<Tensor, Tensor> topk(const Tensor&, int64_t, int64_t, bool, bool);
std::tuple<Tensor, Tensor> sort_stable(const Tensor&, std::optional<bool>, int64_t, bool);
Tensor histc(const Tensor&, int64_t, const Scalar&, const Scalar&);
Tensor& histc_out(const Tensor&, int64_t, const Scalar&, const Scalar&, Tensor&);
std::tuple<Tensor&, Tensor&> sort_values_stable(const Tensor&, std::optional<bool>, int64_t, bool, Tensor&, Tensor&);
std::tuple<Tensor&, Tensor&> topk_values(const Tensor&, int64_t, int64_t, bool, bool, Tensor&, Tensor&);
Tensor softmax(const Tensor&, int64_t, bool);
Tensor log_softmax(const Tensor&, int64_t, bool);
Tensor softmax_backward(const Tensor&, const Tensor&, int64_t, at::ScalarType);
Tensor log_softmax_backward(const Tensor&, const Tensor&, int64_t, at::ScalarType);

// normalisation and loss (ops_nn.cpp)
std::tuple<Tensor, Tensor, Tensor> native_layer_norm(const Tensor&, at::IntArrayRef, const OptTensor&,
                                                     const OptTensor&, double);
std::tuple<Tensor, Tensor, Tensor> native_layer_norm_backward(const Tensor&, const Tensor&, at::IntArrayRef,
                                                              const Tensor&, const Tensor&, const OptTensor&,
                                                              const OptTensor&, std::array<bool, 3>);
std::tuple<Tensor, Tensor> fused_rms_norm(const Tensor&, at::IntArrayRef, const OptTensor&, std::optional<double>);
std::tuple<Tensor, Tensor> fused_rms_norm_backward(const Tensor&, const Tensor&, at::IntArrayRef, const Tensor&,
                                                   const OptTensor&, std::array<bool, 2>);
std::tuple<Tensor, Tensor> native_dropout(const Tensor&, double, std::optional<bool>);
Tensor native_dropout_backward(const Tensor&, const Tensor&, double);
std::tuple<Tensor, Tensor> nll_loss_forward(const Tensor&, const Tensor&, const OptTensor&, int64_t, int64_t);
// Registered on the backend and the autograd key: fused when no gradient is needed.
Tensor cross_entropy_loss(const Tensor&, const Tensor&, const OptTensor&, int64_t, c10::SymInt, double);
Tensor nll_loss_backward(const Tensor&, const Tensor&, const Tensor&, const OptTensor&, int64_t, int64_t,
                         const Tensor&);
// softplus and its backward, composed (ops_nn.cpp)
Tensor softplus(const Tensor&, const at::Scalar&, const at::Scalar&);
Tensor& softplus_out(const Tensor&, const at::Scalar&, const at::Scalar&, Tensor&);
Tensor softplus_backward(const Tensor&, const Tensor&, const at::Scalar&, const at::Scalar&);
Tensor& softplus_backward_out(const Tensor&, const Tensor&, const at::Scalar&, const at::Scalar&, Tensor&);
// mse_loss and its backward, composed (ops_nn.cpp)
Tensor mse_loss(const Tensor&, const Tensor&, int64_t);
Tensor& mse_loss_out(const Tensor&, const Tensor&, int64_t, Tensor&);
Tensor mse_loss_backward(const Tensor&, const Tensor&, const Tensor&, int64_t);
Tensor& mse_loss_backward_out(const Tensor&, const Tensor&, const Tensor&, int64_t, Tensor&);

// matrix products (ops_linalg.cpp)
Tensor mm(const Tensor&, const Tensor&);
Tensor& mm_out(const Tensor&, const Tensor&, Tensor&);
Tensor bmm(const Tensor&, const Tensor&);
Tensor& bmm_out(const Tensor&, const Tensor&, Tensor&);
Tensor addmm(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor& addmm_out(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&, Tensor&);
Tensor& addmm_(Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor baddbmm(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor& baddbmm_out(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&, Tensor&);
Tensor& baddbmm_(Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor mv(const Tensor&, const Tensor&);
Tensor& mv_out(const Tensor&, const Tensor&, Tensor&);
Tensor addmv(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor& addmv_out(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&, Tensor&);
Tensor& addmv_(Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor addr(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);
Tensor& addr_out(const Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&, Tensor&);
Tensor& addr_(Tensor&, const Tensor&, const Tensor&, const Scalar&, const Scalar&);

// tensor building (ops_tensor.cpp)
Tensor cat(const at::ITensorListRef&, int64_t);
Tensor& cat_out(const at::ITensorListRef&, int64_t, Tensor&);
Tensor gather(const Tensor&, int64_t, const Tensor&, bool);
Tensor& gather_out(const Tensor&, int64_t, const Tensor&, bool, Tensor&);
Tensor scatter_src(const Tensor&, int64_t, const Tensor&, const Tensor&);
Tensor& index_put_impl_(Tensor&, const c10::List<std::optional<Tensor>>&, const Tensor&, bool, bool);
Tensor embedding_dense_backward(const Tensor&, const Tensor&, int64_t, int64_t, bool);
Tensor& scatter_src_(Tensor&, int64_t, const Tensor&, const Tensor&);
Tensor& scatter_src_out(const Tensor&, int64_t, const Tensor&, const Tensor&, Tensor&);
Tensor scatter_value(const Tensor&, int64_t, const Tensor&, const Scalar&);
Tensor& scatter_value_(Tensor&, int64_t, const Tensor&, const Scalar&);
Tensor& scatter_value_out(const Tensor&, int64_t, const Tensor&, const Scalar&, Tensor&);
Tensor scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&);
Tensor& scatter_add_(Tensor&, int64_t, const Tensor&, const Tensor&);
Tensor& scatter_add_out(const Tensor&, int64_t, const Tensor&, const Tensor&, Tensor&);
Tensor index(const Tensor&, const c10::List<std::optional<Tensor>>&);
Tensor& index_out(const Tensor&, const c10::List<std::optional<Tensor>>&, Tensor&);
Tensor nonzero(const Tensor&);
Tensor& nonzero_out(const Tensor&, Tensor&);
Tensor masked_select(const Tensor&, const Tensor&);
Tensor& masked_select_out(const Tensor&, const Tensor&, Tensor&);
Tensor index_select(const Tensor&, int64_t, const Tensor&);
Tensor& index_select_out(const Tensor&, int64_t, const Tensor&, Tensor&);
Tensor isin(const Tensor&, const Tensor&, bool, bool);
Tensor& isin_out(const Tensor&, const Tensor&, bool, bool, Tensor&);
Tensor& arange_out(const Scalar&, const Scalar&, const Scalar&, Tensor&);
Tensor& uniform_(Tensor&, double, double, std::optional<at::Generator>);
Tensor& normal_(Tensor&, double, double, std::optional<at::Generator>);
Tensor multinomial(const Tensor&, int64_t, bool, std::optional<at::Generator>);
Tensor& multinomial_out(const Tensor&, int64_t, bool, std::optional<at::Generator>, Tensor&);

// scaled dot-product attention (ops_attention.cpp)
int64_t fused_sdp_choice(const Tensor&, const Tensor&, const Tensor&, const OptTensor&, double, bool,
                         std::optional<double>, bool);
std::tuple<Tensor, Tensor, Tensor, Tensor, c10::SymInt, c10::SymInt, Tensor, Tensor, Tensor>
fused_attention_overrideable(const Tensor&, const Tensor&, const Tensor&, const OptTensor&, double, bool, bool,
                             std::optional<double>);
std::tuple<Tensor, Tensor, Tensor, Tensor> fused_attention_overrideable_backward(
    const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, std::array<bool, 4>, const Tensor&,
    const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, double, bool, const Tensor&, const Tensor&,
    std::optional<double>);

Tensor& masked_scatter_(Tensor&, const Tensor&, const Tensor&);

// convolutions: im2col/col2im views and the vendor's gemm (ops_conv.cpp)
Tensor convolution(const Tensor&, const Tensor&, const OptTensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                   bool, at::IntArrayRef, int64_t);
std::tuple<Tensor, Tensor, Tensor> convolution_backward(const Tensor&, const Tensor&, const Tensor&,
                                                        at::OptionalIntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                                        at::IntArrayRef, bool, at::IntArrayRef, int64_t,
                                                        std::array<bool, 3>);

// pooling and upsampling (ops_pool_upsample.cpp)
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                                   at::IntArrayRef, bool);
Tensor max_pool2d_with_indices_backward(const Tensor&, const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                        at::IntArrayRef, bool, const Tensor&);
std::tuple<Tensor, Tensor> max_pool3d_with_indices(const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                                   at::IntArrayRef, bool);
Tensor max_pool3d_with_indices_backward(const Tensor&, const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                        at::IntArrayRef, bool, const Tensor&);

Tensor avg_pool2d(const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, bool, bool,
                  std::optional<int64_t>);
Tensor avg_pool2d_backward(const Tensor&, const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, bool, bool,
                           std::optional<int64_t>);

// batch and group norm (ops_nn.cpp)
std::tuple<Tensor, Tensor, Tensor> native_batch_norm(const Tensor&, const OptTensor&, const OptTensor&,
                                                     const OptTensor&, const OptTensor&, bool, double, double);
std::tuple<Tensor, Tensor, Tensor> native_batch_norm_backward(const Tensor&, const Tensor&, const OptTensor&,
                                                              const OptTensor&, const OptTensor&, const OptTensor&,
                                                              const OptTensor&, bool, double, std::array<bool, 3>);
std::tuple<Tensor, Tensor, Tensor> native_group_norm(const Tensor&, const OptTensor&, const OptTensor&, int64_t,
                                                     int64_t, int64_t, int64_t, double);
std::tuple<Tensor, Tensor, Tensor> native_group_norm_backward(const Tensor&, const Tensor&, const Tensor&,
                                                              const Tensor&, const OptTensor&, int64_t, int64_t,
                                                              int64_t, int64_t, std::array<bool, 3>);

// nearest upsampling, 1-3d, nearest and nearest-exact
using OptDouble = std::optional<double>;
// reflection and replication padding, pixel shuffle (ops_pad_shuffle.cpp)
Tensor reflection_pad1d(const Tensor&, at::IntArrayRef);
Tensor reflection_pad2d(const Tensor&, at::IntArrayRef);
Tensor reflection_pad3d(const Tensor&, at::IntArrayRef);
Tensor replication_pad1d(const Tensor&, at::IntArrayRef);
Tensor replication_pad2d(const Tensor&, at::IntArrayRef);
Tensor replication_pad3d(const Tensor&, at::IntArrayRef);
Tensor reflection_pad1d_backward(const Tensor&, const Tensor&, at::IntArrayRef);
Tensor reflection_pad2d_backward(const Tensor&, const Tensor&, at::IntArrayRef);
Tensor reflection_pad3d_backward(const Tensor&, const Tensor&, at::IntArrayRef);
Tensor replication_pad1d_backward(const Tensor&, const Tensor&, at::IntArrayRef);
Tensor replication_pad2d_backward(const Tensor&, const Tensor&, at::IntArrayRef);
Tensor replication_pad3d_backward(const Tensor&, const Tensor&, at::IntArrayRef);
Tensor pixel_shuffle(const Tensor&, int64_t);
Tensor pixel_unshuffle(const Tensor&, int64_t);
// sliding blocks (F.unfold and F.fold; ops_conv.cpp)
Tensor unfold_blocks(const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
Tensor fold_blocks(const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
Tensor upsample_bicubic2d(const Tensor&, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_bicubic2d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_bicubic2d_aa(const Tensor&, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_bicubic2d_aa_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_bilinear2d_aa(const Tensor&, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_bilinear2d_aa_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_nearest1d(const Tensor&, at::IntArrayRef, OptDouble);
Tensor upsample_nearest2d(const Tensor&, at::IntArrayRef, OptDouble, OptDouble);
Tensor upsample_nearest3d(const Tensor&, at::IntArrayRef, OptDouble, OptDouble, OptDouble);
Tensor upsample_nearest_exact1d(const Tensor&, at::IntArrayRef, OptDouble);
Tensor upsample_nearest_exact2d(const Tensor&, at::IntArrayRef, OptDouble, OptDouble);
Tensor upsample_nearest_exact3d(const Tensor&, at::IntArrayRef, OptDouble, OptDouble, OptDouble);
Tensor upsample_nearest1d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, OptDouble);
Tensor upsample_nearest2d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, OptDouble, OptDouble);
Tensor upsample_nearest3d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, OptDouble, OptDouble, OptDouble);
Tensor upsample_nearest_exact1d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, OptDouble);
Tensor upsample_nearest_exact2d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, OptDouble, OptDouble);
Tensor upsample_nearest_exact3d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, OptDouble, OptDouble,
                                         OptDouble);

// weight normalisation (ops_nn.cpp)
std::tuple<Tensor, Tensor> weight_norm_interface(const Tensor&, const Tensor&, int64_t);
std::tuple<Tensor, Tensor> weight_norm_interface_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                                          int64_t);

// linear, bilinear, trilinear upsampling
Tensor upsample_linear1d(const Tensor&, at::IntArrayRef, bool, OptDouble);
Tensor upsample_bilinear2d(const Tensor&, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_trilinear3d(const Tensor&, at::IntArrayRef, bool, OptDouble, OptDouble, OptDouble);
Tensor upsample_linear1d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, bool, OptDouble);
Tensor upsample_bilinear2d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, bool, OptDouble, OptDouble);
Tensor upsample_trilinear3d_backward(const Tensor&, at::IntArrayRef, at::IntArrayRef, bool, OptDouble, OptDouble,
                                     OptDouble);

// adaptive average pooling 2-d and 3-d as averaging GEMMs
Tensor avg_pool3d(const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, bool, bool, std::optional<int64_t>);
Tensor avg_pool3d_backward(const Tensor&, const Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, bool, bool,
                           std::optional<int64_t>);
std::tuple<Tensor, Tensor> adaptive_max_pool2d(const Tensor&, at::IntArrayRef);
Tensor adaptive_max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&);
std::tuple<Tensor, Tensor> fractional_max_pool2d(const Tensor&, at::IntArrayRef, at::IntArrayRef, const Tensor&);
Tensor fractional_max_pool2d_backward(const Tensor&, const Tensor&, at::IntArrayRef, at::IntArrayRef, const Tensor&);
std::tuple<Tensor, Tensor> fractional_max_pool3d(const Tensor&, at::IntArrayRef, at::IntArrayRef, const Tensor&);
Tensor fractional_max_pool3d_backward(const Tensor&, const Tensor&, at::IntArrayRef, at::IntArrayRef, const Tensor&);
std::tuple<Tensor, Tensor> adaptive_max_pool3d(const Tensor&, at::IntArrayRef);
Tensor adaptive_max_pool3d_backward(const Tensor&, const Tensor&, const Tensor&);
Tensor adaptive_avg_pool2d(const Tensor&, at::IntArrayRef);
Tensor adaptive_avg_pool2d_backward(const Tensor&, const Tensor&);
Tensor adaptive_avg_pool3d(const Tensor&, at::IntArrayRef);
Tensor adaptive_avg_pool3d_backward(const Tensor&, const Tensor&);

}  // namespace gems::ops
