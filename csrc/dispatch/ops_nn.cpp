// Normalisations, the NLL loss and fused cross entropy, forward and backward.
// The core makes rows contiguous and describes them as [M, N] matrices;
// statistics (mean, rstd) are kept in float32 for 16-bit inputs, as PyTorch's
// CUDA kernels keep them.
#include <ATen/ops/cross_entropy_loss_native.h>
#include <ATen/ops/cross_entropy_loss_ops.h>
#include <torch/csrc/autograd/custom_function.h>

#include "../../backends/common/batch_norm_apply.h"
#include "op_registry.h"
#include "ops.h"
#include "ops_common.h"

namespace gems::ops {
namespace {

// Splits input into [M, N] where N covers the trailing normalized_shape.
std::pair<int64_t, int64_t> rows_cols(const at::Tensor& input, at::IntArrayRef normalized_shape,
                                      const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias) {
  const int64_t nd = static_cast<int64_t>(normalized_shape.size());
  TORCH_CHECK(nd >= 1, "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got normalized_shape = ",
              normalized_shape);
  TORCH_CHECK(!weight || !weight->defined() || weight->sizes().equals(normalized_shape),
              "Expected weight to be of same shape as normalized_shape, but got weight of shape ", weight->sizes(),
              " and normalized_shape = ", normalized_shape);
  TORCH_CHECK(!bias || !bias->defined() || bias->sizes().equals(normalized_shape),
              "Expected bias to be of same shape as normalized_shape, but got bias of shape ", bias->sizes(),
              " and normalized_shape = ", normalized_shape);
  const int64_t axis = input.dim() - nd;
  bool ok = axis >= 0;
  for (int64_t i = 0; ok && i < nd; ++i) ok = input.size(axis + i) == normalized_shape[i];
  TORCH_CHECK(ok, "Given normalized_shape=", normalized_shape, ", expected input with shape [*",
              [&] { std::string s; for (int64_t v : normalized_shape) s += ", " + std::to_string(v); return s; }(),
              "], but got input of size", input.sizes());
  int64_t M = 1, N = 1;
  for (int64_t i = 0; i < axis; ++i) M *= input.size(i);
  for (int64_t i = axis; i < input.dim(); ++i) N *= input.size(i);
  return {M, N};
}

// Shape of mean/rstd: input's leading dims, 1 for each normalized dim.
at::DimVector stat_shape(const at::Tensor& input, int64_t normalized_dims) {
  at::DimVector s(input.sizes().begin(), input.sizes().end());
  for (int64_t i = input.dim() - normalized_dims; i < input.dim(); ++i) s[i] = 1;
  return s;
}

gems_tensor optional_vector(const std::optional<at::Tensor>& t, at::Tensor& holder, at::ScalarType dtype, int64_t n) {
  if (!t || !t->defined()) return absent();
  holder = t->to(dtype).contiguous();
  return as_matrix(holder, 1, n);
}

gems_tensor vec(const at::Tensor& t) {
  gems_tensor d = describe(t);
  d.ndim = 1;
  d.sizes[0] = t.numel();
  d.strides[0] = 1;
  return d;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> native_layer_norm(const at::Tensor& input,
                                                                 at::IntArrayRef normalized_shape,
                                                                 const std::optional<at::Tensor>& weight,
                                                                 const std::optional<at::Tensor>& bias, double eps) {
  static const Kernel k("layer_norm");
  k.require(input.scalar_type(), 2);
  const auto [M, N] = rows_cols(input, normalized_shape, weight, bias);
  const at::Tensor x = input.contiguous();
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  const auto shape = stat_shape(input, normalized_shape.size());
  at::Tensor mean = empty_result(shape, x.options().dtype(accumulate_type(x.scalar_type())));
  at::Tensor rstd = empty_result(shape, mean.options());
  at::Tensor w, b;
  if (M > 0) {
    gems_tensor d[6] = {as_matrix(out, M, N), vec(mean), vec(rstd), as_matrix(x, M, N),
                        optional_vector(weight, w, x.scalar_type(), N), optional_vector(bias, b, x.scalar_type(), N)};
    k.launch(launch_index(x.device()), d, 6, {scalar_arg(eps)});
  }
  return {out, mean, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> native_layer_norm_backward(
    const at::Tensor& grad_out, const at::Tensor& input, at::IntArrayRef normalized_shape, const at::Tensor& mean,
    const at::Tensor& rstd, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    std::array<bool, 3> mask) {
  static const Kernel k("layer_norm_backward");
  k.require(input.scalar_type(), 2);
  const auto [M, N] = rows_cols(input, normalized_shape, weight, bias);
  const at::Tensor x = input.contiguous(), dy = grad_out.to(input.scalar_type()).contiguous();
  const at::Tensor mu = mean.contiguous(), rs = rstd.contiguous();
  at::Tensor dx, dw, db, w;
  if (mask[0]) dx = at::empty_like(x, at::MemoryFormat::Contiguous);
  const bool has_weight = weight && weight->defined();
  if (mask[1] && has_weight) dw = empty_result(normalized_shape, x.options());
  if (mask[2] && bias && bias->defined()) db = empty_result(normalized_shape, x.options());
  if (M > 0) {
    gems_tensor d[8] = {dx.defined() ? as_matrix(dx, M, N) : absent(), dw.defined() ? as_matrix(dw, 1, N) : absent(),
                        db.defined() ? as_matrix(db, 1, N) : absent(), as_matrix(dy, M, N), as_matrix(x, M, N),
                        vec(mu), vec(rs), optional_vector(weight, w, x.scalar_type(), N)};
    k.launch(launch_index(x.device()), d, 8);
  } else {
    if (dw.defined()) dw.zero_();
    if (db.defined()) db.zero_();
  }
  if (dw.defined() && dw.scalar_type() != weight->scalar_type()) dw = dw.to(weight->scalar_type());
  return {dx, dw, db};
}

std::tuple<at::Tensor, at::Tensor> fused_rms_norm(const at::Tensor& input, at::IntArrayRef normalized_shape,
                                                  const std::optional<at::Tensor>& weight, std::optional<double> eps) {
  static const Kernel k("rms_norm");
  k.require(input.scalar_type(), 2);
  const auto [M, N] = rows_cols(input, normalized_shape, weight, std::nullopt);
  const at::Tensor x = input.contiguous();
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  at::Tensor rstd = empty_result(stat_shape(input, normalized_shape.size()), x.options().dtype(accumulate_type(x.scalar_type())));
  const double e = eps.value_or(x.scalar_type() == at::kDouble ? std::numeric_limits<double>::epsilon()
                                : x.scalar_type() == at::kFloat ? std::numeric_limits<float>::epsilon()
                                : x.scalar_type() == at::kHalf ? 0.0009765625 : 0.0078125);
  at::Tensor w;
  if (M > 0) {
    gems_tensor d[4] = {as_matrix(out, M, N), vec(rstd), as_matrix(x, M, N),
                        optional_vector(weight, w, x.scalar_type(), N)};
    k.launch(launch_index(x.device()), d, 4, {scalar_arg(e)});
  }
  return {out, rstd};
}

std::tuple<at::Tensor, at::Tensor> fused_rms_norm_backward(const at::Tensor& grad_out, const at::Tensor& input,
                                                           at::IntArrayRef normalized_shape, const at::Tensor& rstd,
                                                           const std::optional<at::Tensor>& weight,
                                                           std::array<bool, 2> mask) {
  static const Kernel k("rms_norm_backward");
  k.require(input.scalar_type(), 2);
  const auto [M, N] = rows_cols(input, normalized_shape, weight, std::nullopt);
  const at::Tensor x = input.contiguous(), dy = grad_out.to(input.scalar_type()).contiguous(), rs = rstd.contiguous();
  at::Tensor dx, dw, w;
  if (mask[0]) dx = at::empty_like(x, at::MemoryFormat::Contiguous);
  if (mask[1] && weight && weight->defined()) dw = empty_result(normalized_shape, x.options());
  if (M > 0) {
    gems_tensor d[6] = {dx.defined() ? as_matrix(dx, M, N) : absent(), dw.defined() ? as_matrix(dw, 1, N) : absent(),
                        as_matrix(dy, M, N), as_matrix(x, M, N), vec(rs),
                        optional_vector(weight, w, x.scalar_type(), N)};
    k.launch(launch_index(x.device()), d, 6);
  } else if (dw.defined()) {
    dw.zero_();
  }
  if (dw.defined() && dw.scalar_type() != weight->scalar_type()) dw = dw.to(weight->scalar_type());
  return {dx, dw};
}

// ---- NLL loss (what cross_entropy runs after log_softmax) ----
namespace {
void check_nll(const at::Tensor& self, const at::Tensor& target, const std::optional<at::Tensor>& weight) {
  TORCH_CHECK(self.dim() > 0 && self.dim() <= 2, "input tensor should be 1D or 2D");
  TORCH_CHECK(target.dim() <= 1, "0D or 1D target tensor expected, multi-target not supported");
  const int64_t n = self.dim() == 1 ? 1 : self.size(0);
  const int64_t tn = target.dim() == 0 ? 1 : target.size(0);
  TORCH_CHECK(self.dim() != 1 || target.dim() == 0, "1D target tensor expected, multi-target not supported");
  TORCH_CHECK(n == tn, "Expected input batch_size (", n, ") to match target batch_size (", tn, ").");
  TORCH_CHECK(target.scalar_type() == at::kLong, "expected scalar type Long but found ", target.scalar_type());
  const int64_t c = self.size(-1);
  TORCH_CHECK(!weight || !weight->defined() || weight->numel() == c,
              "weight tensor should be defined either for all ", c, " classes or no classes but got weight tensor of shape: ",
              weight->sizes());
}
}  // namespace

std::tuple<at::Tensor, at::Tensor> nll_loss_forward(const at::Tensor& self, const at::Tensor& target,
                                                    const std::optional<at::Tensor>& weight, int64_t reduction,
                                                    int64_t ignore_index) {
  static const Kernel k("nll_loss");
  k.require(self.scalar_type(), 2);
  check_nll(self, target, weight);
  const int64_t N = self.dim() == 1 ? 1 : self.size(0), C = self.size(-1);
  const at::Tensor lp = self.contiguous(), t = target.contiguous();
  at::Tensor out = reduction == 0 && self.dim() == 2 ? empty_result({N}, lp.options()) : empty_result({}, lp.options());
  at::Tensor total = empty_result({}, lp.options());
  at::Tensor w;
  gems_tensor tdesc = describe(t);
  tdesc.ndim = 1; tdesc.sizes[0] = N; tdesc.strides[0] = 1;
  gems_tensor odesc = describe(out);
  odesc.ndim = 1; odesc.sizes[0] = out.numel(); odesc.strides[0] = 1;
  gems_tensor d[5] = {odesc, describe(total), as_matrix(lp, N, C), tdesc, optional_vector(weight, w, lp.scalar_type(), C)};
  if (d[4].data) { d[4].ndim = 1; d[4].sizes[0] = C; d[4].strides[0] = 1; }
  k.launch(launch_index(self.device()), d, 5, {int_arg(reduction), int_arg(ignore_index)}, /*index_error=*/true);
  return {out, total};
}

at::Tensor nll_loss_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& target,
                             const std::optional<at::Tensor>& weight, int64_t reduction, int64_t ignore_index,
                             const at::Tensor& total_weight) {
  static const Kernel k("nll_loss_backward");
  k.require(self.scalar_type(), 2);
  check_nll(self, target, weight);
  const int64_t N = self.dim() == 1 ? 1 : self.size(0), C = self.size(-1);
  at::Tensor grad = empty_result(self.sizes(), self.options().memory_format(at::MemoryFormat::Contiguous));
  const at::Tensor go = grad_output.to(self.scalar_type()).contiguous(), t = target.contiguous();
  const at::Tensor tw = total_weight.to(self.scalar_type());
  at::Tensor w;
  gems_tensor tdesc = describe(t);
  tdesc.ndim = 1; tdesc.sizes[0] = N; tdesc.strides[0] = 1;
  gems_tensor gdesc = describe(go);
  gdesc.ndim = 1; gdesc.sizes[0] = go.numel(); gdesc.strides[0] = 1;
  gems_tensor d[5] = {as_matrix(grad, N, C), gdesc, tdesc, optional_vector(weight, w, self.scalar_type(), C),
                      describe(tw)};
  if (d[3].data) { d[3].ndim = 1; d[3].sizes[0] = C; d[3].strides[0] = 1; }
  k.launch(launch_index(self.device()), d, 5, {int_arg(reduction), int_arg(ignore_index)});
  return grad;
}

}  // namespace gems::ops

// ---- cross entropy, fused ----
// PyTorch composes cross_entropy from log_softmax and nll_loss (it is a
// CompositeImplicitAutograd op: three passes over the logits forward, three
// more backward, and a log-prob tensor as large as them). gems registers it on
// the backend and the autograd key: the forward reads the logits once (one
// kernel, which keeps each row's log-sum-exp), and when a gradient is needed
// an autograd node (CrossEntropyBackward) writes it in one more pass. Calls
// the kernels do not cover (probability targets, label smoothing, other
// ranks, a weight that needs a gradient) run PyTorch's own composition, on gems
// kernels; those are not counted as cross_entropy_loss.
namespace gems::ops {
namespace {

bool cross_entropy_fuses(const at::Tensor& self, const at::Tensor& target, const std::optional<at::Tensor>& weight,
                         int64_t reduction, double label_smoothing) {
  static const Kernel forward("cross_entropy"), backward("cross_entropy_backward");
  const bool weighted = weight && weight->defined();
  if (!forward.serves(self.scalar_type()) || label_smoothing != 0.0 || reduction < 0 || reduction > 2) return false;
  if (self.dim() != 2 || self.size(1) == 0 || target.dim() != 1 || target.scalar_type() != at::kLong ||
      target.size(0) != self.size(0) || target.device() != self.device())
    return false;  // what is left is shaped or typed wrongly: the composition raises PyTorch's error
  if (weighted && (weight->dim() != 1 || weight->size(0) != self.size(1) ||
                   weight->scalar_type() != self.scalar_type() || weight->device() != self.device()))
    return false;
  if (self._fw_grad(/*level=*/0).defined()) return false;  // forward-mode AD: PyTorch's formulas
  if (!at::GradMode::is_enabled()) return true;
  return !(weighted && weight->requires_grad()) && (!self.requires_grad() || backward.serves(self.scalar_type()));
}

// The fused kernel's per-sample rows: loss, the weight it counts with, log-sum-exp.
at::Tensor cross_entropy_rows(const at::Tensor& self, const at::Tensor& target, const std::optional<at::Tensor>& weight,
                              int64_t ignore_index) {
  static const Kernel k("cross_entropy");
  at::Tensor rows = empty_result({3, self.size(0)}, self.options().dtype(accumulate_type(self.scalar_type())));
  gems_tensor d[4] = {describe(rows), describe(self), describe(target),
                      weight && weight->defined() ? describe(*weight) : absent()};
  k.launch(launch_index(self.device()), d, 4, {int_arg(ignore_index)}, /*index_error=*/true);
  return rows;
}

// The loss from the rows; `total_weight` gets the mean's divisor.
at::Tensor reduce_rows(const at::Tensor& rows, int64_t reduction, at::ScalarType dtype, at::Tensor* total_weight) {
  if (reduction == at::Reduction::None) return rows[0].to(dtype, false, /*copy=*/true);
  if (reduction == at::Reduction::Sum) return rows[0].sum().to(dtype);
  const at::Tensor totals = rows.narrow(0, 0, 2).sum(1);  // mean: sum of losses over sum of weights
  if (total_weight) *total_weight = totals[1];
  return (totals[0] / totals[1]).to(dtype);
}

// d loss / d logits = g_i * w_i * (softmax(x_i) - onehot(y_i)), one pass.
struct CrossEntropyFunction : torch::autograd::Function<CrossEntropyFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& self, const at::Tensor& target,
                            const std::optional<at::Tensor>& weight, int64_t reduction, int64_t ignore_index) {
    const at::Tensor rows = cross_entropy_rows(self, target, weight, ignore_index);
    at::Tensor total_weight;
    at::Tensor loss = reduce_rows(rows, reduction, self.scalar_type(), &total_weight);
    ctx->save_for_backward({self, target, rows, total_weight});
    ctx->saved_data["reduction"] = reduction;
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &self = saved[0], &target = saved[1], &rows = saved[2], &total_weight = saved[3];
    const int64_t reduction = ctx->saved_data["reduction"].toInt();
    const at::ScalarType stat = rows.scalar_type();
    // each sample's factor g_i: the loss's gradient, over the total weight for a mean
    at::Tensor g = grads[0].to(stat);
    if (reduction == at::Reduction::Mean) g = g / total_weight;
    g = reduction == at::Reduction::None ? g : g.expand({self.size(0)});
    at::Tensor grad_self;
    if (at::GradMode::is_enabled()) {
      // create_graph: the same formula from differentiable ops, so that it can be differentiated again
      const int64_t C = self.size(1);
      const at::Tensor onehot = at::arange(C, target.options()).unsqueeze(0) == target.unsqueeze(1);
      grad_self = ((at::softmax(self, 1, stat) - onehot.to(stat)) * (g * rows[1]).unsqueeze(1)).to(self.scalar_type());
    } else {
      static const Kernel k("cross_entropy_backward");
      c10::OptionalDeviceGuard guard(self.device());
      NativeStreamScope stream(self.device());
      grad_self = empty_result(self.sizes(), self.options().memory_format(at::MemoryFormat::Contiguous));
      gems_tensor d[5] = {describe(grad_self), describe(g), describe(self), describe(target), describe(rows)};
      k.launch(launch_index(self.device()), d, 5);
    }
    return {grad_self, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor cross_entropy_fused(const at::Tensor& self, const at::Tensor& target, const std::optional<at::Tensor>& weight,
                               int64_t reduction, c10::SymInt ignore_index, double) {
  if (at::GradMode::is_enabled() && self.requires_grad())
    return CrossEntropyFunction::apply(self, target, weight, reduction, ignore_index.expect_int());
  at::AutoDispatchBelowADInplaceOrView below_autograd;  // no gradient is needed
  return reduce_rows(cross_entropy_rows(self, target, weight, ignore_index.expect_int()), reduction,
                     self.scalar_type(), nullptr);
}

}  // namespace

at::Tensor cross_entropy_loss(const at::Tensor& self, const at::Tensor& target, const std::optional<at::Tensor>& weight,
                              int64_t reduction, c10::SymInt ignore_index, double label_smoothing) {
  if (!cross_entropy_fuses(self, target, weight, reduction, label_smoothing))
    return at::native::cross_entropy_loss_symint(self, target, weight, reduction, std::move(ignore_index),
                                                 label_smoothing);
  return Served<at::_ops::cross_entropy_loss, &cross_entropy_fused>::call(self, target, weight, reduction,
                                                                         std::move(ignore_index), label_smoothing);
}

// softplus (Mamba's step sizes) and its backward, composed on gems kernels in
// float32 for 16-bit inputs, as PyTorch computes them: log1p(exp(beta x)) /
// beta, or x itself where beta x passes the threshold; the gradient is
// grad * sigmoid(beta x), or grad there. No vendor has a log1p kernel:
// log1p(y) = log(u) * y / (u - 1) with u = 1 + y, y itself where u rounds to
// 1 (Goldberg's identity: small exp(beta x) keep their relative precision).
namespace {
at::Tensor log1p_composed(const at::Tensor& y) {
  const at::Tensor u = at::add(y, 1);
  const at::Tensor d = at::sub(u, 1);
  const at::Tensor exact = at::where(at::eq(d, 0), y, at::mul(at::log(u), at::div(y, d)));
  return at::where(at::eq(u, std::numeric_limits<double>::infinity()), u, exact);  // log1p(inf) = inf
}

at::Tensor widened(const at::Tensor& t, const char* what) {
  if (!at::isFloatingType(t.scalar_type())) throw NotServed(what);
  return t.to(widened_type(t.scalar_type()));
}
}  // namespace

at::Tensor softplus(const at::Tensor& self, const c10::Scalar& beta, const c10::Scalar& threshold) {
  const at::Tensor x = widened(self, "softplus of a non-float dtype");
  const at::Tensor z = at::mul(x, beta);
  const at::Tensor soft = at::div(log1p_composed(at::exp(z)), beta);
  return at::where(at::gt(z, threshold), x, soft).to(self.scalar_type());
}
at::Tensor& softplus_out(const at::Tensor& self, const c10::Scalar& beta, const c10::Scalar& threshold,
                         at::Tensor& out) {
  return write_out(out, ops::softplus(self, beta, threshold));
}
at::Tensor softplus_backward(const at::Tensor& grad_output, const at::Tensor& self, const c10::Scalar& beta,
                             const c10::Scalar& threshold) {
  const at::Tensor x = widened(self, "softplus_backward of a non-float dtype");
  const at::Tensor z = at::mul(x, beta);
  const at::Tensor g = widened(grad_output, "softplus_backward of a non-float dtype");
  return at::where(at::gt(z, threshold), g, at::mul(g, at::sigmoid(z))).to(grad_output.scalar_type());
}
at::Tensor& softplus_backward_out(const at::Tensor& grad_output, const at::Tensor& self, const c10::Scalar& beta,
                                  const c10::Scalar& threshold, at::Tensor& grad_input) {
  return write_out(grad_input, ops::softplus_backward(grad_output, self, beta, threshold));
}

// mse_loss (regression heads: HF's *ForSequenceClassification with one label)
// and its backward, composed on gems kernels: (x - y)^2 reduced by mean or sum
// (or not), and 2 (x - y) grad (over the element count for mean).
namespace {
at::Tensor reduced(const at::Tensor& t, int64_t reduction) {
  if (reduction == at::Reduction::Mean) return at::mean(t);
  if (reduction == at::Reduction::Sum) return at::sum(t);
  return t;
}
}  // namespace

at::Tensor mse_loss(const at::Tensor& self, const at::Tensor& target, int64_t reduction) {
  const at::Tensor diff = at::sub(self, target);
  return reduced(at::mul(diff, diff), reduction);
}
at::Tensor& mse_loss_out(const at::Tensor& self, const at::Tensor& target, int64_t reduction, at::Tensor& out) {
  return write_out(out, ops::mse_loss(self, target, reduction));
}
at::Tensor mse_loss_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& target,
                             int64_t reduction) {
  const double norm = reduction == at::Reduction::Mean ? 2.0 / static_cast<double>(self.numel()) : 2.0;
  return at::mul(at::mul(at::sub(self, target), norm), grad_output);
}
at::Tensor& mse_loss_backward_out(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& target,
                                  int64_t reduction, at::Tensor& grad_input) {
  return write_out(grad_input, ops::mse_loss_backward(grad_output, self, target, reduction));
}

// Dropout in training: keep each element with probability 1 - p, scaled by
// 1 / (1 - p), as PyTorch does (a bool mask, as on CUDA): one launch of the
// vendor's dropout kernel, which draws element i's mask from the gems
// generator's (seed, offset + i), so a seed gives the same mask on every vendor.
std::tuple<at::Tensor, at::Tensor> native_dropout(const at::Tensor& input, double p, std::optional<bool> train) {
  static const Kernel k("dropout");
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("dropout");  // PyTorch's words for the error
  k.require(input.scalar_type());
  if (input.numel() == 0) return {input.clone(), at::empty_like(input)};
  if (train.has_value() && !*train) return {input.clone(), at::ones_like(input, input.options().dtype(at::kBool))};
  const double keep = 1.0 - p;
  TORCH_CHECK(keep >= 0 && keep <= 1, "bernoulli_ expects p to be in [0, 1], but got p=", keep);
  const at::Tensor x = input.contiguous();
  at::Tensor out = empty_result(x.sizes(), x.options());
  at::Tensor mask = empty_result(x.sizes(), x.options().dtype(at::kBool));
  const auto [seed, offset] = reserve_random(std::nullopt, x.device().index(), static_cast<uint64_t>(x.numel()));
  const gems_tensor desc[3] = {describe(out), describe(mask), describe(x)};
  k.launch(launch_index(x.device()), desc, 3,
           {scalar_arg(keep), scalar_arg(keep == 0 ? 0.0 : 1.0 / keep), int_arg(static_cast<int64_t>(seed)),
            int_arg(static_cast<int64_t>(offset)), int_arg(1)});
  return {out, mask};
}

// grad * mask * scale in one launch of the same kernel, the mask given.
at::Tensor native_dropout_backward(const at::Tensor& grad_output, const at::Tensor& mask, double scale) {
  static const Kernel k("dropout");
  // PyTorch's CPU takes float masks too, and gives integer gradients a float result
  if (mask.scalar_type() != at::kBool || !at::isFloatingType(grad_output.scalar_type()) ||
      !at::is_expandable_to(mask.sizes(), grad_output.sizes()))
    throw NotServed("dropout");
  k.require(grad_output.scalar_type());
  one_device({&grad_output, &mask});
  at::Tensor out = empty_result(grad_output.sizes(), grad_output.options());
  if (out.numel() == 0) return out;
  const gems_tensor desc[3] = {describe(out), describe_broadcast(mask, grad_output.sizes()), describe(grad_output)};
  k.launch(launch_index(out.device()), desc, 3, {scalar_arg(0.0), scalar_arg(scale), int_arg(0), int_arg(0), int_arg(0)});
  return out;
}

}  // namespace gems::ops

// ---- batch and group normalisation: reductions and pointwise kernels, in
// float32 for 16-bit inputs (one rounding of the result, as PyTorch's
// kernels), the group statistics by the layer_norm kernel ----
namespace gems::ops {
namespace {

// Float inputs only (CPU's kernels refuse other dtypes, with their message).
void require_floating(const at::Tensor& input) {
  if (!at::isFloatingType(input.scalar_type()) || input.scalar_type() == at::kFloat8_e4m3fn ||
      input.scalar_type() == at::kFloat8_e5m2)
    throw NotServed("normalisation of a non-float dtype");
}

// The dtype of saved statistics, by PyTorch's CPU rule: the call is mixed
// when its first defined parameter's dtype differs from the input's; then
// every parameter must be float32 and the input 16-bit (PyTorch's CPU errors
// otherwise), and the statistics are float32; else the input's dtype.
at::ScalarType saved_stat_type(const at::Tensor& input, std::initializer_list<const std::optional<at::Tensor>*> params) {
  auto defined = [](const std::optional<at::Tensor>* p) { return *p && (*p)->defined(); };
  const std::optional<at::Tensor>* const* first = std::find_if(params.begin(), params.end(), defined);
  if (first == params.end() || (**first)->scalar_type() == input.scalar_type()) return input.scalar_type();
  for (const auto* p : params)
    TORCH_CHECK(!defined(p) || (*p)->scalar_type() == at::kFloat,
                "mixed dtype (CPU): expect parameter to have scalar type of Float");
  TORCH_CHECK(is_16_bit(input.scalar_type()), "mixed dtype (CPU): all inputs must share same datatype.");
  return at::kFloat;
}

// The computation dtype: float32 for 16-bit inputs.
at::Tensor widened(const at::Tensor& t) { return t.to(widened_type(t.scalar_type())); }

// An input [N, C, ...] as [N, C, S] for the per-channel kernels (a view for
// contiguous and channels-last layouts).
at::Tensor channels_view(const at::Tensor& t) { return t.reshape({t.size(0), t.size(1), -1}); }

// The vendor's one-pass statistics of each channel of x3 [N, C, S]: its mean
// and biased variance, in the compute dtype.
std::pair<at::Tensor, at::Tensor> channel_statistics(c10::DeviceIndex device, const at::Tensor& x3,
                                                     at::ScalarType compute) {
  static const Kernel k("batch_norm_stats");
  k.require(x3.scalar_type());
  const at::TensorOptions vec = x3.options().dtype(compute);
  at::Tensor mean = at::empty({x3.size(1)}, vec), var = at::empty({x3.size(1)}, vec);
  const gems_tensor d[3] = {describe(mean), describe(var), describe(x3)};
  k.launch(device, d, 3);
  return {mean, var};
}

// The vendor's one-pass sums of each channel of dy3 and x3 [N, C, S]: sum(dy)
// and sum(dy * (x - mean)), in mean's dtype.
std::pair<at::Tensor, at::Tensor> channel_gradient_sums(c10::DeviceIndex device, const at::Tensor& dy3,
                                                        const at::Tensor& x3, const at::Tensor& mean) {
  static const Kernel k("batch_norm_backward_reduce");
  k.require(x3.scalar_type());
  at::Tensor sum_dy = at::empty({x3.size(1)}, mean.options()), sum_dy_xmu = at::empty({x3.size(1)}, mean.options());
  const gems_tensor d[5] = {describe(sum_dy), describe(sum_dy_xmu), describe(dy3), describe(x3), describe(mean)};
  k.launch(device, d, 5);
  return {sum_dy, sum_dy_xmu};
}

// A vector as an operand of batch_norm_coefficients or group_norm_coefficients:
// as it is where its dtype is one the kernels read and write in place
// (float32, float64, float16, bfloat16: backends/common/batch_norm_operands.h),
// else converted to the compute dtype.
at::ScalarType coefficient_type(at::ScalarType type, at::ScalarType compute) {
  const bool direct = type == at::kFloat || type == at::kDouble || type == at::kHalf || type == at::kBFloat16;
  return direct ? type : compute;
}
at::Tensor coefficient_vector(const at::Tensor& t, at::ScalarType compute) {
  return t.to(coefficient_type(t.scalar_type(), compute)).reshape({-1});
}

// An optional per-channel parameter as such an operand with its flag set, or
// the placeholder when absent.
at::Tensor channel_operand(const std::optional<at::Tensor>& t, at::ScalarType compute, const at::Tensor& placeholder,
                           int64_t& flags, int64_t flag) {
  if (!t || !t->defined()) return placeholder;
  flags |= flag;
  return coefficient_vector(*t, compute);
}

// The vendor's per-channel coefficients: the nine (or ten) [C] vectors in the
// order of backends/common/batch_norm_operands.h, the first in the compute dtype.
void launch_batch_norm_coefficients(c10::DeviceIndex device, c10::ArrayRef<at::Tensor> vectors, int64_t mode,
                                    int64_t flags, double eps, double momentum, int64_t count) {
  static const Kernel k("batch_norm_coefficients");
  k.require(vectors.front().scalar_type());
  c10::SmallVector<gems_tensor, 10> d;
  for (const at::Tensor& v : vectors) d.push_back(describe(v));
  k.launch(device, d.data(), static_cast<int32_t>(d.size()),
           {int_arg(mode), int_arg(flags), scalar_arg(eps), scalar_arg(momentum), int_arg(count)});
}

// y = shift + x * scale (+ dy * dy_scale) per channel, y, x and dy viewed [N, C, S].
void launch_channel_affine(c10::DeviceIndex device, at::Tensor& y, const at::Tensor& x, const at::Tensor& scale,
                           const at::Tensor& shift, const at::Tensor* dy = nullptr, const at::Tensor* dy_scale = nullptr) {
  static const Kernel k("channel_affine");
  k.require(x.scalar_type());
  const at::Tensor y3 = channels_view(y), x3 = channels_view(x), g3 = dy ? channels_view(*dy) : at::Tensor();
  TORCH_INTERNAL_ASSERT(y3.is_alias_of(y), "channel_affine: the output must be viewable as [N, C, S]");
  c10::SmallVector<gems_tensor, 6> d = {describe(y3), describe(x3), describe(scale), describe(shift)};
  if (dy) {
    d.push_back(describe(g3));
    d.push_back(describe(*dy_scale));
  }
  k.launch(device, d.data(), static_cast<int32_t>(d.size()));
}

void check_channel_vector(const std::optional<at::Tensor>& t, const char* name, int64_t channels) {
  if (t && t->defined())
    TORCH_CHECK(t->numel() == channels, name, " should contain ", channels, " elements not ", t->numel());
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> native_batch_norm(
    const at::Tensor& input, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var, bool training,
    double momentum, double eps) {
  require_floating(input);
  TORCH_CHECK(input.dim() >= 2, "batch_norm: expected an input of at least 2 dims (N, C, ...), but got input of size ",
              input.sizes());
  TORCH_CHECK(input.numel() > 0, "input tensor must have at least one element, but got input_sizes = ",
              input.sizes());
  const int64_t channels = input.size(1);
  check_channel_vector(weight, "weight", channels);
  check_channel_vector(bias, "bias", channels);
  check_channel_vector(running_mean, "running_mean", channels);
  check_channel_vector(running_var, "running_var", channels);
  const bool has_running = running_mean && running_mean->defined() && running_var && running_var->defined();
  TORCH_CHECK(training || has_running, "batch_norm: running_mean and running_var must be defined in evaluation mode");
  const at::ScalarType stat = saved_stat_type(input, {&weight, &bias, &running_mean, &running_var});
  const at::ScalarType compute = widened_type(input.scalar_type());
  const c10::DeviceIndex device = launch_index(input.device());
  at::Tensor mean, var;
  if (training) {
    std::tie(mean, var) = channel_statistics(device, channels_view(input), compute);
  } else {
    mean = coefficient_vector(*running_mean, compute);
    var = coefficient_vector(*running_var, compute);
  }
  // Per channel, in one launch: invstd (in the saved statistics' dtype),
  // scale = invstd * weight, shift = bias - mean * scale, the running
  // statistics moved in place and, where the saved statistics' dtype is not
  // the compute dtype (16-bit models), the saved mean written in it; each
  // vector read and written in its own dtype.
  const bool update = training && has_running, save_mean = training && stat != compute;
  int64_t flags = (update ? kBatchNormUpdateRunning : 0) | (save_mean ? kBatchNormSaveMean : 0);
  const at::TensorOptions vec = input.options().dtype(compute);
  const at::Tensor w = channel_operand(weight, compute, mean, flags, kBatchNormHasWeight);
  const at::Tensor b = channel_operand(bias, compute, mean, flags, kBatchNormHasBias);
  const at::Tensor rm = update ? coefficient_vector(*running_mean, compute) : mean,
                   rv = update ? coefficient_vector(*running_var, compute) : mean;
  at::Tensor scale = at::empty({channels}, vec), shift = at::empty({channels}, vec),
             invstd = at::empty({channels}, vec.dtype(training ? stat : compute)),
             saved_mean = save_mean ? at::empty({channels}, vec.dtype(stat)) : mean;
  c10::SmallVector<at::Tensor, 10> vectors = {scale, shift, invstd, mean, var, w, b, rm, rv};
  if (save_mean) vectors.push_back(saved_mean);
  launch_batch_norm_coefficients(device, vectors, kBatchNormForward, flags, eps, momentum, input.numel() / channels);
  // Running statistics of a dtype the kernel does not write (none of PyTorch's own) went through a copy.
  if (update && !rm.is_alias_of(*running_mean)) running_mean->copy_(rm.view_as(*running_mean));
  if (update && !rv.is_alias_of(*running_var)) running_var->copy_(rv.view_as(*running_var));
  // out = shift + x * scale, one pass in the input's dtype.
  at::Tensor out = at::empty(input.sizes(), input.options().memory_format(input.suggest_memory_format()));
  launch_channel_affine(device, out, input, scale, shift);
  if (!training) return {out, at::empty({0}, input.options().dtype(stat)), at::empty({0}, input.options().dtype(stat))};
  return {out, saved_mean, invstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> native_batch_norm_backward(
    const at::Tensor& grad_out, const at::Tensor& input, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    const std::optional<at::Tensor>& save_mean, const std::optional<at::Tensor>& save_invstd, bool train, double eps,
    std::array<bool, 3> mask) {
  require_floating(input);
  TORCH_CHECK(input.dim() >= 2 && input.numel() > 0, "batch_norm_backward: input of size ", input.sizes());
  TORCH_CHECK(grad_out.sizes() == input.sizes(), "batch_norm_backward: grad_out of size ", grad_out.sizes(),
              " for an input of size ", input.sizes());
  const int64_t channels = input.size(1);
  const at::ScalarType compute = widened_type(input.scalar_type());
  const c10::DeviceIndex device = launch_index(input.device());
  at::Tensor mean, invstd;
  if (train) {
    TORCH_CHECK(save_mean && save_mean->defined() && save_invstd && save_invstd->defined(),
                "batch_norm_backward: the saved mean and invstd must be defined in training mode");
    mean = save_mean->to(compute);  // batch_norm_backward_reduce reads it in the compute dtype
    invstd = coefficient_vector(*save_invstd, compute);
  } else {
    TORCH_CHECK(running_mean && running_mean->defined() && running_var && running_var->defined(),
                "batch_norm_backward: running_mean and running_var must be defined in evaluation mode");
    mean = running_mean->to(compute);
    invstd = (running_var->to(compute) + eps).rsqrt();
  }
  const at::Tensor g = grad_out.to(input.scalar_type());
  // Per channel: sum_dy and sum_dy_xmu = sum(dy * (x - mean)), by the vendor's one-pass reduction.
  at::Tensor sum_dy = mean, sum_dy_xmu = mean;
  if (train || mask[1] || mask[2])
    std::tie(sum_dy, sum_dy_xmu) = channel_gradient_sums(device, channels_view(g), channels_view(input), mean);
  // dx = dy * a + x * b + c per channel; grad_weight = sum_dy_xmu * invstd.
  int64_t flags = train ? kBatchNormTraining : 0;
  const at::Tensor w = channel_operand(weight, compute, mean, flags, kBatchNormHasWeight);
  const at::ScalarType param_type = weight && weight->defined() ? weight->scalar_type() : input.scalar_type();
  // grad_weight is written in the parameter's dtype where the kernel writes it.
  const at::ScalarType grad_weight_type = coefficient_type(param_type, compute);
  at::Tensor a = at::empty({channels}, mean.options()), b = at::empty({channels}, mean.options()),
             c = at::empty({channels}, mean.options()),
             grad_weight_sum = at::empty({channels}, mean.options().dtype(grad_weight_type));
  launch_batch_norm_coefficients(device, {a, b, c, grad_weight_sum, mean, invstd, w, sum_dy, sum_dy_xmu},
                                 kBatchNormBackward, flags, eps, 0, input.numel() / channels);
  at::Tensor grad_input, grad_weight, grad_bias;
  if (mask[0]) {
    grad_input = at::empty(input.sizes(), input.options().memory_format(input.suggest_memory_format()));
    // In evaluation b and c are 0: dx = 0 + dy * a, without x (an x of inf
    // times 0 would be NaN).
    if (train)
      launch_channel_affine(device, grad_input, input, b, c, &g, &a);
    else
      launch_channel_affine(device, grad_input, g, a, c);
  }
  if (mask[1]) grad_weight = grad_weight_sum.to(param_type);
  if (mask[2]) grad_bias = sum_dy.to(param_type);
  return {grad_input, grad_weight, grad_bias};
}

// Group norm on batch_norm's kernels: each (sample, group) is a channel of
// the statistics over the contiguous input viewed [1, N * G, C / G * HxW];
// group_norm_coefficients folds them and the affine into per-(sample,
// channel) coefficients; channel_affine makes one pass over the input.
namespace {
void launch_group_norm_coefficients(c10::DeviceIndex device, c10::ArrayRef<at::Tensor> vectors, int64_t mode,
                                    int64_t flags, double eps, int64_t count) {
  static const Kernel k("group_norm_coefficients");
  k.require(vectors.front().scalar_type());
  c10::SmallVector<gems_tensor, 10> d;
  for (const at::Tensor& v : vectors) d.push_back(describe(v));
  k.launch(device, d.data(), static_cast<int32_t>(d.size()),
           {int_arg(mode), int_arg(flags), scalar_arg(eps), scalar_arg(static_cast<double>(count))});
}
}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> native_group_norm(const at::Tensor& input,
                                                                 const std::optional<at::Tensor>& weight,
                                                                 const std::optional<at::Tensor>& bias, int64_t N,
                                                                 int64_t C, int64_t HxW, int64_t group, double eps) {
  require_floating(input);
  TORCH_CHECK(group > 0 && C % group == 0, "Expected number of channels in input to be divisible by num_groups, ",
              "but got input of shape ", input.sizes(), " and num_groups=", group);
  TORCH_CHECK(!weight || !weight->defined() || (weight->dim() == 1 && weight->numel() == C),
              "Expected weight to be a vector of size equal to the number of channels in input, but got weight of shape ",
              weight->sizes(), " and input of shape ", input.sizes());
  TORCH_CHECK(!bias || !bias->defined() || (bias->dim() == 1 && bias->numel() == C),
              "Expected bias to be a vector of size equal to the number of channels in input, but got bias of shape ",
              bias->sizes(), " and input of shape ", input.sizes());
  TORCH_CHECK(input.numel() == N * C * HxW, "Expected input to have ", N * C * HxW, " elements, but got ",
              input.numel());
  const at::ScalarType stat = saved_stat_type(input, {&weight, &bias});
  if (input.numel() == 0) {  // as CPU: groups without elements have mean 0 and rstd NaN (0/0 variance)
    return {at::empty_like(input), at::zeros({N, group}, input.options().dtype(stat)),
            at::full({N, group}, std::numeric_limits<double>::quiet_NaN(), input.options().dtype(stat))};
  }
  const at::ScalarType compute = widened_type(input.scalar_type());
  const c10::DeviceIndex device = launch_index(input.device());
  const at::Tensor x = input.contiguous();
  const int64_t rows = N * group;
  const at::Tensor x3 = x.view({1, rows, -1});
  const auto [mean, var] = channel_statistics(device, x3, compute);
  const at::Tensor rstd = at::empty({rows}, mean.options().dtype(stat)), scale = at::empty({N * C}, mean.options()),
                   shift = at::empty({N * C}, mean.options()), none = at::empty({C}, mean.options());
  // The saved mean in its own dtype (16-bit models) from the same launch.
  const bool save_mean = stat != compute;
  int64_t flags = save_mean ? kBatchNormSaveMean : 0;
  const at::Tensor w = channel_operand(weight, compute, none, flags, kBatchNormHasWeight);
  const at::Tensor b = channel_operand(bias, compute, none, flags, kBatchNormHasBias);
  const at::Tensor saved_mean = save_mean ? at::empty({rows}, mean.options().dtype(stat)) : mean;
  c10::SmallVector<at::Tensor, 8> vectors = {scale, shift, rstd, mean, var, w, b};
  if (save_mean) vectors.push_back(saved_mean);
  launch_group_norm_coefficients(device, vectors, kBatchNormForward, flags, eps, x3.size(2));
  at::Tensor out = at::empty(input.sizes(), input.options());
  at::Tensor y = out.view({1, N * C, HxW});
  launch_channel_affine(device, y, x.view({1, N * C, HxW}), scale, shift);
  out = out.contiguous(input.suggest_memory_format());
  return {out, saved_mean.view({N, group}), rstd.view({N, group})};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> native_group_norm_backward(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& mean, const at::Tensor& rstd,
    const std::optional<at::Tensor>& weight, int64_t N, int64_t C, int64_t HxW, int64_t group,
    std::array<bool, 3> mask) {
  require_floating(input);
  if (input.numel() == 0) {
    const at::TensorOptions param = input.options().dtype(weight && weight->defined() ? weight->scalar_type()
                                                                                      : input.scalar_type());
    return {mask[0] ? at::empty_like(input) : at::Tensor(), mask[1] ? at::zeros({C}, param) : at::Tensor(),
            mask[2] ? at::zeros({C}, param) : at::Tensor()};
  }
  // Per (sample, channel) sums of dy and dy * x by batch_norm's reduction
  // over [1, N * C, HxW] (a zero mean); group_norm_coefficients turns them
  // into dx = dy * dy_scale + x * x_scale + shift per (sample, channel) and the
  // parameters' gradients (PyTorch CPU's formulas); dx in one channel_affine pass.
  const at::ScalarType compute = widened_type(input.scalar_type());
  const c10::DeviceIndex device = launch_index(input.device());
  const at::Tensor x = input.contiguous(), g = grad_out.to(input.scalar_type()).contiguous();
  const at::Tensor x3 = x.view({1, N * C, HxW}), g3 = g.view({1, N * C, HxW});
  const at::TensorOptions vec = input.options().dtype(compute);
  const auto [sum_dy, sum_dyx] = channel_gradient_sums(device, g3, x3, at::zeros({N * C}, vec));
  // The parameters' gradients written in the parameter's dtype where the kernel writes it.
  const at::ScalarType param_type = weight && weight->defined() ? weight->scalar_type() : input.scalar_type();
  const at::TensorOptions grads = vec.dtype(coefficient_type(param_type, compute));
  const at::Tensor dy_scale = at::empty({N * C}, vec), x_scale = at::empty({N * C}, vec),
                   shift = at::empty({N * C}, vec), grad_w = at::empty({C}, grads), grad_b = at::empty({C}, grads);
  int64_t flags = 0;
  const at::Tensor w = channel_operand(weight, compute, grad_w, flags, kBatchNormHasWeight);
  launch_group_norm_coefficients(device,
                                 {dy_scale, x_scale, shift, grad_w, grad_b, sum_dy, sum_dyx,
                                  coefficient_vector(mean, compute), coefficient_vector(rstd, compute), w},
                                 kBatchNormBackward, flags, 0.0, C / group * HxW);
  at::Tensor grad_input, grad_weight, grad_bias;
  if (mask[0]) {
    grad_input = at::empty(input.sizes(), input.options());
    at::Tensor dx3 = grad_input.view({1, N * C, HxW});
    launch_channel_affine(device, dx3, x3, x_scale, shift, &g3, &dy_scale);
    grad_input = grad_input.contiguous(input.suggest_memory_format());
  }
  if (mask[1]) grad_weight = grad_w.to(param_type);
  if (mask[2]) grad_bias = grad_b.to(param_type);
  return {grad_input, grad_weight, grad_bias};
}

// Weight normalisation (nn.utils.weight_norm, wav2vec2's positional
// convolution): w = v * (g / ||v||), the norm over every dim but `dim`, in
// float32 for 16-bit weights (the norm is returned in float32 then, as on CPU).
namespace {
at::DimVector all_but(int64_t dims, int64_t keep) {
  at::DimVector d;
  for (int64_t i = 0; i < dims; ++i)
    if (i != keep) d.push_back(i);
  return d;
}
void check_weight_norm_dim(const at::Tensor& v, int64_t dim) {
  TORCH_CHECK(dim == 0 || dim == v.dim() - 1, "fused kernels can only be applied for first or last dim");
}
}  // namespace

std::tuple<at::Tensor, at::Tensor> weight_norm_interface(const at::Tensor& v, const at::Tensor& g, int64_t dim) {
  require_floating(v);
  check_weight_norm_dim(v, dim);
  const at::Tensor vf = widened(v);
  const at::Tensor norm = at::linalg_vector_norm(vf, 2, all_but(v.dim(), dim), /*keepdim=*/true);
  const at::Tensor w = (vf * (widened(g) / norm)).to(v.scalar_type());
  return {w, norm};
}

std::tuple<at::Tensor, at::Tensor> weight_norm_interface_backward(const at::Tensor& grad_w, const at::Tensor& saved_v,
                                                                  const at::Tensor& saved_g,
                                                                  const at::Tensor& saved_norms, int64_t dim) {
  require_floating(saved_v);
  check_weight_norm_dim(saved_v, dim);
  TORCH_CHECK(saved_v.is_contiguous(), "saved_v must be contiguous");
  TORCH_CHECK(saved_g.is_contiguous(), "saved_g must be contiguous");
  TORCH_CHECK(saved_norms.is_contiguous(), "saved_norm must be contiguous");
  const at::Tensor v = widened(saved_v), g = widened(saved_g), gw = widened(grad_w);
  const at::Tensor norm = saved_norms.to(v.scalar_type());
  const at::Tensor s = (gw * v).sum(all_but(v.dim(), dim), /*keepdim=*/true);
  const at::Tensor grad_g = (s / norm).to(saved_g.scalar_type());
  const at::Tensor grad_v = ((g / norm) * (gw - v * (s / (norm * norm)))).to(saved_v.scalar_type());
  return {grad_v, grad_g};
}

}  // namespace gems::ops
