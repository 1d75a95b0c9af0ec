// Tensor-building ops: cat, index_select (and so embedding), arange and the
// random fills.
#include <ATen/WrapDimUtils.h>
#include <c10/util/accumulate.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ops.h"
#include "../device/device_checks.h"
#include "ops_common.h"

namespace gems::ops {

at::Tensor& cat_out(const at::ITensorListRef& tensors, int64_t dim, at::Tensor& out) {
  static const Kernel cat("cat");
  std::vector<at::Tensor> inputs(tensors.begin(), tensors.end());
  TORCH_CHECK(!inputs.empty(), "torch.cat(): expected a non-empty list of Tensors");
  for (size_t i = 0; i < inputs.size(); ++i)
    TORCH_CHECK(inputs[i].dim() > 0, "zero-dimensional tensor (at position ", i, ") cannot be concatenated");
  // Legacy rule: 1-D empty tensors are skipped whatever the other shapes.
  const at::Tensor* ref = nullptr;
  for (const at::Tensor& t : inputs)
    if (!(t.dim() == 1 && t.size(0) == 0)) { ref = &t; break; }
  at::ScalarType dtype = inputs[0].scalar_type();
  for (const at::Tensor& t : inputs) dtype = c10::promoteTypes(dtype, t.scalar_type());
  cat.require(dtype, ref ? ref->dim() : 1);
  std::vector<const at::Tensor*> all;
  for (const at::Tensor& t : inputs) all.push_back(&t);
  if (out.defined()) all.push_back(&out);
  const c10::Device device = one_device(all);
  check_out_overlap(out, c10::ArrayRef<const at::Tensor*>(all.data(), inputs.size()));  // (all: the inputs, then out)
  if (!ref) {
    if (!out.defined()) out = empty_result({0}, inputs[0].options().dtype(dtype));
    else at::native::resize_output(out, {0});
    return out;
  }
  const int64_t d = at::maybe_wrap_dim(dim, ref->dim());
  at::DimVector shape(ref->sizes().begin(), ref->sizes().end());
  int64_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    if (t.dim() == 1 && t.size(0) == 0) continue;
    TORCH_CHECK(t.dim() == ref->dim(), "Tensors must have same number of dimensions: got ", ref->dim(), " and ",
                t.dim());
    for (int64_t k = 0; k < t.dim(); ++k)
      TORCH_CHECK(k == d || t.size(k) == shape[k], "Sizes of tensors must match except in dimension ", d,
                  ". Expected size ", shape[k], " but got size ", t.size(k), " for tensor number ", i, " in the list.");
    total += t.size(d);
  }
  shape[d] = total;
  if (!out.defined()) {
    out = empty_result(shape, inputs[0].options().dtype(dtype));
  } else {
    TORCH_CHECK(c10::canCast(dtype, out.scalar_type()), "torch.cat(): input types can't be cast to the desired output type ",
                out.scalar_type());
    at::native::resize_output(out, shape);
  }
  // One launch for all inputs (the vendor batches them or copies each into its slice).
  std::vector<gems_tensor> desc{describe(out)};
  for (const at::Tensor& t : inputs) {
    if ((t.dim() == 1 && t.size(0) == 0) || t.size(d) == 0) continue;
    cat.require(t.scalar_type(), t.dim());
    desc.push_back(describe(t));
  }
  if (desc.size() > 1) cat.launch(launch_index(device), desc.data(), static_cast<int32_t>(desc.size()), {int_arg(d)});
  return out;
}

at::Tensor cat(const at::ITensorListRef& tensors, int64_t dim) {
  at::Tensor out;
  return cat_out(tensors, dim, out);
}

namespace {
// index_select's result: self's shape with n rows along dim.
at::DimVector index_select_shape(const at::Tensor& self, int64_t dim, int64_t n) {
  at::DimVector shape(self.sizes().begin(), self.sizes().end());
  if (self.dim() > 0) shape[dim] = n;
  return shape;
}

// index_select's kernel on rows of self; with negative_from_end, x[idx]'s
// reading of a negative index (index_select itself rejects them).
at::Tensor& select_rows(const at::Tensor& self, int64_t dim, const at::Tensor& index, bool negative_from_end,
                        at::Tensor& out) {
  static const Kernel k("index_select");
  k.require(self.scalar_type(), self.dim());
  TORCH_CHECK_INDEX(index.dim() <= 1, "index_select(): Index is supposed to be a vector");
  TORCH_CHECK(index.scalar_type() == at::kLong || index.scalar_type() == at::kInt,
              "index_select(): Expected dtype int32 or int64 for index");
  TORCH_CHECK(self.dim() > 0 || index.numel() == 1, "index_select(): Index to scalar can have only 1 value, got ",
              index.numel(), " value(s)");
  const c10::Device device = one_device({&self, &index});
  check_out_overlap(out, {&self, &index});
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  const at::DimVector shape = index_select_shape(self, d, index.numel());
  if (!out.defined()) out = empty_result(shape, self.options());
  else at::native::resize_output(out, shape);
  if (out.numel() == 0) return out;
  gems_tensor desc[3] = {describe(out), describe(self), describe(index)};
  k.launch(launch_index(device), desc, 3, {int_arg(d), int_arg(negative_from_end ? 1 : 0)}, /*index_error=*/true);
  return out;
}
}  // namespace

at::Tensor& index_select_out(const at::Tensor& self, int64_t dim, const at::Tensor& index, at::Tensor& out) {
  return select_rows(self, dim, index, /*negative_from_end=*/false, out);
}

at::Tensor index_select(const at::Tensor& self, int64_t dim, const at::Tensor& index) {
  at::Tensor out;
  return index_select_out(self, dim, index, out);
}

// ---- gathers by index tensors: gather(dim, index) and advanced indexing x[i, j] ----
// Both run the vendor's "gather" kernel, which walks the result's shape once:
// self is described in that shape with stride 0 along the dims an element is
// picked along, each index tensor broadcast to it, and every element reads
// self[position + sum_k index_k * stride_k]. One launch, however many index
// tensors (up to kMaxIndexTensors; more go to the fallback).
namespace {

constexpr int kMaxIndexTensors = 4;

// The dim of self an index tensor picks along.
struct PickedDim {
  int64_t dim, size, stride;
};

void launch_gather(const at::Tensor& out, const gems_tensor& self, const std::vector<gems_tensor>& indices,
                   const std::vector<PickedDim>& picked, bool negative_from_end, bool index_error) {
  static const Kernel k("gather");
  std::vector<gems_tensor> d = {describe(out), self};
  d.insert(d.end(), indices.begin(), indices.end());
  std::vector<gems_scalar> scalars = {int_arg(negative_from_end ? 1 : 0)};
  for (const PickedDim& p : picked) {
    scalars.push_back(int_arg(p.dim));
    scalars.push_back(int_arg(p.size));
    scalars.push_back(int_arg(p.stride));
  }
  k.launch(launch_index(out.device()), d.data(), static_cast<int32_t>(d.size()), scalars, index_error);
}

// A descriptor of self walked in the result's shape: result dim j reads self
// dim from_self[j], or stays put (stride 0) where from_self[j] is -1.
gems_tensor self_in_result(const at::Tensor& self, at::IntArrayRef result, const std::vector<int64_t>& from_self) {
  gems_tensor d = describe(self);
  d.ndim = static_cast<int32_t>(result.size());
  for (size_t j = 0; j < result.size(); ++j) {
    d.sizes[j] = result[j];
    d.strides[j] = from_self[j] < 0 ? 0 : self.stride(from_self[j]);
  }
  return d;
}

// An index tensor on `device`: PyTorch lets index tensors of a gems tensor
// live on the CPU.
at::Tensor index_on(const at::Tensor& index, c10::Device device) {
  return index.device() == device ? index : index.to(device);
}

// One index tensor picking whole rows of at least this many elements (an
// embedding-like lookup, MoE token routing): index_select's kernel copies rows
// with vector loads, where the gather kernel moves an element per thread
// (5x slower on an H100 for 4096 rows of 4096 bf16).
constexpr int64_t kRowGatherMinElements = 128;

bool rows_long_enough(const at::Tensor& self, int64_t dim) {
  int64_t row = 1;
  for (int64_t j = dim + 1; j < self.dim(); ++j) row *= self.size(j);
  return row >= kRowGatherMinElements;
}

// x[..., idx, ...] for one index tensor as index_select's row copy (negative
// indices counting from the end), the result viewed in `out`'s shape.
at::Tensor& index_rows(const at::Tensor& self, int64_t dim, const at::Tensor& idx, at::Tensor& out) {
  const at::Tensor flat = index_on(idx, self.device()).reshape({-1});
  at::Tensor rows = out.is_contiguous() ? out.view(index_select_shape(self, dim, flat.numel())) : at::Tensor();
  select_rows(self, dim, flat, /*negative_from_end=*/true, rows);
  if (!out.is_contiguous()) out.copy_(rows.view(out.sizes()));
  return out;
}


// Integer index tensors (None keeps a dim whole) as PyTorch reads them: the
// dims they pick, their common (broadcast) shape, and the result's shape: the
// index shape replaces the indexed dims where those are adjacent, and leads
// where a whole dim separates them. from_self[j]: the dim of self that result
// dim j walks, -1 for the index shape's dims (first_index_dim on).
struct IndexedDims {
  std::vector<at::Tensor> index;
  std::vector<int64_t> dims;
  at::DimVector shape, result;
  std::vector<int64_t> from_self;
  int64_t first_index_dim = 0;
  bool adjacent = true;
};

IndexedDims indexed_dims(const at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices) {
  TORCH_CHECK_INDEX(static_cast<int64_t>(indices.size()) <= self.dim(), "too many indices for tensor of dimension ",
                    self.dim(), " (got ", indices.size(), ")");
  IndexedDims ix;
  for (size_t i = 0; i < indices.size(); ++i) {
    const std::optional<at::Tensor> t = indices.get(i);
    if (!t || !t->defined()) continue;
    const at::ScalarType type = t->scalar_type();
    TORCH_CHECK_INDEX(type == at::kLong || type == at::kInt, "tensors used as indices must be long, int, byte or bool tensors");
    ix.index.push_back(*t);
    ix.dims.push_back(static_cast<int64_t>(i));
  }
  if (ix.index.empty()) throw NotServed("gather");
  ix.shape.assign(ix.index[0].sizes().begin(), ix.index[0].sizes().end());
  for (size_t i = 1; i < ix.index.size(); ++i) {
    bool broadcastable = true;
    const at::IntArrayRef sizes = ix.index[i].sizes();
    for (size_t j = 1; j <= std::min(sizes.size(), ix.shape.size()); ++j) {
      const int64_t a = sizes[sizes.size() - j], b = ix.shape[ix.shape.size() - j];
      broadcastable &= a == b || a == 1 || b == 1;
    }
    if (!broadcastable) {
      std::ostringstream shapes;
      for (size_t j = 0; j < ix.index.size(); ++j) shapes << (j ? ", " : "") << ix.index[j].sizes();
      TORCH_CHECK_INDEX(false, "shape mismatch: indexing tensors could not be broadcast together with shapes ",
                        shapes.str());
    }
    ix.shape = at::infer_size_dimvector(ix.shape, ix.index[i].sizes());
  }
  for (size_t i = 1; i < ix.dims.size(); ++i) ix.adjacent &= ix.dims[i] == ix.dims[i - 1] + 1;
  const int64_t lead = ix.adjacent ? ix.dims.front() : 0;
  for (int64_t j = 0; j < lead; ++j) { ix.result.push_back(self.size(j)); ix.from_self.push_back(j); }
  ix.first_index_dim = static_cast<int64_t>(ix.result.size());
  for (int64_t s : ix.shape) { ix.result.push_back(s); ix.from_self.push_back(-1); }
  for (int64_t j = lead; j < self.dim(); ++j) {
    if (std::find(ix.dims.begin(), ix.dims.end(), j) != ix.dims.end()) continue;
    ix.result.push_back(self.size(j));
    ix.from_self.push_back(j);
  }
  return ix;
}

}  // namespace

at::Tensor& gather_out(const at::Tensor& self, int64_t dim, const at::Tensor& index, bool sparse_grad,
                       at::Tensor& out) {
  static const Kernel k("gather");
  k.require(self.scalar_type(), std::max(self.dim(), index.dim()));
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  // PyTorch checks an empty index for nothing but its device.
  TORCH_CHECK(index.numel() == 0 || index.scalar_type() == at::kLong || index.scalar_type() == at::kInt,
              "gather(): Expected dtype int32/int64 for index");
  one_device({&self, &index});
  const int64_t dims = std::max<int64_t>(1, self.dim());
  if (index.numel() != 0) {  // PyTorch's gather_shape_check
    TORCH_CHECK(dims == std::max<int64_t>(1, index.dim()),
                "Index tensor must have the same number of dimensions as input tensor");
    for (int64_t i = 0; i < dims; ++i) {
      if (i == d) continue;
      const int64_t is = index.dim() ? index.size(i) : 1, ss = self.dim() ? self.size(i) : 1;
      TORCH_CHECK(is <= ss, "Size does not match at dimension ", i, " expected index ", index.sizes(),
                  " to be no larger than self ", self.sizes(), " apart from dimension ", d);
    }
  }
  if (!out.defined()) out = empty_result(index.sizes(), self.options());
  else at::native::resize_output(out, index.sizes());
  check_out_overlap(out, {&self});  // after the resize, as PyTorch: a grown out may reach the index
  at::assert_no_partial_overlap(out, index);
  TORCH_CHECK(out.scalar_type() == self.scalar_type(), "gather(): Expected out tensor to have dtype ",
              self.scalar_type(), ", but got ", out.scalar_type(), " instead");
  if (out.numel() == 0) return out;
  std::vector<int64_t> from_self;
  for (int64_t j = 0; j < index.dim(); ++j) from_self.push_back(j == d || self.dim() == 0 ? -1 : j);
  const PickedDim picked{d, self.dim() ? self.size(d) : 1, self.dim() ? self.stride(d) : 0};
  launch_gather(out, self_in_result(self, index.sizes(), from_self), {describe(index)}, {picked},
                /*negative_from_end=*/false, /*index_error=*/false);
  return out;
}

at::Tensor gather(const at::Tensor& self, int64_t dim, const at::Tensor& index, bool sparse_grad) {
  at::Tensor out;
  return gather_out(self, dim, index, sparse_grad, out);
}

// ---- scatter(dim, index, src): gather's inverse, dest[.., index, ..] = src ----
namespace {
// The scatter kernel over index's shape: dest walked with stride 0 along d,
// src read in index's shape (a 0-dim value: stride 0 everywhere).
void launch_scatter(const at::Tensor& dest, int64_t d, const at::Tensor& index, const at::Tensor& src, bool value,
                    bool negative_from_end, bool index_error) {
  static const Kernel k("scatter");
  k.require(dest.scalar_type(), dest.dim());
  std::vector<int64_t> from_dest;
  for (int64_t j = 0; j < index.dim(); ++j) from_dest.push_back(j == d ? -1 : j);
  gems_tensor s = describe(src);
  s.ndim = static_cast<int32_t>(index.dim());
  for (int64_t j = 0; j < index.dim(); ++j) {
    s.sizes[j] = index.size(j);
    s.strides[j] = value ? 0 : src.stride(j);
  }
  gems_tensor desc[3] = {self_in_result(dest, index.sizes(), from_dest), s, describe(index)};
  k.launch(launch_index(dest.device()), desc, 3,
           {int_arg(d), int_arg(dest.size(d)), int_arg(dest.stride(d)), int_arg(negative_from_end ? 1 : 0)},
           index_error);
}

// Writes src (a tensor of at least index's sizes, or a 0-dim value) into
// dest along dim at index; dest already holds self. PyTorch's checks first.
// PyTorch's checks of scatter and scatter_add (a value: src is a 0-dim
// tensor). False when there is nothing to write.
bool scatter_checks(const at::Tensor& dest, int64_t d, const at::Tensor& index, const at::Tensor& src, bool value) {
  TORCH_CHECK(index.scalar_type() == at::kLong || index.scalar_type() == at::kInt,
              "scatter(): Expected dtype int32/int64 for index");
  TORCH_CHECK(value || src.scalar_type() == dest.scalar_type(),
              "scatter(): Expected self.dtype to be equal to src.dtype");
  one_device({&dest, &index, &src});
  if (index.numel() == 0) return false;
  if (dest.dim() == 0) throw NotServed("scatter");  // a 0-dim self: PyTorch's own kernel
  TORCH_CHECK(index.dim() == dest.dim(), "Index tensor must have the same number of dimensions as self tensor");
  TORCH_CHECK(value || index.dim() == src.dim(), "Index tensor must have the same number of dimensions as src tensor");
  for (int64_t i = 0; i < dest.dim(); ++i) {
    const bool fits = (i == d || index.size(i) <= dest.size(i)) && (value || index.size(i) <= src.size(i));
    TORCH_CHECK(fits, "Expected index ", index.sizes(), " to be no larger than self ", dest.sizes(),
                " apart from dimension ", d, value ? "" : " and to be no larger size than src ",
                value ? c10::IntArrayRef() : src.sizes());
  }
  return true;
}

at::Tensor& scatter_into(at::Tensor& dest, int64_t dim, const at::Tensor& index, const at::Tensor& src, bool value) {
  const int64_t d = at::maybe_wrap_dim(dim, dest.dim());
  if (scatter_checks(dest, d, index, src, value))
    launch_scatter(dest, d, index, src, value, /*negative_from_end=*/false, /*index_error=*/false);
  return dest;
}

at::Tensor value_on(const at::Tensor& like, const c10::Scalar& value) {
  return at::full({}, value, like.options());
}
}  // namespace

// ---- nonzero, and boolean masks as index tensors ----
namespace {
// How many of a dense tensor's elements are not zero: counted by the vendor,
// read on the host (it sizes a result: a sync, as on every backend).
int64_t count_nonzero_dense(const at::Tensor& dense) {
  static const Kernel k("count_nonzero");
  at::Tensor count = empty_result({}, dense.options().dtype(at::kLong));
  const gems_tensor d[2] = {describe(count), describe(dense)};
  k.launch(launch_index(dense.device()), d, 2);
  return count.item<int64_t>();
}

const Kernel& select_kernel() {
  static const Kernel k("masked_select");
  return k;
}

// The values where a mask (bool or uint8) is set, both dense and of one shape,
// in memory order: counted, then written by the vendor in one pass.
at::Tensor values_where(const at::Tensor& values, const at::Tensor& mask) {
  const int64_t n = count_nonzero_dense(mask);
  at::Tensor out = empty_result({n}, values.options());
  if (n > 0) {
    const gems_tensor d[3] = {describe(out), describe(values), describe(mask)};
    select_kernel().launch(launch_index(values.device()), d, 3);
  }
  return out;
}

bool is_mask(const std::optional<at::Tensor>& t) {
  return t && t->defined() && (t->scalar_type() == at::kBool || t->scalar_type() == at::kByte);
}

// Whether the indices hold a mask (warning, as PyTorch does, of a uint8 one).
bool has_mask(const c10::List<std::optional<at::Tensor>>& indices) {
  bool found = false;
  for (size_t i = 0; i < indices.size(); ++i) {
    const std::optional<at::Tensor> t = indices.get(i);
    if (!is_mask(t)) continue;
    found = true;
    if (t->scalar_type() == at::kByte)
      TORCH_WARN("indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool instead.");
  }
  return found;
}

// A mask covering self's dims from `first` on must match their sizes
// (PyTorch's IndexError otherwise).
void check_mask_shape(const at::Tensor& self, int64_t first, const at::Tensor& mask) {
  TORCH_CHECK_INDEX(first + mask.dim() <= self.dim(), "too many indices for tensor of dimension ", self.dim());
  for (int64_t j = 0; j < mask.dim(); ++j)
    TORCH_CHECK_INDEX(mask.size(j) == self.size(first + j), "The shape of the mask ", mask.sizes(), " at index ", j,
                      " does not match the shape of the indexed tensor ", self.sizes(), " at index ", first + j);
}

// PyTorch's expandTensors: each boolean (or uint8) mask among the indices
// becomes the int64 positions of its nonzero elements, one index tensor per
// dim it covers, once its shape is checked against self's dims there.
c10::List<std::optional<at::Tensor>> masks_as_indices(const at::Tensor& self,
                                                      const c10::List<std::optional<at::Tensor>>& indices) {
  c10::List<std::optional<at::Tensor>> result;
  for (size_t i = 0; i < indices.size(); ++i) {
    const std::optional<at::Tensor> t = indices.get(i);
    if (!is_mask(t)) {
      result.push_back(t);
      continue;
    }
    if (t->dim() == 0) throw NotServed("nonzero");  // x[torch.tensor(True)]: PyTorch's own kernel
    check_mask_shape(self, static_cast<int64_t>(result.size()), *t);
    const at::Tensor positions = ops::nonzero(index_on(*t, self.device()));
    for (int64_t j = 0; j < t->dim(); ++j) result.push_back(positions.select(1, j));
  }
  return result;
}
}  // namespace

// The coordinates of self's nonzero elements, one row each, in memory order.
at::Tensor& nonzero_out(const at::Tensor& self, at::Tensor& out) {
  static const Kernel count("count_nonzero"), k("nonzero");
  count.require(self.scalar_type(), self.dim());
  k.require(self.scalar_type(), self.dim());
  TORCH_CHECK(out.scalar_type() == at::kLong, "nonzero: Expected out tensor to have scalar type Long but got scalar type",
              out.scalar_type());
  one_device({&self, &out});
  const at::Tensor dense = self.contiguous();
  const int64_t n = count_nonzero_dense(dense);
  at::native::resize_output(out, {n, self.dim()});
  if (n > 0 && self.dim() > 0) {
    const gems_tensor d[2] = {describe(out), describe(dense)};
    k.launch(launch_index(self.device()), d, 2);
  }
  return out;
}

at::Tensor nonzero(const at::Tensor& self) {
  at::Tensor out = empty_result({0, self.dim()}, self.options().dtype(at::kLong));
  return nonzero_out(self, out);
}

// self's elements where mask is true (both broadcast), as a 1-D tensor: x[mask].
at::Tensor masked_select(const at::Tensor& self, const at::Tensor& mask) {
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_select: expected BoolTensor for mask");
  at::DimVector shape = at::infer_size_dimvector(self.sizes(), mask.sizes());
  if (shape.empty()) shape.push_back(1);  // 0-dim operands select from one element
  c10::List<std::optional<at::Tensor>> indices;
  indices.push_back(mask.expand(shape));
  return ops::index(self.expand(shape), indices);
}

at::Tensor& masked_select_out(const at::Tensor& self, const at::Tensor& mask, at::Tensor& out) {
  TORCH_CHECK(out.scalar_type() == self.scalar_type(), "masked_select(): self and result must have the same scalar type");
  check_out_overlap(out, {&self, &mask});
  const at::Tensor selected = ops::masked_select(self, mask);
  at::native::resize_output(out, selected.sizes());
  return out.copy_(selected);
}

// ---- accumulation into rows: embedding's backward, index_put with accumulate ----
namespace {
// rows[index[i]] += src[i] over [R, D] rows and [N, D] src: the vendor sums
// each row's contributions in position order (deterministic). skip: an index
// whose rows add nothing; by_freq: each row over its index's count.
void accumulate_rows(const at::Tensor& rows, const at::Tensor& src, const at::Tensor& index,
                     std::optional<int64_t> skip, bool by_freq, bool from_end, bool index_error) {
  static const Kernel k("accumulate_rows");
  const gems_tensor desc[3] = {describe(rows), describe(src), describe(index)};
  k.launch(launch_index(rows.device()), desc, 3,
           {int_arg(skip ? 1 : 0), int_arg(skip.value_or(0)), int_arg(by_freq ? 1 : 0), int_arg(from_end ? 1 : 0)},
           index_error);
}

// self[..., index, ...] += values along dim, through [R, D] rows with dim
// first (accumulated in a copy and written back when they are no view of self).
void index_accumulate(at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& values,
                      at::IntArrayRef shape) {
  static const Kernel k("accumulate_rows");
  k.require(self.scalar_type());
  const at::Tensor moved = self.movedim(dim, 0);
  const int64_t R = moved.size(0), D = c10::multiply_integers(moved.sizes().slice(1));
  const at::Tensor rows = moved.reshape({R, D});
  const at::Tensor src = values.expand(shape).movedim(dim, 0).reshape({index.numel(), D});
  accumulate_rows(rows, src, index, std::nullopt, false, /*from_end=*/true, /*index_error=*/true);
  if (!rows.is_alias_of(self)) moved.copy_(rows.view(moved.sizes()));
}
}  // namespace

at::Tensor sum_rows_by_index(const at::Tensor& src, int64_t rows, const at::Tensor& index) {
  static const Kernel k("accumulate_rows");
  k.require(src.scalar_type());
  const at::Tensor slices = src.contiguous();
  const int64_t n = slices.size(0), D = n ? slices.numel() / n : c10::multiply_integers(slices.sizes().slice(1));
  at::DimVector shape(slices.sizes().begin(), slices.sizes().end());
  shape[0] = rows;
  at::Tensor out = at::zeros(shape, slices.options());
  accumulate_rows(out.view({rows, D}), slices.view({n, D}), index, std::nullopt, false, /*from_end=*/false,
                  /*index_error=*/true);
  return out;
}

namespace {
// x[mask] = v for one boolean mask over self's dims from `dim` on and a
// single value (`scores[mask] = -inf`, `labels[labels == pad] = -100`): a
// masked fill, no count of the selected elements needed.
at::Tensor& masked_put(at::Tensor& self, int64_t dim, const at::Tensor& mask, const at::Tensor& value) {
  if (mask.dim() == 0) throw NotServed("index_put");  // x[torch.tensor(True)] = v: PyTorch's own kernel
  check_mask_shape(self, dim, mask);
  at::DimVector shape(self.dim(), 1);
  for (int64_t j = 0; j < mask.dim(); ++j) shape[dim + j] = mask.size(j);
  const at::Tensor m = index_on(mask, self.device());
  one_device({&self, &m});  // (a 0-dim value may live on the CPU, as PyTorch allows)
  return self.masked_fill_(m.reshape(shape), value.reshape({}));
}
}  // namespace

// The gradient of an embedding lookup: each weight row gets the sum of the
// gradient rows that looked it up (padding_idx's none; over their count with
// scale_grad_by_freq), summed in a fixed order, as PyTorch's CUDA kernel does.
at::Tensor embedding_dense_backward(const at::Tensor& grad, const at::Tensor& indices, int64_t num_weights,
                                    int64_t padding_idx, bool scale_grad_by_freq) {
  static const Kernel k("accumulate_rows");
  k.require(grad.scalar_type());
  TORCH_CHECK(indices.scalar_type() == at::kLong || indices.scalar_type() == at::kInt,
              "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got ",
              indices.toString(), " instead (while checking arguments for embedding_backward)");
  const at::Tensor index = index_on(indices, grad.device()).reshape({-1});
  const int64_t D = grad.size(-1);
  at::Tensor out = at::zeros({num_weights, D}, grad.options());
  accumulate_rows(out, grad.reshape({index.numel(), D}), index,
                  padding_idx >= 0 ? std::optional<int64_t>(padding_idx) : std::nullopt, scale_grad_by_freq,
                  /*from_end=*/false, /*index_error=*/false);
  return out;
}

namespace {
// self[..., idx, ...] = values, or += with accumulate, for one 1-D integer
// index tensor along dim: without accumulation the scatter kernel along that
// dim (HF's MoE layers invert a permutation, inv_perm[perm] = arange), the
// index broadcast over the other dims; with it, accumulate_rows (the backward
// of x[idx]). Negative indices count from the end; the kernels check the range.
// index_put's values, checked against self's dtype; a 0-dim CPU value
// (x[idx] = torch.tensor(1.0)) moved to self's device, as PyTorch allows it.
at::Tensor put_values(const at::Tensor& self, const at::Tensor& values) {
  TORCH_CHECK(values.scalar_type() == self.scalar_type(), "Index put requires the source and destination dtypes match, got ",
              self.scalar_type(), " for the destination and ", values.scalar_type(), " for the source.");
  return values.dim() == 0 && values.is_cpu() ? values.to(self.device()) : values;
}

at::Tensor& put_along_dim(at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& given,
                          bool accumulate) {
  const at::Tensor values = put_values(self, given);
  at::DimVector shape(self.sizes().begin(), self.sizes().end());
  shape[dim] = index.size(0);
  TORCH_CHECK(at::is_expandable_to(values.sizes(), shape), "shape mismatch: value tensor of shape ", values.sizes(),
              " cannot be broadcast to indexing result of shape ", c10::IntArrayRef(shape));
  if (index.numel() == 0) return self;
  const at::Tensor on_device = index_on(index, self.device());
  one_device({&self, &on_device, &values});
  if (accumulate) {
    index_accumulate(self, dim, on_device, values, shape);
    return self;
  }
  at::DimVector view(self.dim(), 1);
  view[dim] = index.size(0);
  launch_scatter(self, dim, on_device.view(view).expand(shape), values.expand(shape), false,
                 /*negative_from_end=*/true, /*index_error=*/true);
  return self;
}

// PyTorch's range check of a non-empty index tensor along dim: every entry in
// [lowest, size), else an error naming an offender (IndexError, indexing's;
// RuntimeError, scatter's), judged on the device (device_checks.h): no wait
// for the host here.
void check_range_on_device(const at::Tensor& idx, int64_t lowest, int64_t size, int64_t dim, bool index_error) {
  check_on_device(at::stack({idx.min(), idx.max()}), [=](const double* v) {
    const auto lo = static_cast<int64_t>(v[0]), hi = static_cast<int64_t>(v[1]);
    if (lo >= lowest && hi < size) return;
    std::ostringstream msg;
    msg << "index " << (lo < lowest ? lo : hi) << " is out of bounds for dimension " << dim << " with size " << size;
    if (index_error) TORCH_CHECK_INDEX(false, msg.str());
    TORCH_CHECK(false, msg.str());
  });
}

// An index tensor picking along a dim of `size`, its negative entries counted
// from the end, after PyTorch's range check.
at::Tensor wrapped_in_range(const at::Tensor& idx, int64_t dim, int64_t size) {
  if (idx.numel() == 0) return idx;
  check_range_on_device(idx, -size, size, dim, /*index_error=*/true);
  return at::where(idx < 0, idx + size, idx);
}

// self[i0, i1, ...] = values (or +=) for any integer index tensors: the
// indexed dims become one dim of rows (self permuted so that they lead, then
// flattened: a view of self where its layout allows, else a copy written back
// after), the index tensors one row index (each wrapped and range-checked
// against its own dim first, unless they are a mask's positions, which are in
// range), the values in the rows' layout, and put_along_dim does the rest.
at::Tensor& put_by_rows(at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices, const at::Tensor& values,
                        bool accumulate, bool in_range) {
  const IndexedDims ix = indexed_dims(self, indices);
  const at::Tensor vals = put_values(self, values);
  TORCH_CHECK(at::is_expandable_to(values.sizes(), ix.result), "shape mismatch: value tensor of shape ", values.sizes(),
              " cannot be broadcast to indexing result of shape ", c10::IntArrayRef(ix.result));
  if (c10::multiply_integers(ix.result) == 0) return self;
  std::vector<int64_t> order(ix.dims);
  at::DimVector row_shape{1}, value_shape{c10::multiply_integers(ix.shape)};
  for (int64_t d : ix.dims) row_shape[0] *= self.size(d);
  for (int64_t j = 0; j < self.dim(); ++j) {
    if (std::find(ix.dims.begin(), ix.dims.end(), j) != ix.dims.end()) continue;
    order.push_back(j);
    row_shape.push_back(self.size(j));
    value_shape.push_back(self.size(j));
  }
  const at::Tensor moved = self.permute(order);
  at::Tensor rows = moved.reshape(row_shape);
  at::Tensor row;  // row-major over the indexed dims' sizes
  if (ix.index.size() == 1) {
    row = ix.index[0].reshape({-1});  // put_along_dim wraps and checks it
  } else {
    int64_t place = 1;
    for (size_t j = ix.index.size(); j-- > 0;) {
      const int64_t size = self.size(ix.dims[j]);
      at::Tensor idx = index_on(ix.index[j], self.device()).to(at::kLong);
      if (!in_range) idx = wrapped_in_range(idx, ix.dims[j], size);
      const at::Tensor term = place == 1 ? idx : idx * place;
      row = row.defined() ? row + term : term;
      place *= size;
    }
    row = row.expand(ix.shape).reshape({-1});
  }
  // The values in the rows' layout: the index shape's dims first, flattened.
  at::Tensor v = vals.expand(ix.result);
  const int64_t k = static_cast<int64_t>(ix.shape.size());
  if (ix.first_index_dim > 0) {
    std::vector<int64_t> from, to;
    for (int64_t j = 0; j < k; ++j) { from.push_back(ix.first_index_dim + j); to.push_back(j); }
    v = v.movedim(from, to);
  }
  put_along_dim(rows, 0, row, v.reshape(value_shape), accumulate);
  if (!rows.is_alias_of(self)) moved.copy_(rows.view(moved.sizes()));
  return self;
}
}  // namespace

// self[indices] = values, or += with accumulate. One boolean mask with one
// value is a masked fill (masked_put: no count of the selected elements); one
// 1-D integer index tensor puts along its dim; anything else (several index
// tensors, masks with many values, index tensors of several dims) through
// rows (put_by_rows), masks as the positions of their nonzero elements.
at::Tensor& index_put_impl_(at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices,
                            const at::Tensor& values, bool accumulate, bool unsafe) {
  if (self.dim() == 0) throw NotServed("index_put");
  int64_t dim = -1, given = 0;
  for (size_t i = 0; i < indices.size(); ++i) {
    const std::optional<at::Tensor> t = indices.get(i);
    if (t && t->defined()) { dim = static_cast<int64_t>(i); ++given; }
  }
  if (given == 0) throw NotServed("index_put");
  if (given == 1) {
    const at::Tensor index = *indices.get(dim);
    const at::ScalarType it = index.scalar_type();
    if (it == at::kBool && !accumulate && values.numel() == 1 && values.scalar_type() == self.scalar_type())
      return masked_put(self, dim, index, values);
    if (index.dim() == 1 && (it == at::kLong || it == at::kInt)) return put_along_dim(self, dim, index, values, accumulate);
  }
  if (has_mask(indices)) return put_by_rows(self, masks_as_indices(self, indices), values, accumulate, /*in_range=*/true);
  return put_by_rows(self, indices, values, accumulate, /*in_range=*/false);
}

// masked_scatter_: self's elements where mask is set take source's first
// elements, in memory order (Llava puts its image features into the text
// embeddings so). The mask's positions, then one put of as many values.
at::Tensor& masked_scatter_(at::Tensor& self, const at::Tensor& mask, const at::Tensor& source) {
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_scatter_ only supports boolean masks, but got mask with dtype ",
              mask.scalar_type());
  TORCH_CHECK(self.scalar_type() == source.scalar_type(),
              "masked_scatter: expected self and source to have same dtypes but got", self.scalar_type(), " and ",
              source.scalar_type());
  if (self.dim() == 0) throw NotServed("masked_scatter_");
  c10::List<std::optional<at::Tensor>> masks;
  masks.push_back(mask.expand(self.sizes()));  // raises PyTorch's message when mask does not expand to self
  const c10::List<std::optional<at::Tensor>> positions = masks_as_indices(self, masks);
  const int64_t n = positions.get(0)->size(0);
  TORCH_CHECK(source.numel() >= n, "Number of elements of source < number of ones in mask");
  if (n == 0) return self;
  return put_by_rows(self, positions, source.reshape({-1}).narrow(0, 0, n), /*accumulate=*/false, /*in_range=*/true);
}

// ---- scatter_add: dest[.., index, ..] += src (gather's backward) ----
namespace {
// Every position of index's shape adds its src element to one element of dest:
// dest flattened into rows of one element, each position's row its index times
// dest's stride along d plus its offset along the other dims, and
// accumulate_rows sums each row's contributions in position order
// (deterministic, no atomics), into a contiguous copy when dest is not one.
at::Tensor& scatter_add_into(at::Tensor& dest, int64_t dim, const at::Tensor& index, const at::Tensor& src) {
  static const Kernel k("accumulate_rows");
  const int64_t d = at::maybe_wrap_dim(dim, dest.dim());
  if (!scatter_checks(dest, d, index, src, false)) return dest;
  k.require(dest.scalar_type());
  const at::Tensor idx = index.to(at::kLong);
  check_range_on_device(idx, 0, dest.size(d), d, /*index_error=*/false);
  at::Tensor target = dest.is_contiguous() ? dest : dest.contiguous();
  at::Tensor rows = idx * target.stride(d);
  at::Tensor values = src;
  for (int64_t j = 0; j < dest.dim(); ++j) {
    values = values.narrow(j, 0, index.size(j));  // src may be larger than index
    if (j == d) continue;
    at::DimVector along(dest.dim(), 1);
    along[j] = index.size(j);
    rows = rows + at::arange(index.size(j), idx.options()).mul(target.stride(j)).view(along);
  }
  const int64_t n = index.numel();
  // (an index out of range, reported at the next wait, adds nothing where its row falls outside dest)
  accumulate_rows(target.view({-1, 1}), values.reshape({n, 1}), rows.reshape({n}), std::nullopt, false,
                  /*from_end=*/false, /*index_error=*/false);
  if (!target.is_same(dest)) dest.copy_(target);
  return dest;
}
}  // namespace

at::Tensor scatter_add(const at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& src) {
  at::Tensor out = self.clone(at::MemoryFormat::Contiguous);
  return scatter_add_into(out, dim, index, src);
}
at::Tensor& scatter_add_(at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& src) {
  return scatter_add_into(self, dim, index, src);
}
at::Tensor& scatter_add_out(const at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& src,
                            at::Tensor& out) {
  at::native::resize_output(out, self.sizes());
  if (!out.is_same(self)) out.copy_(self);
  return scatter_add_into(out, dim, index, src);
}

at::Tensor scatter_src(const at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& src) {
  at::Tensor out = self.clone();
  return scatter_into(out, dim, index, src, false);
}
at::Tensor& scatter_src_(at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& src) {
  return scatter_into(self, dim, index, src, false);
}
at::Tensor& scatter_src_out(const at::Tensor& self, int64_t dim, const at::Tensor& index, const at::Tensor& src,
                            at::Tensor& out) {
  at::native::resize_output(out, self.sizes());
  if (!out.is_same(self)) out.copy_(self);
  return scatter_into(out, dim, index, src, false);
}
at::Tensor scatter_value(const at::Tensor& self, int64_t dim, const at::Tensor& index, const c10::Scalar& value) {
  at::Tensor out = self.clone();
  return scatter_into(out, dim, index, value_on(self, value), true);
}
at::Tensor& scatter_value_(at::Tensor& self, int64_t dim, const at::Tensor& index, const c10::Scalar& value) {
  return scatter_into(self, dim, index, value_on(self, value), true);
}
at::Tensor& scatter_value_out(const at::Tensor& self, int64_t dim, const at::Tensor& index, const c10::Scalar& value,
                              at::Tensor& out) {
  at::native::resize_output(out, self.sizes());
  if (!out.is_same(self)) out.copy_(self);
  return scatter_into(out, dim, index, value_on(self, value), true);
}

// x[i0, i1, ...] with integer index tensors (None keeps a dim whole). Index
// tensors broadcast together; their shape replaces the indexed dims where
// those are adjacent, and leads the result where a whole dim separates them
// (PyTorch's rule). Boolean masks (a data-dependent result size) go to the fallback.
at::Tensor& index_out(const at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices, at::Tensor& out) {
  static const Kernel k("gather");
  if (has_mask(indices)) {
    // One mask over all of a dense self's dims (x[mask], masked_select): the vendor's masked_select
    // writes the values in one pass, no positions kept in memory (a third of the traffic).
    const std::optional<at::Tensor> m = indices.get(0);
    if (indices.size() == 1 && m->dim() > 0 && m->sizes() == self.sizes() && self.is_contiguous() &&
        select_kernel().serves(self.scalar_type())) {
      const at::Tensor selected = values_where(self, index_on(*m, self.device()).contiguous());
      if (!out.defined()) return out = selected;
      at::native::resize_output(out, selected.sizes());
      return out.copy_(selected);
    }
    return index_out(self, masks_as_indices(self, indices), out);
  }
  const IndexedDims ix = indexed_dims(self, indices);
  const std::vector<at::Tensor>& index = ix.index;
  const std::vector<int64_t>& dims = ix.dims;
  const at::DimVector& shape = ix.shape;
  const at::DimVector& result = ix.result;
  const std::vector<int64_t>& from_self = ix.from_self;
  const int64_t first_index_dim = ix.first_index_dim;
  if (index.size() > kMaxIndexTensors) throw NotServed("gather");
  k.require(self.scalar_type(), static_cast<int64_t>(result.size()));
  const c10::Device device = self.device();
  if (!out.defined()) out = empty_result(result, self.options());
  else at::native::resize_output(out, result);
  TORCH_CHECK(out.scalar_type() == self.scalar_type(), "index_out: self (", self.scalar_type(),
              ") and result (", out.scalar_type(), ") must have the same scalar type");
  if (out.numel() == 0) return out;
  if (index.size() == 1 && rows_long_enough(self, dims[0]))
    return index_rows(self, dims[0], index[0], out);
  std::vector<gems_tensor> index_desc;
  std::vector<PickedDim> picked;
  for (size_t i = 0; i < index.size(); ++i) {
    const at::Tensor t = index_on(index[i], device);
    const at::Tensor expanded = t.expand(shape);
    gems_tensor d = describe(t);
    d.ndim = static_cast<int32_t>(result.size());
    for (size_t j = 0; j < result.size(); ++j) {
      const int64_t in_shape = static_cast<int64_t>(j) - first_index_dim;
      const bool from_index = in_shape >= 0 && in_shape < static_cast<int64_t>(shape.size());
      d.sizes[j] = result[j];
      d.strides[j] = from_index ? expanded.stride(in_shape) : 0;
    }
    index_desc.push_back(d);
    picked.push_back({dims[i], self.size(dims[i]), self.stride(dims[i])});
  }
  launch_gather(out, self_in_result(self, result, from_self), index_desc, picked, /*negative_from_end=*/true,
                /*index_error=*/true);
  return out;
}

at::Tensor index(const at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices) {
  at::Tensor out;
  return index_out(self, indices, out);
}

// isin: the test values flattened (they are small: token ids, vocab masks).
at::Tensor& isin_out(const at::Tensor& elements, const at::Tensor& test, bool assume_unique, bool invert,
                     at::Tensor& out) {
  static const Kernel k("isin");
  const at::ScalarType t = c10::promoteTypes(elements.scalar_type(), test.scalar_type());
  k.require(t, elements.dim());
  const c10::Device device = common_device({&elements, &test});
  const at::Tensor e = prepare(elements, device, t);
  const at::Tensor flat = prepare(test, device, t).reshape({-1}).contiguous();
  if (!out.defined()) out = empty_result(e.sizes(), e.options().dtype(at::kBool));
  else at::native::resize_output(out, e.sizes());
  TORCH_CHECK(out.scalar_type() == at::kBool, "isin: expected a bool out tensor, got ", out.scalar_type());
  if (out.numel() == 0) return out;
  if (flat.numel() == 0) return out.fill_(invert);
  gems_tensor desc[3] = {describe(out), describe(e), describe(flat)};
  k.launch(launch_index(device), desc, 3, {int_arg(invert ? 1 : 0)});
  return out;
}

at::Tensor isin(const at::Tensor& elements, const at::Tensor& test, bool assume_unique, bool invert) {
  at::Tensor out;
  return isin_out(elements, test, assume_unique, invert, out);
}

at::Tensor& arange_out(const c10::Scalar& start, const c10::Scalar& end, const c10::Scalar& step, at::Tensor& out) {
  static const Kernel k("arange");
  k.require(out.scalar_type(), 1);
  const double xstart = start.toDouble(), xend = end.toDouble(), xstep = step.toDouble();
  TORCH_CHECK(xstep > 0 || xstep < 0, "step must be nonzero");
  TORCH_CHECK(std::isfinite(xstart) && std::isfinite(xend), "unsupported range: ", xstart, " -> ", xend);
  TORCH_CHECK((xstep > 0 && xend >= xstart) || (xstep < 0 && xend <= xstart),
              "upper bound and lower bound inconsistent with step sign");
  double size_d;
  if (out.scalar_type() == at::kLong) {  // PyTorch's exact int64 rule
    const int64_t s = start.toLong(), e = end.toLong(), st = step.toLong();
    TORCH_CHECK_VALUE(st != 0, "step must be nonzero");  // a fractional step truncated to 0 (CPU's ValueError)
    const int64_t sgn = (st > 0) - (st < 0);
    size_d = static_cast<double>((e - s + st - sgn) / st);
  } else {
    size_d = std::ceil((xend - xstart) / xstep);
  }
  TORCH_CHECK(size_d >= 0 && size_d <= static_cast<double>(std::numeric_limits<int64_t>::max()),
              "invalid size, possible overflow?");
  const int64_t size = static_cast<int64_t>(size_d);
  if (out.numel() != size) out.resize_({size});
  if (size == 0) return out;
  gems_tensor desc[1] = {describe(out)};
  const bool integral = at::isIntegralType(out.scalar_type(), false);
  k.launch(launch_index(out.device()), desc, 1,
           {integral ? int_arg(start.toLong()) : scalar_arg(xstart), integral ? int_arg(step.toLong()) : scalar_arg(xstep)});
  return out;
}

namespace {
at::Tensor& random_fill(const Kernel& k, at::Tensor& self, double a, double b,
                        const std::optional<at::Generator>& gen) {
  k.require(self.scalar_type(), self.dim());
  if (self.numel() == 0) return self;
  const auto [seed, offset] = reserve_random(gen, self.device().index(), static_cast<uint64_t>(self.numel()) * 2);
  gems_tensor desc[1] = {describe(self)};
  k.launch(launch_index(self.device()), desc, 1,
           {scalar_arg(a), scalar_arg(b), int_arg(static_cast<int64_t>(seed)), int_arg(static_cast<int64_t>(offset))});
  return self;
}
}  // namespace

at::Tensor& uniform_(at::Tensor& self, double from, double to, std::optional<at::Generator> gen) {
  static const Kernel k("uniform");
  TORCH_CHECK(from <= to, "uniform_ expects to return a [from, to) range, but found from=", from, " > to=", to);
  return random_fill(k, self, from, to, gen);
}

at::Tensor& normal_(at::Tensor& self, double mean, double std, std::optional<at::Generator> gen) {
  static const Kernel k("normal");
  TORCH_CHECK(std >= 0.0, "normal expects std >= 0.0, but found std ", std);
  return random_fill(k, self, mean, std, gen);
}

// multinomial (the sampling step of generate(do_sample=True)) as PyTorch's
// own fast path computes it, from ops that have kernels. Without replacement
// (or one draw): the n categories with the largest p / q, q ~ Exp(1) drawn
// per category (the exponential race), are a weighted sample without
// replacement. q = -log(u) with u uniform in [0, 1) in float32 or wider, so q
// is never 0 (u = 0 gives q = inf, which only loses). With replacement: each
// draw inverts the running sum at its own uniform number, comparing every
// category (n x categories comparisons; larger problems go to PyTorch). The
// distribution is checked as PyTorch's CPU path does, one read-back for all.
at::Tensor& multinomial_out(const at::Tensor& self, int64_t n, bool replacement, std::optional<at::Generator> gen,
                            at::Tensor& result) {
  TORCH_CHECK(result.device() == self.device(), "multinomial arguments must have the same device");
  TORCH_CHECK(self.dim() > 0 && self.dim() <= 2, "prob_dist must be 1 or 2 dim");
  TORCH_CHECK(at::isFloatingType(self.scalar_type()), "multinomial only supports floating-point dtypes for input, got: ",
              self.scalar_type());
  TORCH_CHECK(result.scalar_type() == at::kLong, "multinomial expects Long tensor out, got: ", result.scalar_type());
  TORCH_CHECK(n > 0, "cannot sample n_sample <= 0 samples");
  const int64_t categories = self.size(-1);
  TORCH_CHECK(replacement || n <= categories, "cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  TORCH_CHECK(categories <= (int64_t{1} << 24), "number of categories cannot exceed 2^24");
  const bool draws_by_cdf = replacement && n > 1;
  if (draws_by_cdf && n * categories > (int64_t{1} << 26)) throw NotServed("multinomial");
  if (self.dim() == 1) result.resize_({n});
  else result.resize_({self.size(0), n});
  if (result.numel() == 0) return result;
  const at::ScalarType wide = accumulate_type(self.scalar_type());
  const at::Tensor p = self.to(wide);
  at::Tensor picked;
  if (!draws_by_cdf) {
    const at::Tensor q = at::empty(p.sizes(), p.options()).uniform_(0.0, 1.0, gen).log_().neg_();
    const at::Tensor race = p / q;
    picked = n == 1 ? race.argmax(-1, /*keepdim=*/true) : std::get<1>(race.topk(n, -1));
  } else {
    const at::Tensor cdf = p.cumsum(-1);
    at::DimVector draws(p.sizes().begin(), p.sizes().end());
    draws.back() = n;
    const at::Tensor u = at::empty(draws, p.options()).uniform_(0.0, 1.0, gen) * cdf.narrow(-1, categories - 1, 1);
    picked = cdf.unsqueeze(-2).le(u.unsqueeze(-1)).sum(-1).clamp(std::nullopt, categories - 1);
  }
  result.copy_(picked.view(result.sizes()));
  // The distribution is judged on the device (device_checks.h), as PyTorch's
  // CUDA path asserts in the background: the sampling step never waits for
  // the host. A bad distribution raises at the next wait (at once on the cpu
  // vendor); the result then holds what was drawn from it.
  check_on_device(at::cat({self.max().to(at::kDouble).reshape(1), self.min().to(at::kDouble).reshape(1),
                           self.sum(-1).eq(0).sum().to(at::kDouble).reshape(1)}),
                  [](const double* c) {
                    TORCH_CHECK(c[0] < std::numeric_limits<double>::infinity() && c[1] >= 0,
                                "probability tensor contains either `inf`, `nan` or element < 0");
                    TORCH_CHECK(c[2] == 0, "invalid multinomial distribution (sum of probabilities <= 0)");
                  });
  return result;
}

at::Tensor multinomial(const at::Tensor& self, int64_t n, bool replacement, std::optional<at::Generator> gen) {
  at::Tensor result = empty_result({0}, self.options().dtype(at::kLong));
  return multinomial_out(self, n, replacement, gen, result);
}

}  // namespace gems::ops
