// Reductions and softmax. The core decides which dims are reduced and hands
// the vendor the input with those dims moved last (a permuted descriptor, no
// copy), so one kernel serves any set of dims.
#include <cmath>

#include <ATen/WrapDimUtils.h>
#include <ATen/WrapDimUtilsMulti.h>

#include "ops.h"
#include "ops_common.h"

namespace gems::ops {
namespace {

struct Plan {
  std::vector<int64_t> kept, reduced;  // dims of self
  at::DimVector out_shape;             // with keepdim applied
};

Plan plan(const at::Tensor& self, at::OptionalIntArrayRef dims, bool keepdim) {
  Plan p;
  const int64_t nd = self.dim();
  std::vector<bool> reduce(std::max<int64_t>(nd, 1), false);
  if (!dims || dims->empty()) {
    std::fill(reduce.begin(), reduce.end(), true);
  } else {
    for (int64_t d : *dims) {
      const int64_t w = at::maybe_wrap_dim(d, nd);
      TORCH_CHECK(!reduce[w], "dim ", w, " appears multiple times in the list of dims");
      reduce[w] = true;
    }
  }
  for (int64_t d = 0; d < nd; ++d) {
    (reduce[d] ? p.reduced : p.kept).push_back(d);
    if (!reduce[d]) p.out_shape.push_back(self.size(d));
    else if (keepdim) p.out_shape.push_back(1);
  }
  return p;
}

// self's descriptor with kept dims first, then reduced dims.
gems_tensor permuted(const at::Tensor& self, const Plan& p) {
  gems_tensor d = describe(self);
  int i = 0;
  for (int64_t k : p.kept) { d.sizes[i] = self.size(k); d.strides[i] = self.stride(k); ++i; }
  for (int64_t k : p.reduced) { d.sizes[i] = self.size(k); d.strides[i] = self.stride(k); ++i; }
  return d;
}

// out's descriptor restricted to the kept dims (keepdim's 1s dropped).
gems_tensor kept_only(const at::Tensor& out, const Plan& p, bool keepdim) {
  gems_tensor d = describe(out);
  if (!keepdim) return d;
  int i = 0;
  for (int64_t k : p.kept) { d.sizes[i] = out.size(k); d.strides[i] = out.stride(k); ++i; }
  d.ndim = i;
  return d;
}

void check_nonempty(const at::Tensor& self, const Plan& p, const char* name) {
  for (int64_t d : p.reduced)
    TORCH_CHECK_INDEX(self.size(d) != 0, name, "(): Expected reduction dim ", d, " to have non-zero size.");
}

// out = kernel over the planned dims; input cast to `in_type` first.
at::Tensor& reduce_into(const Kernel& k, at::Tensor& out, bool fresh, const at::Tensor& self, at::OptionalIntArrayRef dims,
                        bool keepdim, at::ScalarType in_type, at::ScalarType out_type,
                        at::Tensor* indices = nullptr) {
  k.require(in_type, self.dim());
  const Plan p = plan(self, dims, keepdim);
  const at::Tensor input = self.scalar_type() == in_type ? self : self.to(in_type);
  if (fresh) out = empty_result(p.out_shape, self.options().dtype(out_type));
  else at::native::resize_output(out, p.out_shape);
  at::Tensor target = out.scalar_type() == in_type ? out : empty_result(p.out_shape, self.options().dtype(in_type));
  if (indices) {
    if (!indices->defined()) *indices = empty_result(p.out_shape, self.options().dtype(at::kLong));
    else at::native::resize_output(*indices, p.out_shape);
  }
  if (target.numel() > 0) {
    gems_tensor d[3] = {kept_only(target, p, keepdim), permuted(input, p),
                        indices ? kept_only(*indices, p, keepdim) : absent()};
    k.launch(launch_index(self.device()), d, indices ? 3 : 2);
  }
  if (!target.is_same(out)) out.copy_(target);
  return out;
}

at::ScalarType sum_type(const at::Tensor& self, std::optional<at::ScalarType> dtype) {
  if (dtype) return *dtype;
  return at::isIntegralType(self.scalar_type(), true) ? at::kLong : self.scalar_type();
}

at::ScalarType mean_type(const at::Tensor& self, std::optional<at::ScalarType> dtype) {
  const at::ScalarType t = dtype.value_or(self.scalar_type());
  TORCH_CHECK(at::isFloatingType(t) || at::isComplexType(t),
              "mean(): could not infer output dtype. ", dtype ? "Optional" : "Input",
              " dtype must be either a floating point or complex dtype. Got: ", t);
  return t;
}

// max/min and friends: values (and indices) over the planned dims.
std::tuple<at::Tensor, at::Tensor> extreme(bool is_max, const at::Tensor& self, at::OptionalIntArrayRef dims,
                                           bool keepdim, bool want_indices, const char* name) {
  static const Kernel kmax("reduce_max"), kmin("reduce_min");
  const Kernel& k = is_max ? kmax : kmin;
  check_nonempty(self, plan(self, dims, keepdim), name);
  at::Tensor values, indices;
  reduce_into(k, values, true, self, dims, keepdim, self.scalar_type(), self.scalar_type(),
              want_indices ? &indices : nullptr);
  return {values, indices};
}

}  // namespace

at::Tensor sum(const at::Tensor& self, std::optional<at::ScalarType> dtype) {
  return sum_dim(self, std::nullopt, false, dtype);
}
at::Tensor sum_dim(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                   std::optional<at::ScalarType> dtype) {
  static const Kernel k("reduce_sum");
  const at::ScalarType t = sum_type(self, dtype);
  at::Tensor out;
  return reduce_into(k, out, true, self, dim, keepdim, t, t);
}
at::Tensor& sum_out(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                    std::optional<at::ScalarType> dtype, at::Tensor& out) {
  static const Kernel k("reduce_sum");
  const at::ScalarType t = dtype.value_or(out.scalar_type());
  return reduce_into(k, out, false, self, dim, keepdim, t, t);
}
// nansum: a sum that counts NaN as zero (HF's typical-p sampling), composed:
// NaNs (the elements unequal to themselves) replaced by zero, then summed.
namespace {
at::Tensor without_nans(const at::Tensor& self) {
  TORCH_CHECK(!at::isComplexType(self.scalar_type()), "nansum does not support complex inputs");
  if (!at::isFloatingType(self.scalar_type())) return self;
  return at::where(at::ne(self, self), at::zeros({}, self.options()), self);
}
}  // namespace
at::Tensor nansum(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                  std::optional<at::ScalarType> dtype) {
  return sum_dim(without_nans(self), dim, keepdim, dtype);
}
at::Tensor& nansum_out(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                       std::optional<at::ScalarType> dtype, at::Tensor& out) {
  return sum_out(without_nans(self), dim, keepdim, dtype, out);
}
// linalg.vector_norm (clip_grad_norm_: HF Trainer's max_grad_norm; weight
// norms), composed on gems kernels: 16-bit inputs in float, |x| reduced by the
// norm's rule (the sum of squares and its root for 2, the largest for inf,
// the count of nonzeros for 0, sum(|x|^p)^(1/p) else), in the result's type.
namespace {
at::Tensor vector_norm_of(const at::Tensor& self, const c10::Scalar& ord, at::OptionalIntArrayRef dim, bool keepdim,
                          std::optional<at::ScalarType> dtype) {
  TORCH_CHECK(at::isFloatingType(self.scalar_type()),
              "linalg.vector_norm: Expected a floating point or complex tensor as input. Got ", self.scalar_type());
  TORCH_CHECK(!dtype || at::isFloatingType(*dtype), "linalg.vector_norm: dtype should be floating point or complex. Got ",
              *dtype);
  const at::ScalarType result = dtype.value_or(self.scalar_type());
  const at::ScalarType compute = at::isReducedFloatingType(result) ? at::kFloat : result;
  const double p = ord.toDouble();
  const at::Tensor a = at::abs(self.scalar_type() == compute ? self : self.to(compute));
  at::Tensor r;
  if (std::isinf(p)) {
    TORCH_CHECK(self.numel() > 0, "linalg.vector_norm cannot compute the ", p > 0 ? "inf" : "-inf",
                " norm on an empty tensor because the operation does not have an identity");
    const at::IntArrayRef dims = dim ? *dim : at::IntArrayRef{};
    r = p > 0 ? at::amax(a, dims, keepdim) : at::amin(a, dims, keepdim);
  } else if (p == 0) {
    r = at::sum(at::ne(a, 0), dim, keepdim, compute);
  } else if (p == 1) {
    r = at::sum(a, dim, keepdim);
  } else if (p == 2) {
    r = at::sqrt(at::sum(at::mul(a, a), dim, keepdim));
  } else {
    r = at::pow(at::sum(at::pow(a, p), dim, keepdim), 1.0 / p);
  }
  return r.scalar_type() == result ? r : r.to(result);
}
}  // namespace

at::Tensor linalg_vector_norm(const at::Tensor& self, const c10::Scalar& ord, at::OptionalIntArrayRef dim, bool keepdim,
                              std::optional<at::ScalarType> dtype) {
  return vector_norm_of(self, ord, dim, keepdim, dtype);
}
at::Tensor& linalg_vector_norm_out(const at::Tensor& self, const c10::Scalar& ord, at::OptionalIntArrayRef dim,
                                   bool keepdim, std::optional<at::ScalarType> dtype, at::Tensor& out) {
  const at::Tensor norm = vector_norm_of(self, ord, dim, keepdim, dtype);
  TORCH_CHECK(out.scalar_type() == norm.scalar_type(), "linalg.vector_norm expected out tensor dtype ",
              norm.scalar_type(), " but got: ", out.scalar_type());
  return write_out(out, norm);
}

at::Tensor mean(const at::Tensor& self, std::optional<at::ScalarType> dtype) {
  return mean_dim(self, std::nullopt, false, dtype);
}
at::Tensor mean_dim(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                    std::optional<at::ScalarType> dtype) {
  static const Kernel k("reduce_mean");
  const at::ScalarType t = mean_type(self, dtype);
  at::Tensor out;
  return reduce_into(k, out, true, self, dim, keepdim, t, t);
}
at::Tensor& mean_out(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                     std::optional<at::ScalarType> dtype, at::Tensor& out) {
  static const Kernel k("reduce_mean");
  const at::ScalarType t = mean_type(self, dtype.has_value() ? dtype : std::optional<at::ScalarType>(out.scalar_type()));
  return reduce_into(k, out, false, self, dim, keepdim, t, t);
}

namespace {
// max()/min() over every element.
at::Tensor full_extreme(bool is_max, const at::Tensor& self, const char* name) {
  TORCH_CHECK(self.numel() > 0, name, "(): Expected reduction dim to be specified for input.numel() == 0. ",
              "Specify the reduction dim with the 'dim' argument.");
  return std::get<0>(extreme(is_max, self, std::nullopt, false, false, name));
}
// argmax/argmin: over one dim, or over the flattened tensor when dim is None.
at::Tensor arg_extreme(bool is_max, const at::Tensor& self, std::optional<int64_t> dim, bool keepdim,
                       const char* name) {
  if (dim) return std::get<1>(extreme(is_max, self, at::IntArrayRef{*dim}, keepdim, true, name));
  TORCH_CHECK(self.numel() > 0, name, "(): Expected reduction dim to be specified for input.numel() == 0.");
  at::Tensor idx = std::get<1>(extreme(is_max, self, std::nullopt, false, true, name));
  return keepdim ? idx.reshape(at::DimVector(self.dim(), 1)) : idx;
}
}  // namespace

at::Tensor max(const at::Tensor& self) { return full_extreme(true, self, "max"); }
at::Tensor min(const at::Tensor& self) { return full_extreme(false, self, "min"); }
std::tuple<at::Tensor, at::Tensor> max_dim(const at::Tensor& self, int64_t dim, bool keepdim) {
  return extreme(true, self, at::IntArrayRef{dim}, keepdim, true, "max");
}
std::tuple<at::Tensor, at::Tensor> min_dim(const at::Tensor& self, int64_t dim, bool keepdim) {
  return extreme(false, self, at::IntArrayRef{dim}, keepdim, true, "min");
}
at::Tensor amax(const at::Tensor& self, at::IntArrayRef dim, bool keepdim) {
  if (dim.empty()) return full_extreme(true, self, "amax").reshape(keepdim ? at::DimVector(self.dim(), 1) : at::DimVector{});
  return std::get<0>(extreme(true, self, dim, keepdim, false, "amax"));
}
at::Tensor amin(const at::Tensor& self, at::IntArrayRef dim, bool keepdim) {
  if (dim.empty()) return full_extreme(false, self, "amin").reshape(keepdim ? at::DimVector(self.dim(), 1) : at::DimVector{});
  return std::get<0>(extreme(false, self, dim, keepdim, false, "amin"));
}
at::Tensor argmax(const at::Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  return arg_extreme(true, self, dim, keepdim, "argmax");
}
at::Tensor argmin(const at::Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  return arg_extreme(false, self, dim, keepdim, "argmin");
}

// ---- all / any: min / max over a bool view (x != 0), empty reductions give
// the identity (True / False). uint8 inputs give uint8, as in PyTorch.
namespace {
at::Tensor& all_any(bool is_all, at::Tensor& out, bool fresh, const at::Tensor& self, at::OptionalIntArrayRef dims,
                    bool keepdim) {
  static const Kernel kmin("reduce_min"), kmax("reduce_max"), ne("ne");
  const Kernel& k = is_all ? kmin : kmax;
  k.require(at::kBool, self.dim());
  const at::ScalarType result = self.scalar_type() == at::kByte ? at::kByte : at::kBool;
  at::Tensor flags = self;
  if (self.scalar_type() != at::kBool) {
    at::Tensor tmp;
    flags = pointwise(ne, tmp, OutKind::Fresh, self.scalar_type(), at::kBool, {{self, self.scalar_type()},
                      {wrap_scalar(0), self.scalar_type()}});
  }
  const Plan p = plan(self, dims, keepdim);
  bool empty = false;
  for (int64_t d : p.reduced) empty |= self.size(d) == 0;
  if (empty) {
    if (fresh) out = empty_result(p.out_shape, self.options().dtype(result));
    else at::native::resize_output(out, p.out_shape);
    return out.fill_(is_all);
  }
  at::Tensor values;
  reduce_into(k, values, true, flags, dims, keepdim, at::kBool, at::kBool);
  if (fresh) return out = values.scalar_type() == result ? values : values.to(result);
  at::native::resize_output(out, p.out_shape);
  return out.copy_(values);
}
}  // namespace

#define GEMS_ALL_ANY(NAME, IS_ALL)                                                                                   \
  at::Tensor NAME(const at::Tensor& self) { at::Tensor out; return all_any(IS_ALL, out, true, self, std::nullopt, false); } \
  at::Tensor& NAME##_all_out(const at::Tensor& self, at::Tensor& out) {                                            \
    return all_any(IS_ALL, out, false, self, std::nullopt, false);                                                  \
  }                                                                                                                 \
  at::Tensor NAME##_dim(const at::Tensor& self, int64_t dim, bool keepdim) {                                       \
    at::Tensor out;                                                                                                 \
    return all_any(IS_ALL, out, true, self, at::IntArrayRef{dim}, keepdim);                                        \
  }                                                                                                                 \
  at::Tensor& NAME##_dim_out(const at::Tensor& self, int64_t dim, bool keepdim, at::Tensor& out) {                 \
    return all_any(IS_ALL, out, false, self, at::IntArrayRef{dim}, keepdim);                                       \
  }                                                                                                                 \
  at::Tensor NAME##_dims(const at::Tensor& self, at::OptionalIntArrayRef dims, bool keepdim) {                     \
    at::Tensor out;                                                                                                 \
    return all_any(IS_ALL, out, true, self, dims, keepdim);                                                        \
  }                                                                                                                 \
  at::Tensor& NAME##_dims_out(const at::Tensor& self, at::OptionalIntArrayRef dims, bool keepdim, at::Tensor& out) { \
    return all_any(IS_ALL, out, false, self, dims, keepdim);                                                       \
  }
GEMS_ALL_ANY(all, true)
GEMS_ALL_ANY(any, false)
#undef GEMS_ALL_ANY

// ---- softmax family: row-wise over `dim`, moved last in the descriptors ----
namespace {

gems_tensor dim_last(const at::Tensor& t, int64_t dim) {
  gems_tensor d = describe(t);
  if (t.dim() == 0) return d;
  int i = 0;
  for (int64_t k = 0; k < t.dim(); ++k)
    if (k != dim) { d.sizes[i] = t.size(k); d.strides[i] = t.stride(k); ++i; }
  d.sizes[i] = t.size(dim);
  d.strides[i] = t.stride(dim);
  return d;
}

at::Tensor softmax_impl(const Kernel& k, const at::Tensor& self, int64_t dim, bool half_to_float) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  at::ScalarType t = self.scalar_type();
  if (half_to_float) {
    TORCH_CHECK(t == at::kHalf || t == at::kBFloat16, "conversion is supported for Half and BFloat16 type only");
    t = at::kFloat;
  }
  k.require(t, self.dim());
  const at::Tensor input = self.scalar_type() == t ? self : self.to(t);
  at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  if (out.numel() > 0) {
    gems_tensor desc[2] = {dim_last(out, d), dim_last(input, d)};
    k.launch(launch_index(self.device()), desc, 2);
  }
  return out;
}

at::Tensor softmax_backward_impl(const Kernel& k, const at::Tensor& grad, const at::Tensor& output, int64_t dim,
                                 at::ScalarType input_dtype) {
  const int64_t d = at::maybe_wrap_dim(dim, grad.dim());
  const at::ScalarType t = output.scalar_type();
  k.require(t, grad.dim());
  const at::Tensor g = grad.scalar_type() == t ? grad : grad.to(t);
  at::Tensor out = at::empty_like(output, at::MemoryFormat::Contiguous);
  if (out.numel() > 0) {
    gems_tensor desc[3] = {dim_last(out, d), dim_last(g, d), dim_last(output, d)};
    k.launch(launch_index(grad.device()), desc, 3);
  }
  return input_dtype == t ? out : out.to(input_dtype);
}

}  // namespace

// ---- cumsum (a scan along dim, moved last) and tril/triu ----
namespace {
at::Tensor& cumsum_impl(at::Tensor& out, OutKind kind, const at::Tensor& self, int64_t dim,
                        std::optional<at::ScalarType> dtype) {
  static const Kernel k("cumsum");
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  const at::ScalarType t = dtype.value_or(
      kind == OutKind::Fresh ? (at::isIntegralType(self.scalar_type(), true) ? at::kLong : self.scalar_type())
                             : out.scalar_type());
  k.require(t, self.dim());
  const at::Tensor input = self.scalar_type() == t ? self : self.to(t);
  if (kind == OutKind::Fresh) out = at::empty_like(input, at::MemoryFormat::Contiguous);
  else if (kind == OutKind::Out) at::native::resize_output(out, self.sizes());
  TORCH_CHECK(out.scalar_type() == t, "cumsum: expected out dtype ", t, " but got ", out.scalar_type());
  if (out.numel() > 0) {
    gems_tensor desc[2] = {dim_last(out, d), dim_last(input, d)};
    k.launch(launch_index(self.device()), desc, 2);
  }
  return out;
}

at::Tensor& tri_impl(bool upper, at::Tensor& out, OutKind kind, const at::Tensor& self, int64_t diagonal) {
  static const Kernel k("tril");
  TORCH_CHECK(self.dim() >= 2, upper ? "triu" : "tril", ": input tensor must have at least 2 dimensions");
  k.require(self.scalar_type(), self.dim());
  if (kind == OutKind::Fresh) out = at::empty_like(self, at::MemoryFormat::Contiguous);
  else if (kind == OutKind::Out) at::native::resize_output(out, self.sizes());
  TORCH_CHECK(out.scalar_type() == self.scalar_type(), "Expected out tensor to have dtype ", self.scalar_type(),
              " but got ", out.scalar_type(), " instead");
  if (out.numel() > 0) {
    gems_tensor desc[2] = {describe(out), describe(self)};
    k.launch(launch_index(self.device()), desc, 2, {int_arg(diagonal), int_arg(upper ? 1 : 0)});
  }
  return out;
}
}  // namespace

at::Tensor cumsum(const at::Tensor& self, int64_t dim, std::optional<at::ScalarType> dtype) {
  at::Tensor out;
  return cumsum_impl(out, OutKind::Fresh, self, dim, dtype);
}
at::Tensor& cumsum_out(const at::Tensor& self, int64_t dim, std::optional<at::ScalarType> dtype, at::Tensor& out) {
  return cumsum_impl(out, OutKind::Out, self, dim, dtype);
}
#define GEMS_TRI(NAME, UPPER)                                                                               \
  at::Tensor NAME(const at::Tensor& self, int64_t diagonal) {                                               \
    at::Tensor out;                                                                                         \
    return tri_impl(UPPER, out, OutKind::Fresh, self, diagonal);                                            \
  }                                                                                                         \
  at::Tensor& NAME##_out(const at::Tensor& self, int64_t diagonal, at::Tensor& out) {                      \
    return tri_impl(UPPER, out, OutKind::Out, self, diagonal);                                              \
  }
GEMS_TRI(tril, false)
GEMS_TRI(triu, true)
#undef GEMS_TRI

// ---- topk and sort: the k largest or smallest along dim, moved last ----
// A sort is the topk of every element: the "sort" kernel has topk's operands
// and order (NaN above +inf, equal elements by index, so a sort is stable).
namespace {
std::tuple<at::Tensor&, at::Tensor&> select_impl(const Kernel& kernel, at::Tensor& values, at::Tensor& indices,
                                                 OutKind kind, const at::Tensor& self, std::optional<int64_t> k_or_all,
                                                 int64_t dim, bool largest) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim(), /*wrap_scalar=*/true);
  const int64_t k = k_or_all ? *k_or_all : (self.dim() > 0 ? self.size(d) : 1);
  const int64_t size = self.dim() > 0 ? self.size(d) : 1;
  TORCH_CHECK(k >= 0 && k <= size, "selected index k out of range");
  kernel.require(self.scalar_type(), self.dim());
  at::DimVector shape(self.sizes().begin(), self.sizes().end());
  if (self.dim() > 0) shape[d] = k;
  if (kind == OutKind::Fresh) {
    values = empty_result(shape, self.options());
    indices = empty_result(shape, self.options().dtype(at::kLong));
  } else {
    TORCH_CHECK(values.scalar_type() == self.scalar_type(), "Expected out tensor to have dtype ",
                self.scalar_type(), ", but got ", values.scalar_type(), " instead");
    TORCH_CHECK(indices.scalar_type() == at::kLong, "Expected out tensor to have dtype Long, but got ",
                indices.scalar_type(), " instead");
    at::native::resize_output(values, shape);
    at::native::resize_output(indices, shape);
  }
  if (values.numel() > 0) {
    gems_tensor desc[3] = {dim_last(values, d), dim_last(indices, d), dim_last(self, d)};
    // A k the vendor cannot serve (k beyond what it sorts on chip) goes to the fallback.
    if (!kernel.try_launch(launch_index(self.device()), desc, 3, {int_arg(largest ? 1 : 0)}))
      throw NotServed("topk");
  }
  return {values, indices};
}

std::tuple<at::Tensor&, at::Tensor&> topk_impl(at::Tensor& values, at::Tensor& indices, OutKind kind,
                                               const at::Tensor& self, int64_t k, int64_t dim, bool largest) {
  static const Kernel kernel("topk");
  return select_impl(kernel, values, indices, kind, self, k, dim, largest);
}
}  // namespace

// Always stable (equal elements keep their order), which serves stable=False too.
std::tuple<at::Tensor, at::Tensor> sort_stable(const at::Tensor& self, std::optional<bool> stable, int64_t dim,
                                               bool descending) {
  static const Kernel kernel("sort");
  at::Tensor values, indices;
  select_impl(kernel, values, indices, OutKind::Fresh, self, std::nullopt, dim, descending);
  return {values, indices};
}
std::tuple<at::Tensor&, at::Tensor&> sort_values_stable(const at::Tensor& self, std::optional<bool> stable,
                                                        int64_t dim, bool descending, at::Tensor& values,
                                                        at::Tensor& indices) {
  static const Kernel kernel("sort");
  return select_impl(kernel, values, indices, OutKind::Out, self, std::nullopt, dim, descending);
}

// Rows always come out sorted; `sorted=False` leaves the order unspecified in
// PyTorch, so sorted output serves it too.
std::tuple<at::Tensor, at::Tensor> topk(const at::Tensor& self, int64_t k, int64_t dim, bool largest,
                                        bool sorted) {
  at::Tensor values, indices;
  topk_impl(values, indices, OutKind::Fresh, self, k, dim, largest);
  return {values, indices};
}
std::tuple<at::Tensor&, at::Tensor&> topk_values(const at::Tensor& self, int64_t k, int64_t dim, bool largest,
                                                 bool sorted, at::Tensor& values, at::Tensor& indices) {
  return topk_impl(values, indices, OutKind::Out, self, k, dim, largest);
}

at::Tensor softmax(const at::Tensor& self, int64_t dim, bool half_to_float) {
  static const Kernel k("softmax");
  return softmax_impl(k, self, dim, half_to_float);
}
at::Tensor log_softmax(const at::Tensor& self, int64_t dim, bool half_to_float) {
  static const Kernel k("log_softmax");
  return softmax_impl(k, self, dim, half_to_float);
}
at::Tensor softmax_backward(const at::Tensor& grad, const at::Tensor& output, int64_t dim,
                            at::ScalarType input_dtype) {
  static const Kernel k("softmax_backward");
  return softmax_backward_impl(k, grad, output, dim, input_dtype);
}
at::Tensor log_softmax_backward(const at::Tensor& grad, const at::Tensor& output, int64_t dim,
                                at::ScalarType input_dtype) {
  static const Kernel k("log_softmax_backward");
  return softmax_backward_impl(k, grad, output, dim, input_dtype);
}

// histc: counts of the elements in `bins` equal-width bins over [min, max]
// (the data's own range when both are 0, read back as PyTorch's CPU and CUDA
// do), by the vendor's histc kernel, which counts in integers (the same
// counts in any order) and writes them in the histogram's dtype. Integer
// inputs are counted as on CUDA (HuggingFace's MoE layers count experts with
// an int histc on any device but cpu and mps); PyTorch's CPU rejects them.
at::Tensor& histc_out(const at::Tensor& self, int64_t bins, const c10::Scalar& min, const c10::Scalar& max,
                      at::Tensor& out) {
  static const Kernel k("histc");
  TORCH_CHECK(bins > 0, "torch.histogram(): bins must be > 0, but got ", bins, " for dimension 0");
  double lo = min.toDouble(), hi = max.toDouble();
  TORCH_CHECK(lo <= hi || std::isnan(lo) || std::isnan(hi), "torch.histc: max must be larger than min");
  TORCH_CHECK(!at::isComplexType(self.scalar_type()) && self.scalar_type() != at::kBool,
              "\"histogram\" not implemented for '", self.scalar_type(), "'");
  k.require(self.scalar_type());
  const at::Tensor x = self.reshape({-1});
  if (lo == 0.0 && hi == 0.0 && x.numel() > 0) {
    const at::Tensor range = at::stack({x.min(), x.max()}).to(at::kDouble).cpu();
    lo = range.const_data_ptr<double>()[0];
    hi = range.const_data_ptr<double>()[1];
  }
  if (lo == hi) {
    lo -= 1;
    hi += 1;
  }
  TORCH_CHECK(std::isfinite(lo) && std::isfinite(hi), "torch.histc: range of [", lo, ", ", hi, "] is not finite");
  if (!out.defined()) out = empty_result({bins}, self.options());
  else at::native::resize_output(out, {bins});
  TORCH_CHECK(out.scalar_type() == self.scalar_type(), "torch.histc: out tensor has dtype ", out.scalar_type(),
              ", but expected ", self.scalar_type());
  one_device({&out, &self});
  const bool direct = out.is_contiguous();
  const at::Tensor counts = direct ? out : empty_result({bins}, self.options());
  const gems_tensor desc[2] = {describe(counts), describe(x)};
  k.launch(launch_index(self.device()), desc, 2, {scalar_arg(lo), scalar_arg(hi)});
  if (!direct) out.copy_(counts);
  return out;
}

at::Tensor histc(const at::Tensor& self, int64_t bins, const c10::Scalar& min, const c10::Scalar& max) {
  at::Tensor out;
  return histc_out(self, bins, min, max, out);
}

}  // namespace gems::ops
