// Scaled dot-product attention on gems: torch.nn.functional.
// scaled_dot_product_attention asks each device's _fused_sdp_choice_stub for a
// backend; gems answers "overrideable" whenever the vendor has a fused
// attention kernel for the dtype, and then serves the overrideable forward
// and backward ops with the vendor's "attention" kernels. When the vendor
// cannot serve a particular shape or layout (it returns GEMS_UNSUPPORTED),
// the same result is composed from gems' matmul and softmax-style ops.
#include <ATen/native/DispatchStub.h>
#include <ATen/native/transformers/attention.h>
#include <ATen/native/transformers/sdp_utils_cpp.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "op_table.h"
#include "ops.h"
#include "ops_common.h"

namespace gems {
namespace {
std::atomic<bool> g_fused_attention_on{false};
}  // namespace

void set_fused_attention_enabled(bool on) { g_fused_attention_on = on; }

namespace ops {
namespace {

const Kernel& forward_kernel() {
  static const Kernel k("attention");
  return k;
}
const Kernel& backward_kernel() {
  static const Kernel k("attention_backward");
  return k;
}

double scale_of(const at::Tensor& q, std::optional<double> scale) {
  return scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
}

// The vendor kernels read rows of head_dim elements: give them a unit stride.
at::Tensor rows_dense(const at::Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); }

// An additive bias in q's dtype (a boolean mask keeps where true).
at::Tensor additive_bias(const at::Tensor& bias, const at::Tensor& q) {
  if (bias.scalar_type() == at::kBool)
    return at::where(bias, at::zeros({}, q.options()), at::full({}, -std::numeric_limits<double>::infinity(), q.options()));
  return bias.scalar_type() == q.scalar_type() ? bias : bias.to(q.scalar_type());
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "gems fused attention expects 4-D query, key and value [batch, heads, seq, head_dim]; got ", q.dim(),
              "-D, ", k.dim(), "-D and ", v.dim(), "-D");
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
              "Expected query, key, and value to have the same dtype, but got query.dtype: ", q.scalar_type(),
              " key.dtype: ", k.scalar_type(), " and value.dtype: ", v.scalar_type(), " instead.");
  TORCH_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(2) == v.size(2) && k.size(3) == q.size(3) &&
                  k.size(1) == v.size(1) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
              "gems fused attention: incompatible shapes query ", q.sizes(), ", key ", k.sizes(), ", value ", v.sizes());
}

// k or v with each key head repeated for the query heads that share it.
at::Tensor heads_for_queries(const at::Tensor& t, int64_t query_heads) {
  const int64_t group = query_heads / t.size(1);
  if (group == 1) return t;
  return t.unsqueeze(2).expand({t.size(0), t.size(1), group, t.size(2), t.size(3)})
      .reshape({t.size(0), query_heads, t.size(2), t.size(3)});
}

// A gradient over repeated key heads, summed back onto the key heads.
at::Tensor sum_over_group(const at::Tensor& g, int64_t key_heads) {
  const int64_t group = g.size(1) / key_heads;
  if (group == 1) return g;
  return g.view({g.size(0), key_heads, group, g.size(2), g.size(3)}).sum(2);
}

// Scores in float32 (float64 for double): scale * q k^T + bias, causal mask applied.
at::Tensor composed_scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& bias, double scale,
                           bool causal) {
  const auto acc = accumulate_type(q.scalar_type());
  at::Tensor s = at::matmul(q.to(acc), heads_for_queries(k, q.size(1)).to(acc).transpose(-2, -1)).mul_(scale);
  if (bias.defined()) s.add_(bias.to(acc));
  if (causal) {
    const at::Tensor hidden = at::ones({q.size(2), k.size(2)}, q.options().dtype(at::kBool)).triu(1);
    s.masked_fill_(hidden, -std::numeric_limits<double>::infinity());
  }
  return s;
}

// Probabilities from scores and the rows' log-sum-exp; rows that see nothing give zeros.
at::Tensor composed_probs(const at::Tensor& s, const at::Tensor& lse) {
  const at::Tensor l = lse.unsqueeze(-1);
  return at::where(at::isneginf(l), at::zeros({}, s.options()), (s - l).exp());
}

void warn_composed(const char* what) {
  TORCH_WARN_ONCE("gems: the ", vendor().name, " vendor's ", what,
                  " kernel does not serve this shape or layout; attention is composed from matmul and softmax "
                  "kernels instead (slower, same result)");
}

}  // namespace

int64_t fused_sdp_choice(const Tensor& q, const Tensor& k, const Tensor& v, const OptTensor& mask, double dropout_p,
                         bool is_causal, std::optional<double> scale, bool enable_gqa) {
  const auto math = static_cast<int64_t>(sdp::SDPBackend::math);
  if (!g_fused_attention_on.load(std::memory_order_relaxed) || !at::globalContext().userEnabledOverrideableSDP())
    return math;
  // Dropout, nested or non-4-D inputs and mixed dtypes are the math path's.
  if (dropout_p != 0.0 || q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || q.is_nested() ||
      q.scalar_type() != k.scalar_type() || q.scalar_type() != v.scalar_type() ||
      !forward_kernel().serves(q.scalar_type()))
    return math;
  const bool same_heads = q.size(1) == k.size(1) && k.size(1) == v.size(1);
  const bool grouped = enable_gqa && k.size(1) == v.size(1) && k.size(1) > 0 && q.size(1) % k.size(1) == 0;
  if (!same_heads && !grouped) return math;  // the math path raises the shape error
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || k.size(3) != q.size(3) || k.size(2) != v.size(2))
    return math;
  const bool needs_grad = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad() ||
                                                         (mask && mask->requires_grad()));
  if (needs_grad && !backward_kernel().serves(q.scalar_type())) return math;
  return static_cast<int64_t>(sdp::SDPBackend::overrideable);
}

std::tuple<Tensor, Tensor, Tensor, Tensor, c10::SymInt, c10::SymInt, Tensor, Tensor, Tensor>
fused_attention_overrideable(const Tensor& query, const Tensor& key, const Tensor& value, const OptTensor& attn_bias,
                             double dropout_p, bool is_causal, bool return_debug_mask, std::optional<double> scale) {
  forward_kernel().require(query.scalar_type(), 4);
  check_inputs(query, key, value);
  TORCH_CHECK_NOT_IMPLEMENTED(dropout_p == 0.0, "gems fused attention has no dropout; got dropout_p=", dropout_p);
  TORCH_CHECK_NOT_IMPLEMENTED(!return_debug_mask, "gems fused attention does not return a debug mask");
  const int64_t B = query.size(0), H = query.size(1), L = query.size(2), S = key.size(2), Ev = value.size(3);
  const double sc = scale_of(query, scale);
  const at::Tensor q = rows_dense(query), k = rows_dense(key), v = rows_dense(value);
  at::Tensor bias = attn_bias && attn_bias->defined() ? additive_bias(*attn_bias, q) : at::Tensor();
  if (bias.defined()) bias = rows_dense(bias);
  // [B, L, H, Ev] memory seen as [B, H, L, Ev]: what the usual
  // out.transpose(1, 2).reshape(B, L, H * Ev) that follows needs, copy-free.
  at::Tensor out = empty_result({B, L, H, Ev}, q.options()).transpose(1, 2);
  at::Tensor lse = empty_result({B, H, L}, q.options().dtype(accumulate_type(q.scalar_type())));
  if (out.numel() > 0) {
    if (S == 0) {  // no keys: every row sees nothing
      out.zero_();
      lse.fill_(-std::numeric_limits<double>::infinity());
    } else {
      const std::array<int64_t, 4> full{B, H, L, S};  // owns its values (an IntArrayRef would dangle)
      gems_tensor d[6] = {describe(out), describe(lse), describe(q), describe(k), describe(v),
                          bias.defined() ? describe_broadcast(bias, at::IntArrayRef(full)) : absent()};
      if (!forward_kernel().try_launch(launch_index(q.device()), d, 6, {scalar_arg(sc), int_arg(is_causal)})) {
        warn_composed("attention");
        const at::Tensor s = composed_scores(q, k, bias, sc, is_causal);
        lse.copy_(s.logsumexp(-1));
        out.copy_(at::matmul(composed_probs(s, lse), heads_for_queries(v, H).to(s.scalar_type())));
      }
    }
  }
  const auto seed_options = at::TensorOptions().dtype(at::kLong);
  return {out, lse, Tensor(), Tensor(), c10::SymInt(L), c10::SymInt(S), empty_result({}, seed_options),
          empty_result({}, seed_options), empty_result({0}, q.options())};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> fused_attention_overrideable_backward(
    const Tensor& grad_out, const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_bias,
    std::array<bool, 4> grad_input_mask, const Tensor& out, const Tensor& logsumexp, const Tensor& cum_seq_q,
    const Tensor& cum_seq_k, int64_t max_q, int64_t max_k, double dropout_p, bool is_causal,
    const Tensor& philox_seed, const Tensor& philox_offset, std::optional<double> scale) {
  backward_kernel().require(query.scalar_type(), 4);
  check_inputs(query, key, value);
  TORCH_CHECK_NOT_IMPLEMENTED(dropout_p == 0.0, "gems fused attention has no dropout; got dropout_p=", dropout_p);
  const int64_t B = query.size(0), H = query.size(1), L = query.size(2), S = key.size(2);
  const double sc = scale_of(query, scale);
  const at::Tensor q = rows_dense(query), k = rows_dense(key), v = rows_dense(value);
  const at::Tensor dout = rows_dense(grad_out.scalar_type() == q.scalar_type() ? grad_out : grad_out.to(q.scalar_type()));
  const at::Tensor o = rows_dense(out);
  at::Tensor bias = attn_bias.defined() ? rows_dense(additive_bias(attn_bias, q)) : at::Tensor();
  const bool want_dbias = grad_input_mask[3] && attn_bias.defined();
  at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
  at::Tensor dbias = want_dbias ? empty_result({B, H, L, S}, q.options()) : at::Tensor();
  if (q.numel() == 0 || k.numel() == 0 || S == 0 || L == 0) {
    dq.zero_(); dk.zero_(); dv.zero_();
    if (want_dbias) dbias.zero_();
  } else {
    const std::array<int64_t, 4> full{B, H, L, S};  // owns its values (an IntArrayRef would dangle)
    gems_tensor d[11] = {describe(dq), describe(dk), describe(dv), want_dbias ? describe(dbias) : absent(),
                         describe(dout), describe(q), describe(k), describe(v),
                         describe(o), describe(logsumexp), bias.defined() ? describe_broadcast(bias, at::IntArrayRef(full)) : absent()};
    if (!backward_kernel().try_launch(launch_index(q.device()), d, 11, {scalar_arg(sc), int_arg(is_causal)})) {
      warn_composed("attention_backward");
      const at::Tensor s = composed_scores(q, k, bias, sc, is_causal);
      const at::Tensor p = composed_probs(s, logsumexp.to(s.scalar_type()));
      const at::Tensor dof = dout.to(s.scalar_type());
      const at::Tensor vf = heads_for_queries(v, H).to(s.scalar_type());
      const at::Tensor D = (dof * o.to(s.scalar_type())).sum(-1, true);
      const at::Tensor ds = p * (at::matmul(dof, vf.transpose(-2, -1)) - D);
      dv.copy_(sum_over_group(at::matmul(p.transpose(-2, -1), dof), k.size(1)));
      dq.copy_(at::matmul(ds, heads_for_queries(k, H).to(s.scalar_type())).mul_(sc));
      dk.copy_(sum_over_group(at::matmul(ds.transpose(-2, -1), q.to(s.scalar_type())).mul_(sc), k.size(1)));
      if (want_dbias) dbias.copy_(ds);
    }
  }
  if (want_dbias) dbias = dbias.sum_to_size(attn_bias.sizes()).to(attn_bias.scalar_type());
  return {grad_input_mask[0] ? dq : Tensor(), grad_input_mask[1] ? dk : Tensor(), grad_input_mask[2] ? dv : Tensor(),
          want_dbias ? dbias : Tensor()};
}

}  // namespace ops
}  // namespace gems

namespace at::native {
// scaled_dot_product_attention asks this stub, not the _fused_sdp_choice op.
REGISTER_PRIVATEUSE1_DISPATCH(_fused_sdp_choice_stub, &gems::ops::fused_sdp_choice);
}  // namespace at::native
