// The cpu vendor's kernel table and its one exported entry point.
//
// This table is also the reference meaning of every kernel name for all
// vendors. Unless an entry says otherwise, tensors are ordered outputs first,
// all tensors of a pointwise kernel have the output's shape (inputs broadcast
// with zero strides) and one dtype, and kernels honour arbitrary strides.
#include <cstring>
#include <thread>

#include "kernels.h"
#include "parallel.h"
#include "runtime.h"

namespace gems::cpu {
namespace {

const gems_kernel_entry kKernels[] = {
    // copy: out, in; any dtype pair (casts like Tensor.to)
    {"copy", kAll, k_copy},
    // fill: out; scalars[0] value
    {"fill", kAll, k_fill},
    // cat: out, in_0, ..., in_{n-1} (n >= 1, none empty along dim); scalars[0].i
    // dim. Out's size along dim is the sum of the inputs'; the other sizes
    // match. Inputs may be any dtype (cast like copy); any strides.
    {"cat", kAll, k_cat},
    // unary: out, in
    {"neg", kNumeric, k_neg}, {"abs", kNumeric, k_abs}, {"relu", kNumeric, k_relu},
    {"exp", kFloating, k_exp}, {"log", kFloating, k_log}, {"sqrt", kFloating, k_sqrt},
    {"rsqrt", kFloating, k_rsqrt}, {"sin", kFloating, k_sin}, {"cos", kFloating, k_cos},
    {"tanh", kFloating, k_tanh}, {"sigmoid", kFloating, k_sigmoid}, {"silu", kFloating, k_silu},
    {"gelu", kFloating, k_gelu},    // scalars[0].i: 0 exact, 1 tanh
    {"clamp", kNumeric, k_clamp},   // scalars: min, max, flags (1 has min, 2 has max)
    // binary: out, a, b
    {"add", kAll, k_add}, {"sub", kNumeric, k_sub},  // scalars[0]: alpha
    {"mul", kAll, k_mul},
    {"div", kNumeric, k_div},      // scalars[0].i: 0 true, 1 trunc, 2 floor
    {"remainder", kNumeric, k_remainder},  // a - b * floor(a / b), the sign of b
    {"maximum", kAll, k_maximum}, {"minimum", kAll, k_minimum},  // NaN if either is NaN
    {"pow", kNumeric, k_pow},
    // comparisons: out (bool), a, b
    {"eq", kAll, k_eq}, {"ne", kAll, k_ne}, {"lt", kAll, k_lt},
    {"le", kAll, k_le}, {"gt", kAll, k_gt}, {"ge", kAll, k_ge},
    // bitwise: out, a, b / out, in; integers and bool
    {"bitwise_and", kIntegral | GEMS_DTYPE_BIT(GEMS_BOOL), k_bitwise_and},
    {"bitwise_or", kIntegral | GEMS_DTYPE_BIT(GEMS_BOOL), k_bitwise_or},
    {"bitwise_not", kIntegral | GEMS_DTYPE_BIT(GEMS_BOOL), k_bitwise_not},
    // where: out, cond (bool), a, b
    {"where", kAll, k_where},
    // optimizer arithmetic: out, self, a, b; scalars[0] value
    {"addcmul", kNumeric, k_addcmul},  // self + value * a * b
    {"addcdiv", kFloating, k_addcdiv},  // self + value * a / b
    {"lerp", kFloating, k_lerp},        // lerp(self, end=a, weight=b); without b, scalars[0] is the weight
    // activation backward: grad_in, grad_out, x (or y for sigmoid/tanh)
    {"threshold_backward", kNumeric, k_threshold_backward},  // scalars[0]: threshold
    {"gelu_backward", kFloating, k_gelu_backward},           // scalars[0].i: approx
    {"silu_backward", kFloating, k_silu_backward},
    {"sigmoid_backward", kFloating, k_sigmoid_backward},
    {"tanh_backward", kFloating, k_tanh_backward},
    // reductions: out (k dims), in (k + r dims), reduced over in's last r dims
    {"reduce_sum", kNumeric, k_reduce_sum}, {"reduce_mean", kFloating, k_reduce_mean},
    // values, in [, indices int64]: index is the row-major position in the block
    {"reduce_max", kAll, k_reduce_max}, {"reduce_min", kAll, k_reduce_min},
    // row-wise over the last dim: out, in / grad_in, grad_out, output
    {"softmax", kFloating, k_softmax}, {"log_softmax", kFloating, k_log_softmax},
    {"softmax_backward", kFloating, k_softmax_backward},
    {"log_softmax_backward", kFloating, k_log_softmax_backward},
    // cumsum: out, in; along the last dim
    {"cumsum", kNumeric, k_cumsum},
    // histc: counts (x's dtype, contiguous, one per bin), x (1-D); scalars lo, hi (lo < hi): how many x fall in each
    // of the equal-width bins over [lo, hi] (backends/common/histogram.h places a value)
    {"histc", kNumeric, k_histc},
    // tril: out, in [..., R, C]; scalars diagonal, upper (1 = triu)
    {"tril", kAll, k_tril},
    // topk: values [..., k], indices (int64) [..., k], in [..., n]; along the
    // last dim; scalars[0].i largest (0: the k smallest). Ranked by the order
    // keys of backends/common/order_key.h (NaN above every number). Rows come
    // out sorted, largest (smallest) first, equal elements by index; which of
    // the elements equal to the k-th are taken is unspecified (as in PyTorch).
    // A vendor may return GEMS_UNSUPPORTED for a k it cannot serve.
    {"topk", kNumeric, k_topk},
    // sort: topk's operands with k = n (values and indices in in's shape), [0].i descending: the
    // same order (NaN above +inf, equal elements by index: a stable sort), so the same kernel
    {"sort", kNumeric, k_topk},
    // norms over contiguous [M, N] rows; see kernels_reduce.cpp for operands
    {"layer_norm", kFloating, k_layer_norm}, {"layer_norm_backward", kFloating, k_layer_norm_backward},
    {"rms_norm", kFloating, k_rms_norm}, {"rms_norm_backward", kFloating, k_rms_norm_backward},
    {"nll_loss", kFloating, k_nll_loss}, {"nll_loss_backward", kFloating, k_nll_loss_backward},
    // cross_entropy (class-index targets, fused log-softmax and NLL): rows [3, N]
    // (float64 for double, else float32): row 0 each sample's loss
    // w[y] * (lse - logits[y]), row 1 the weight it counts with (w[y], or 1
    // without weights; 0 for a sample whose target is ignore_index, whose loss
    // is 0), row 2 the log-sum-exp of its logits; logits [N, C], target [N]
    // int64, weight [C] or absent; scalars[0].i ignore_index. A target outside
    // [0, C) is GEMS_INVALID_ARGUMENT ("Target 7 is out of bounds."); a vendor
    // that cannot report from the device counts it as ignored, as nll_loss.
    {"cross_entropy", kFloating, k_cross_entropy},
    // cross_entropy_backward: grad_in [N, C] (written), g [N] (rows' dtype; stride
    // 0 for one value: the reduced loss's gradient, over the total weight for a
    // mean), logits [N, C], target [N], rows [3, N] of the forward.
    // grad_in[i, j] = g[i] * w[i] * (exp(logits[i, j] - lse[i]) - (j == target[i])).
    {"cross_entropy_backward", kFloating, k_cross_entropy_backward},
    // gemm: out [B,M,N], a [B,M,K], b [B,K,N], c or absent; scalars alpha, beta,
    // allow_tf32 (a vendor may use reduced-precision float32 when it is 1)
    {"gemm", kFloating, k_gemm},
    // attention: out [B,Hq,L,Ev], lse [B,Hq,L] (float32; float64 for double),
    // q [B,Hq,L,E], k [B,Hkv,S,E], v [B,Hkv,S,Ev] (Hq a multiple of Hkv: query
    // head h reads key head h / (Hq/Hkv)), bias [B,Hq,L,S] broadcast or absent;
    // scalars scale, is_causal (key j visible to query i only when j <= i).
    // softmax(scale * q k^T + bias) v per head; lse is the row's log-sum-exp;
    // a row that sees no key gives zeros and lse -inf. A vendor may return
    // GEMS_UNSUPPORTED for a shape or layout it cannot serve: the core then
    // composes the result from other kernels.
    {"attention", kFloating, k_attention},
    // attention_backward: dq, dk, dv, dbias [B,Hq,L,S] or absent, dout, q, k,
    // v, out, lse, bias or absent; scalars as "attention". Written, not added.
    {"attention_backward", kFloating, k_attention_backward},
    // Convolutions (here oneDNN's, float32, when the module is built with
    // it; else the core's im2col onto gemm; nvidia's are cuDNN's, intel's
    // its own):
    // convolution: y [N,K,O...], x [N,C,I...], w [K,C/groups,R...] (1 to 3
    // spatial dims); scalars groups, flags (bit 0: float32 may use TF32, bit
    // 1: deterministic algorithms only), then stride, padding and dilation per
    // spatial dim. y[n,k,o] = sum over c of group(k), r of x[n,c,o*stride -
    // padding + r*dilation] * w[k,c,r], zero outside x. Written.
    // convolution_backward_input: dx, dy, w; scalars as "convolution"; dx
    // (written) is the input gradient of y = conv(x, w), and a transposed
    // convolution's output.
    // convolution_backward_weight: dw, x, dy; scalars as "convolution"; dw
    // (written) sums x * dy over the batch and positions.
    // A vendor may answer GEMS_UNSUPPORTED (a shape its library cannot run):
    // the core then uses im2col and gemm.
#ifdef GEMS_HAVE_DNNL
    {"convolution", GEMS_DTYPE_BIT(GEMS_FLOAT32), k_convolution},
    {"convolution_backward_input", GEMS_DTYPE_BIT(GEMS_FLOAT32), k_convolution_backward_input},
    {"convolution_backward_weight", GEMS_DTYPE_BIT(GEMS_FLOAT32), k_convolution_backward_weight},
#endif
    // pool: y [N,C,O...], indices [N,C,O...] (int64; the max kinds only), x
    // [N,C,I...] (1 to 3 spatial dims, any strides); scalars kind (0 max, 1
    // average, 2 adaptive max), count_include_pad, divisor override (0: none),
    // then window, stride, padding and dilation per spatial dim (ignored by
    // adaptive max, whose windows are PyTorch's [o*I/O, ceil((o+1)*I/O))).
    // Each y is its window's max (the first largest, or the last NaN; its flat
    // spatial index in indices) or average (backends/common/pooling.h has the
    // divisor). Average: floating dtypes and int64 (its sum divided with
    // truncation, as on PyTorch's CPU).
    {"pool", kNumeric, k_pool},
    // pool_backward: dx [N,C,I...], dy [N,C,O...], indices (max kinds); scalars
    // as "pool". dx (written) sums the dy of the windows that took each
    // element: whose index names it, or each window's average share.
    {"pool_backward", kFloating, k_pool_backward},
    // interpolate: y [N,C,O...], x [N,C,I...] (1 to 3 spatial dims, any strides),
    // then per spatial dim d a contiguous index [K_d, O_d] (int64) and weight
    // [K_d, O_d] (float32; float64 for float64): each y the nested sum over
    // the dims' taps of weight * x at the taps' indices, last dim innermost,
    // in the weights' dtype (backends/common/interpolate.h). Linear, cubic and
    // antialiased upsampling in one pass. uint8: int32 fixed-point weights and
    // one scalar, their precision in bits; the int32 sum rounded and clamped
    // once (fixed_point_to_uint8): PyTorch CPU's uint8 resize, a dim a call.
    {"interpolate", kFloating | GEMS_DTYPE_BIT(GEMS_UINT8), k_interpolate},
    // batch_norm_stats: mean [C], var [C] (float32; float64 for a float64 x),
    // x [N,C,S] (any strides): each channel's mean and biased variance over
    // its N*S elements (written).
    {"batch_norm_stats", kFloating, k_batch_norm_stats},
    // batch_norm_backward_reduce: sum_dy [C], sum_dy_xmu [C] (as mean), dy
    // [N,C,S], x [N,C,S], mean [C]: per channel, the sum of dy and of dy * (x -
    // mean) (written).
    {"batch_norm_backward_reduce", kFloating, k_batch_norm_backward_reduce},
    // batch_norm_coefficients: nine [C] vectors of float dtypes, the first float32
    // (or float64), and scalars mode, flags, eps, momentum, count: forward (mode 0)
    // scale, shift, invstd (written), mean, var, weight, bias, running_mean,
    // running_var (moved in place under the update flag), and a tenth, the saved
    // mean (written under the save-mean flag); backward (mode 1) a, b, c,
    // grad_weight (written), mean, invstd, weight, sum_dy, sum_dy_xmu. The
    // formulas and flags: backends/common/batch_norm_apply.h.
    {"batch_norm_coefficients", GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), k_batch_norm_coefficients},
    // group_norm_coefficients: group_norm's per-(sample, channel) coefficients
    // for channel_affine, forward (scale, shift, rstd from the mean and
    // variance of each (sample, group)) or backward (dx's coefficients and the
    // parameters' gradients from the per-(sample, channel) sums); operands and
    // scalars in backends/common/group_norm_coefficients.h and batch_norm_operands.h
    {"group_norm_coefficients", GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), k_group_norm_coefficients},
    // channel_affine: y [N,C,S], x [N,C,S], scale [C], shift [C] (float32;
    // float64 for a float64 x), optionally dy [N,C,S], dy_scale [C]: y = shift
    // + x * scale (+ dy * dy_scale), per channel, in the vectors' dtype (written).
    {"channel_affine", kFloating, k_channel_affine},
    // index_select: out, self, index; scalars[0].i dim, [1].i (optional, default 0) whether a negative
    // index counts from the end (indexing, x[idx]) rather than being out of range
    {"index_select", kAll, k_index_select},
    // gather: out, self, 1-4 index tensors, all in out's shape; scalars[0].i negative
    // indices count from the end; per index: dim, size, stride (kernels_index.cpp)
    {"gather", kAll, k_gather},
    // scatter: dest, src, index (int64 or int32), all in index's shape, dest with stride 0 along
    // its written dim; scalars [0].i that dim, [1].i its size, [2].i its stride, [3].i (optional)
    // whether a negative index counts from the end
    {"scatter", kAll, k_scatter},
    // accumulate_rows: out [R, D], src [N, D], index [N] (int64 or int32); scalars [0].i whether [1].i
    // is an index whose rows add nothing, [2].i scale by one over the index's count, [3].i negative
    // from the end. out[r] += the src rows indexed r, summed in position order in the compute type
    // and added once (deterministic; embedding's backward, index_put with accumulate)
    {"accumulate_rows", kNumeric, k_accumulate_rows},
    // isin: out (bool), elements, test (1-D); scalars[0].i invert
    {"isin", kNumeric, k_isin},
    // count_nonzero: out (int64, one element), in (dense: contiguous strides, any dtype): how many
    // elements of in are not zero. nonzero: out [count, ndim] (int64), in (dense, any dtype); row r
    // of out holds the coordinates of in's r-th nonzero element in memory order (count from
    // count_nonzero). Boolean masks in indexing (x[mask], x[mask] = v), masked_select, torch.where(c)
    {"count_nonzero", kAll, k_count_nonzero}, {"nonzero", kAll, k_nonzero},
    // masked_select: out [count], values (dense), mask (dense, values' shape, bool or uint8): the values
    // where the mask is set, in memory order (count from count_nonzero on the mask)
    {"masked_select", kAll, k_masked_select},
    // arange: out (1-D); scalars start, step
    {"arange", kNumeric, k_arange},
    // random: out; scalars a, b, seed, counter offset
    {"uniform", kFloating, k_uniform}, {"normal", kFloating, k_normal},
    // dropout: out, mask (bool), in; scalars keep, scale, seed, counter offset, draw (1: mask drawn,
    // kept when uniform < keep, operands contiguous; 0: mask read). out = in * mask * scale
    {"dropout", kFloating, k_dropout},
};

}  // namespace
}  // namespace gems::cpu

extern "C" GEMS_VENDOR_EXPORT int gems_vendor_init(uint32_t requested_abi, const gems_host_api* host,
                                                    gems_vendor_api* out) {
  using namespace gems::cpu;
  if (!out) return GEMS_INVALID_ARGUMENT;
  std::memset(out, 0, sizeof(*out));
  out->abi_version = GEMS_VENDOR_ABI_VERSION;
  out->struct_size = sizeof(gems_vendor_api);
  if (requested_abi != GEMS_VENDOR_ABI_VERSION) return GEMS_UNSUPPORTED;
  if (host && host->struct_size >= offsetof(gems_host_api, num_threads) + sizeof(int32_t) && host->num_threads > 0)
    set_num_threads(host->num_threads);
  out->name = "cpu";
  out->memory_kind = GEMS_MEMORY_HOST;
  out->device_count = rt::device_count;
  out->set_device = rt::set_device;
  out->get_device = rt::get_device;
  out->device_synchronize = rt::device_synchronize;
  out->device_name = rt::device_name;
  out->malloc = rt::malloc;
  out->free = rt::free;
  out->host_malloc = rt::host_malloc;
  out->host_free = rt::host_free;
  out->memcpy = rt::memcpy;
  out->memcpy_async = rt::memcpy_async;
  out->memset = rt::memset;
  out->pointer_device = rt::pointer_device;
  out->stream_create = rt::stream_create;
  out->stream_destroy = rt::stream_destroy;
  out->stream_synchronize = rt::stream_synchronize;
  out->stream_query = rt::stream_query;
  out->stream_wait_event = rt::stream_wait_event;
  out->event_create = rt::event_create;
  out->event_destroy = rt::event_destroy;
  out->event_record = rt::event_record;
  out->event_query = rt::event_query;
  out->event_synchronize = rt::event_synchronize;
  out->event_elapsed_ms = rt::event_elapsed_ms;
  out->last_error = rt::last_error;
  out->kernels = kKernels;
  out->num_kernels = static_cast<int32_t>(sizeof(kKernels) / sizeof(kKernels[0]));
  return GEMS_OK;
}
