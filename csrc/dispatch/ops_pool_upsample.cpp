// Pooling and upsampling of images, forward and backward: max, average and
// adaptive max pooling 2-d and 3-d by the vendor's pooling kernels (their
// math in backends/common/pooling.h; PyTorch's argument and shape checks
// here), adaptive average pooling as one averaging GEMM per spatial dim, nearest
// upsampling as row lookups, linear and bicubic upsampling as separable two-
// and four-tap blends. Source indices and weights are PyTorch's, computed on
// the host as its kernels compute them.
#include <ATen/ATen.h>
#include <ATen/native/Pool.h>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "../../backends/common/pooling.h"
#include "op_registry.h"
#include "ops.h"
#include "ops_common.h"

namespace gems::ops {

// ---- pooling's arguments and geometry, and the vendor kernels' calls ----
namespace {

struct Pool2d {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// PyTorch's argument checks of max_pool2d (its meta function's), then its
// shape checks (ATen/native/Pool.h).
Pool2d pool2d_arguments(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                        at::IntArrayRef padding, at::IntArrayRef dilation, const char* op = "max_pool2d") {
  TORCH_CHECK(kernel_size.size() == 1 || kernel_size.size() == 2, op,
              ": kernel_size must either be a single int, or a tuple of two ints");
  TORCH_CHECK(stride.empty() || stride.size() == 1 || stride.size() == 2, op,
              ": stride must either be omitted, a single int, or a tuple of two ints");
  TORCH_CHECK(padding.size() == 1 || padding.size() == 2, op,
              ": padding must either be a single int, or a tuple of two ints");
  TORCH_CHECK(dilation.size() == 1 || dilation.size() == 2, op,
              ": dilation must be either a single int, or a tuple of two ints");
  Pool2d p;
  p.kh = kernel_size[0];
  p.kw = kernel_size.size() == 1 ? p.kh : kernel_size[1];
  p.sh = stride.empty() ? p.kh : stride[0];
  p.sw = stride.empty() ? p.kw : stride.size() == 1 ? p.sh : stride[1];
  p.ph = padding[0];
  p.pw = padding.size() == 1 ? p.ph : padding[1];
  p.dh = dilation[0];
  p.dw = dilation.size() == 1 ? p.dh : dilation[1];
  TORCH_CHECK(input.dim() == 3 || input.dim() == 4, "non-empty 3D or 4D (batch mode) tensor expected for input");
  return p;
}

// A window's geometry along each spatial dim (2 or 3 of them).
struct PoolNd {
  int64_t dims = 0;
  at::DimVector kernel, stride, padding, dilation, in, out;
};

// PyTorch's argument checks of max_pool3d (average = false; its CPU kernel's)
// or avg_pool3d (average = true, dilation 1; its meta function's), then their
// shape checks (ATen/native/Pool.h), in each op's words.
PoolNd pool3d_arguments(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                        at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode, bool average) {
  const char* op = average ? "avg_pool3d: " : "max_pool3d: ";
  const char* either = average ? "" : "either ";
  TORCH_CHECK(kernel_size.size() == 1 || kernel_size.size() == 3, op, "kernel_size must ", either,
              "be a single int, or a tuple of three ints");
  TORCH_CHECK(stride.empty() || stride.size() == 1 || stride.size() == 3, op, "stride must ", either,
              "be omitted, a single int, or a tuple of three ints");
  TORCH_CHECK(padding.size() == 1 || padding.size() == 3, op, "padding must ", either,
              "be a single int, or a tuple of three ints");
  TORCH_CHECK(dilation.size() == 1 || dilation.size() == 3,
              "max_pool3d: dilation must be either a single int, or a tuple of three ints");
  TORCH_CHECK(input.dim() == 4 || input.dim() == 5, "non-empty 4D or 5D (batch mode) tensor expected for input");
  PoolNd p;
  p.dims = 3;
  auto at_i = [](at::IntArrayRef v, int64_t i) { return v.size() == 1 ? v[0] : v[i]; };
  for (int64_t i = 0; i < 3; ++i) {
    p.kernel.push_back(at_i(kernel_size, i));
    p.stride.push_back(stride.empty() ? p.kernel[i] : at_i(stride, i));
    p.padding.push_back(at_i(padding, i));
    p.dilation.push_back(at_i(dilation, i));
    p.in.push_back(input.size(input.dim() - 3 + i));
    p.out.push_back(at::native::pooling_output_shape<int64_t>(p.in[i], p.kernel[i], p.padding[i], p.stride[i],
                                                              p.dilation[i], ceil_mode));
  }
  at::native::pool3d_shape_check(input, input.size(-4), p.kernel[0], p.kernel[1], p.kernel[2], p.stride[0],
                                 p.stride[1], p.stride[2], p.padding[0], p.padding[1], p.padding[2], p.dilation[0],
                                 p.dilation[1], p.dilation[2], p.in[0], p.in[1], p.in[2], p.out[0], p.out[1],
                                 p.out[2], average ? "avg_pool3d()" : "max_pool3d_with_indices()", average);
  return p;
}

PoolNd pool2d_geometry(const at::Tensor& input, const Pool2d& q, bool ceil_mode) {
  PoolNd p;
  p.dims = 2;
  p.kernel = {q.kh, q.kw};
  p.stride = {q.sh, q.sw};
  p.padding = {q.ph, q.pw};
  p.dilation = {q.dh, q.dw};
  for (int64_t i = 0; i < 2; ++i) {
    p.in.push_back(input.size(input.dim() - 2 + i));
    p.out.push_back(at::native::pooling_output_shape<int64_t>(p.in[i], p.kernel[i], p.padding[i], p.stride[i],
                                                              p.dilation[i], ceil_mode));
  }
  at::native::pool2d_shape_check(input, q.kh, q.kw, q.sh, q.sw, q.ph, q.pw, q.dh, q.dw, input.size(-3), p.in[0],
                                 p.in[1], p.out[0], p.out[1], input.suggest_memory_format());
  return p;
}

// The vendor's kernel scalars: kind, count_include_pad, divisor override
// (0: none), then window, stride, padding and dilation per spatial dim.
std::vector<gems_scalar> pool_scalars(int64_t kind, const PoolNd& p, bool count_include_pad, int64_t divisor) {
  std::vector<gems_scalar> s{int_arg(kind), int_arg(count_include_pad), int_arg(divisor)};
  for (const at::DimVector* v : {&p.kernel, &p.stride, &p.padding, &p.dilation})
    for (int64_t x : *v) s.push_back(int_arg(x));
  return s;
}

// Pooling of a batched [n, c, in...] or unbatched [c, in...] input by the
// vendor's "pool" kernel: the output in the input's memory format and, for
// the max kinds, the indices (flat over the spatial dims).
std::tuple<at::Tensor, at::Tensor> pool_forward(const at::Tensor& input, const PoolNd& p, int64_t kind,
                                                bool count_include_pad = false, int64_t divisor = 0) {
  static const Kernel k("pool");
  k.require(input.scalar_type());
  const bool batched = input.dim() == p.dims + 2;
  const at::Tensor x = batched ? input : input.unsqueeze(0);
  at::DimVector shape{x.size(0), x.size(1)};
  shape.append(p.out.begin(), p.out.end());
  const at::MemoryFormat format = batched ? input.suggest_memory_format() : at::MemoryFormat::Contiguous;
  at::Tensor values = at::empty(shape, x.options(), format);
  at::Tensor indices;
  if (kind != kPoolAverage) indices = at::empty(shape, x.options().dtype(at::kLong), format);
  if (values.numel() > 0) {
    std::vector<gems_tensor> d{describe(values)};
    if (indices.defined()) d.push_back(describe(indices));
    d.push_back(describe(x));
    k.launch(launch_index(x.device()), d.data(), static_cast<int32_t>(d.size()),
             pool_scalars(kind, p, count_include_pad, divisor));
  }
  if (!batched) return {values.squeeze(0), indices.defined() ? indices.squeeze(0) : indices};
  return {values, indices};
}

// The input gradient of pool_forward by the vendor's "pool_backward" kernel,
// in the input's memory format.
at::Tensor pool_backward(const at::Tensor& grad_output, const at::Tensor& input, const PoolNd& p, int64_t kind,
                         const at::Tensor& indices, bool count_include_pad = false, int64_t divisor = 0) {
  static const Kernel k("pool_backward");
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(), "expected dtype ", input.scalar_type(),
              " for `gradOutput` but got dtype ", grad_output.scalar_type());
  k.require(input.scalar_type());
  const bool batched = input.dim() == p.dims + 2;
  at::DimVector shape{batched ? input.size(0) : 1, input.size(-p.dims - 1)};
  shape.append(p.out.begin(), p.out.end());
  TORCH_CHECK(grad_output.numel() == c10::multiply_integers(shape), "pooling backward: grad_output of size ",
              grad_output.sizes(), " for an output of ", at::IntArrayRef(shape));
  const at::Tensor dy = grad_output.view(shape);
  const at::MemoryFormat format = batched ? input.suggest_memory_format() : at::MemoryFormat::Contiguous;
  at::Tensor grad = at::empty(batched ? input.sizes() : input.unsqueeze(0).sizes(), input.options(), format);
  if (grad.numel() > 0 && dy.numel() == 0) grad.zero_();
  if (grad.numel() > 0 && dy.numel() > 0) {
    std::vector<gems_tensor> d{describe(grad), describe(dy)};
    if (kind != kPoolAverage) {
      TORCH_CHECK(indices.scalar_type() == at::kLong && indices.numel() == dy.numel(),
                  "pooling backward: expected int64 indices of the output's size, but got ", indices.scalar_type(),
                  " indices of size ", indices.sizes());
      d.push_back(describe(indices.view(shape)));
    }
    k.launch(launch_index(grad.device()), d.data(), static_cast<int32_t>(d.size()),
             pool_scalars(kind, p, count_include_pad, divisor));
  }
  return batched ? grad : grad.squeeze(0);
}

// PyTorch's shape checks of a pooling backward's gradient (and indices) against
// the forward's geometry (ATen/native/Pool.h), average = avg_pool.
void check_backward_shapes(const at::Tensor& input, const at::Tensor& grad_output, const at::Tensor* indices,
                           const PoolNd& p) {
  const int64_t planes = input.size(-p.dims - 1);
  const auto k = [&](int64_t i) { return static_cast<int>(p.kernel[i]); };
  const auto s = [&](int64_t i) { return static_cast<int>(p.stride[i]); };
  const auto pad = [&](int64_t i) { return static_cast<int>(p.padding[i]); };
  const auto dil = [&](int64_t i) { return static_cast<int>(p.dilation[i]); };
  if (p.dims == 2 && indices)
    at::native::max_pool2d_backward_shape_check(input, grad_output, *indices, k(0), k(1), s(0), s(1), pad(0), pad(1),
                                                dil(0), dil(1), planes, p.in[0], p.in[1], p.out[0], p.out[1],
                                                input.suggest_memory_format());
  else if (p.dims == 2)
    at::native::avg_pool2d_backward_shape_check(input, grad_output, 0, k(0), k(1), s(0), s(1), pad(0), pad(1),
                                                planes, p.in[0], p.in[1], p.out[0], p.out[1],
                                                input.suggest_memory_format());
  else if (indices)
    at::native::max_pool3d_backward_shape_check(input, grad_output, *indices, planes, k(0), k(1), k(2), s(0), s(1),
                                                s(2), pad(0), pad(1), pad(2), dil(0), dil(1), dil(2), p.in[0],
                                                p.in[1], p.in[2], p.out[0], p.out[1], p.out[2],
                                                "max_pool3d_with_indices_backward()");
  else
    at::native::avg_pool3d_backward_shape_check(input, grad_output, planes, k(0), k(1), k(2), s(0), s(1), s(2),
                                                pad(0), pad(1), pad(2), p.in[0], p.in[1], p.in[2], p.out[0],
                                                p.out[1], p.out[2], "avg_pool3d_backward()");
}

}  // namespace

// ---- max pooling 2-d and 3-d with indices ----

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_indices(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                           at::IntArrayRef stride, at::IntArrayRef padding,
                                                           at::IntArrayRef dilation, bool ceil_mode) {
  const Pool2d q = pool2d_arguments(input, kernel_size, stride, padding, dilation);
  if (input.scalar_type() == at::kBool) throw NotServed("max_pool2d of bool");
  return pool_forward(input, pool2d_geometry(input, q, ceil_mode), kPoolMax);
}

at::Tensor max_pool2d_with_indices_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                            at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                            at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                            const at::Tensor& indices) {
  const Pool2d q = pool2d_arguments(input, kernel_size, stride, padding, dilation);
  const PoolNd p = pool2d_geometry(input, q, ceil_mode);
  check_backward_shapes(input, grad_output, &indices, p);
  return pool_backward(grad_output, input, p, kPoolMax, indices);
}

std::tuple<at::Tensor, at::Tensor> max_pool3d_with_indices(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                           at::IntArrayRef stride, at::IntArrayRef padding,
                                                           at::IntArrayRef dilation, bool ceil_mode) {
  const PoolNd p = pool3d_arguments(input, kernel_size, stride, padding, dilation, ceil_mode, false);
  if (input.scalar_type() == at::kBool) throw NotServed("max_pool3d of bool");
  return pool_forward(input, p, kPoolMax);
}

at::Tensor max_pool3d_with_indices_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                            at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                            at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                            const at::Tensor& indices) {
  const PoolNd p = pool3d_arguments(input, kernel_size, stride, padding, dilation, ceil_mode, false);
  check_backward_shapes(input, grad_output, &indices, p);
  return pool_backward(grad_output, input, p, kPoolMax, indices);
}

// ---- average pooling 2-d and 3-d ----
namespace {

int64_t divisor_of(std::optional<int64_t> divisor_override) {
  TORCH_CHECK(!divisor_override || *divisor_override != 0, "divisor must be not zero");
  return divisor_override.value_or(0);
}

}  // namespace

at::Tensor avg_pool2d(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                      std::optional<int64_t> divisor_override) {
  if (!at::isFloatingType(input.scalar_type()) && input.scalar_type() != at::kLong)
    throw NotServed("avg_pool2d of an integer dtype other than int64");
  const Pool2d q = pool2d_arguments(input, kernel_size, stride, padding, {1}, "avg_pool2d");
  const int64_t divisor = divisor_of(divisor_override);
  return std::get<0>(
      pool_forward(input, pool2d_geometry(input, q, ceil_mode), kPoolAverage, count_include_pad, divisor));
}

at::Tensor avg_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& input, at::IntArrayRef kernel_size,
                               at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode,
                               bool count_include_pad, std::optional<int64_t> divisor_override) {
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("avg_pool2d_backward of a non-float dtype");
  const Pool2d q = pool2d_arguments(input, kernel_size, stride, padding, {1}, "avg_pool2d");
  const PoolNd p = pool2d_geometry(input, q, ceil_mode);
  const int64_t divisor = divisor_of(divisor_override);
  check_backward_shapes(input, grad_output, nullptr, p);
  return pool_backward(grad_output, input, p, kPoolAverage, at::Tensor(), count_include_pad, divisor);
}

at::Tensor avg_pool3d(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                      std::optional<int64_t> divisor_override) {
  if (!at::isFloatingType(input.scalar_type()) && input.scalar_type() != at::kLong)
    throw NotServed("avg_pool3d of an integer dtype other than int64");
  const PoolNd p = pool3d_arguments(input, kernel_size, stride, padding, {1}, ceil_mode, true);
  const int64_t divisor = divisor_of(divisor_override);
  return std::get<0>(pool_forward(input, p, kPoolAverage, count_include_pad, divisor));
}

at::Tensor avg_pool3d_backward(const at::Tensor& grad_output, const at::Tensor& input, at::IntArrayRef kernel_size,
                               at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode,
                               bool count_include_pad, std::optional<int64_t> divisor_override) {
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("avg_pool3d_backward of a non-float dtype");
  const PoolNd p = pool3d_arguments(input, kernel_size, stride, padding, {1}, ceil_mode, true);
  const int64_t divisor = divisor_of(divisor_override);
  check_backward_shapes(input, grad_output, nullptr, p);
  return pool_backward(grad_output, input, p, kPoolAverage, at::Tensor(), count_include_pad, divisor);
}

// ---- one pass of the vendor's interpolate kernel, for nearest, linear and
// cubic resampling and for padding, forward and backward (ops_common.h):
// each spatial dim's taps as [K, O] index and weight tables, the nested
// weighted sums in the opmath type (backends/common/interpolate.h), the
// output in the input's dtype and memory format ----
namespace {

// The taps of the adjoint map, for a backward: source i reads each output o
// whose taps name it, once per such tap (two taps clamped onto one source at
// an edge stay two terms, as PyTorch adds them), in output order; padded to
// the widest source with index `zero` (a zero slice the caller appends) and
// weight 0.
ResampleTaps transposed(const ResampleTaps& h, int64_t sources, int64_t zero) {
  std::vector<std::vector<std::pair<int64_t, double>>> readers(sources);
  for (int64_t o = 0; o < h.O; ++o)
    for (int64_t k = 0; k < (h.used.empty() ? h.K : h.used[o]); ++k)
      readers[h.index[k * h.O + o]].emplace_back(o, h.weight[k * h.O + o]);
  ResampleTaps t;
  t.O = sources;
  for (const auto& r : readers) t.K = std::max<int64_t>(t.K, static_cast<int64_t>(r.size()));
  t.K = std::max<int64_t>(t.K, 1);
  t.index.assign(t.K * sources, zero);
  t.weight.assign(t.K * sources, 0.0);
  for (int64_t i = 0; i < sources; ++i)
    for (size_t k = 0; k < readers[i].size(); ++k) {
      t.index[k * sources + i] = readers[i][k].first;
      t.weight[k * sources + i] = readers[i][k].second;
    }
  return t;
}

}  // namespace

bool resample_serves(at::ScalarType type) {
  static const Kernel k("interpolate");
  return at::isFloatingType(type) && k.serves(type);
}

at::Tensor resample(const at::Tensor& self, at::IntArrayRef output_size,
                    const std::function<ResampleTaps(int64_t dim)>& taps, int32_t precision) {
  static const Kernel k("interpolate");
  const int64_t dims = static_cast<int64_t>(output_size.size());
  k.require(self.scalar_type());
  at::DimVector shape(self.sizes().begin(), self.sizes().end());
  for (int64_t i = 0; i < dims; ++i) shape[i + 2] = output_size[i];
  at::Tensor out = at::empty(shape, self.options().memory_format(self.suggest_memory_format()));
  if (out.numel() == 0) return out;
  // Each dim's [K, O] index and weight tables (weights in the opmath type; int32 fixed point
  // for uint8), copied to the device once.
  const bool fixed_point = self.scalar_type() == at::kByte;
  const at::TensorOptions weights = self.options().dtype(fixed_point ? at::kInt : accumulate_type(self.scalar_type()));
  std::vector<at::Tensor> tables;
  for (int64_t i = 0; i < dims; ++i) {
    const ResampleTaps t = taps(i);
    tables.push_back(at::tensor(t.index, at::kLong).view({t.K, t.O}).to(self.device()));
    tables.push_back(at::tensor(t.weight, at::kDouble).view({t.K, t.O}).to(weights));
  }
  c10::SmallVector<gems_tensor, 8> d = {describe(out), describe(self)};
  for (const at::Tensor& t : tables) d.push_back(describe(t));
  const gems_scalar bits = int_arg(precision);
  k.launch(launch_index(self.device()), d.data(), static_cast<int32_t>(d.size()),
           fixed_point ? c10::ArrayRef<gems_scalar>(bits) : c10::ArrayRef<gems_scalar>());
  return out;
}

// One pass of the interpolate kernel over the transposed tables (each input
// position sums the outputs that read it), reading the gradient with a zero
// slice appended to every spatial dim, which the padding reads (0 * 0: never
// the NaN of 0 * inf). Sums in the opmath type, rounded to the gradient's
// dtype once.
at::Tensor resample_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                             const std::function<ResampleTaps(int64_t dim)>& taps) {
  const int64_t dims = grad_output.dim() - 2;
  std::vector<int64_t> pad(2 * dims, 0);
  for (int64_t i = 0; i < dims; ++i) pad[2 * i + 1] = 1;  // one slice after the end of each spatial dim
  const at::Tensor padded = at::constant_pad_nd(grad_output, pad, 0);
  const at::Tensor grad = resample(padded, input_size.slice(2), [&](int64_t i) {
    return transposed(taps(i), input_size[i + 2], grad_output.size(i + 2));
  });
  return grad.contiguous(grad_output.suggest_memory_format());
}

// ---- nearest upsampling 1-3d (nearest and nearest-exact) with PyTorch's
// source indices: floats in one pass of the interpolate kernel each way (the
// backward over the transposed taps), other dtypes one row lookup per
// spatial dim ----
namespace {

// PyTorch's source index of output position i (UpSample.h: float32 scale,
// 1 / scale_factor when one is given, else input / output).
std::vector<int64_t> nearest_sources(int64_t input, int64_t output, std::optional<double> scale, bool exact) {
  const float s = scale && *scale > 0 ? static_cast<float>(1.0 / *scale)
                                      : static_cast<float>(input) / static_cast<float>(output);
  std::vector<int64_t> src(output);
  for (int64_t i = 0; i < output; ++i) {
    if (!exact && output == input) src[i] = i;
    else if (!exact && output == 2 * input) src[i] = i >> 1;
    else {
      const float at = exact ? (static_cast<float>(i) + 0.5f) * s : static_cast<float>(i) * s;
      src[i] = std::min(static_cast<int64_t>(std::floor(at)), input - 1);
    }
  }
  return src;
}

void check_upsample(int64_t dims, at::IntArrayRef input_size, at::IntArrayRef output_size) {
  TORCH_CHECK(static_cast<int64_t>(output_size.size()) == dims, "It is expected output_size equals to ", dims,
              ", but got size ", output_size.size());
  TORCH_CHECK(static_cast<int64_t>(input_size.size()) == dims + 2, "It is expected input_size equals to ", dims + 2,
              ", but got size ", input_size.size());
  bool positive = true;
  for (int64_t i = 0; i < dims; ++i) positive &= input_size[i + 2] > 0 && output_size[i] > 0;
  TORCH_CHECK(positive, "Input and output sizes should be greater than 0, but got input ", input_size.slice(2),
              " output ", output_size);
}

// PyTorch's checks of an upsampling's input (sizes, then non-empty but for the batch).
void check_upsample_input(const at::Tensor& self, int64_t dims, at::IntArrayRef output_size) {
  check_upsample(dims, self.sizes(), output_size);
  TORCH_CHECK(self.numel() != 0 || c10::multiply_integers(self.sizes().slice(1)) != 0, "Non-empty ", dims + 2,
              "D data tensor expected but got a tensor with sizes ", self.sizes());
}

// PyTorch's checks of an upsampling's backward: grad_output has the output's shape.
void check_upsample_gradient(const at::Tensor& grad_output, int64_t dims, at::IntArrayRef input_size,
                             at::IntArrayRef output_size) {
  check_upsample(dims, input_size, output_size);
  TORCH_CHECK(grad_output.dim() == dims + 2, "Expected grad_output to be a tensor of dimension ", dims + 2,
              " but got: dimension ", grad_output.dim());
  for (int64_t i = 0; i < dims + 2; ++i) {
    const int64_t expected = i < 2 ? input_size[i] : output_size[i - 2];
    TORCH_CHECK(grad_output.size(i) == expected, "Expected grad_output to have the same shape as output; output.size(",
                i, ") = ", expected, " but got grad_output.size(", i, ") = ", grad_output.size(i));
  }
}

at::Tensor nearest_forward(const at::Tensor& self, at::IntArrayRef output_size,
                           std::initializer_list<std::optional<double>> scales, bool exact) {
  static const Kernel k("index_select");
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample_input(self, dims, output_size);
  if (resample_serves(self.scalar_type())) {
    // Floats in one pass.
    return resample(self, output_size, [&](int64_t i) {
      return index_map_taps(nearest_sources(self.size(i + 2), output_size[i], scales.begin()[i], exact));
    });
  }
  k.require(self.scalar_type());
  at::Tensor out = self;
  const auto* scale = scales.begin();
  for (int64_t i = 0; i < dims; ++i, ++scale)
    if (out.size(i + 2) != output_size[i] || exact)
      out = pick_rows(out, i + 2, nearest_sources(self.size(i + 2), output_size[i], *scale, exact));
  if (out.is_same(self)) out = self.clone();
  return out.contiguous(self.suggest_memory_format());
}

at::Tensor nearest_backward(const at::Tensor& grad_output, at::IntArrayRef output_size, at::IntArrayRef input_size,
                            std::initializer_list<std::optional<double>> scales, bool exact) {
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample_gradient(grad_output, dims, input_size, output_size);
  if (!at::isFloatingType(grad_output.scalar_type())) throw NotServed("upsample backward of a non-float dtype");
  if (resample_serves(grad_output.scalar_type())) {
    // One pass: each input position sums the output gradients that read it.
    return resample_backward(grad_output, input_size, [&](int64_t i) {
      return index_map_taps(nearest_sources(input_size[i + 2], output_size[i], scales.begin()[i], exact));
    });
  }
  at::Tensor grad = grad_output;
  const auto* scale = scales.begin() + dims - 1;
  for (int64_t i = dims - 1; i >= 0; --i, --scale) {
    const int64_t d = i + 2;
    if (grad.size(d) == input_size[d] && !exact) continue;
    grad = add_rows_into(grad, d, input_size[d], nearest_sources(input_size[d], output_size[i], *scale, exact));
  }
  return grad.to(grad_output.scalar_type()).contiguous(grad_output.suggest_memory_format());
}

}  // namespace

at::Tensor upsample_nearest1d(const at::Tensor& self, at::IntArrayRef size, std::optional<double> s) {
  return nearest_forward(self, size, {s}, false);
}
at::Tensor upsample_nearest2d(const at::Tensor& self, at::IntArrayRef size, std::optional<double> sh,
                              std::optional<double> sw) {
  return nearest_forward(self, size, {sh, sw}, false);
}
at::Tensor upsample_nearest3d(const at::Tensor& self, at::IntArrayRef size, std::optional<double> sd,
                              std::optional<double> sh, std::optional<double> sw) {
  return nearest_forward(self, size, {sd, sh, sw}, false);
}
at::Tensor upsample_nearest_exact1d(const at::Tensor& self, at::IntArrayRef size, std::optional<double> s) {
  return nearest_forward(self, size, {s}, true);
}
at::Tensor upsample_nearest_exact2d(const at::Tensor& self, at::IntArrayRef size, std::optional<double> sh,
                                    std::optional<double> sw) {
  return nearest_forward(self, size, {sh, sw}, true);
}
at::Tensor upsample_nearest_exact3d(const at::Tensor& self, at::IntArrayRef size, std::optional<double> sd,
                                    std::optional<double> sh, std::optional<double> sw) {
  return nearest_forward(self, size, {sd, sh, sw}, true);
}
at::Tensor upsample_nearest1d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                       std::optional<double> s) {
  return nearest_backward(g, out, in, {s}, false);
}
at::Tensor upsample_nearest2d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                       std::optional<double> sh, std::optional<double> sw) {
  return nearest_backward(g, out, in, {sh, sw}, false);
}
at::Tensor upsample_nearest3d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                       std::optional<double> sd, std::optional<double> sh, std::optional<double> sw) {
  return nearest_backward(g, out, in, {sd, sh, sw}, false);
}
at::Tensor upsample_nearest_exact1d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                             std::optional<double> s) {
  return nearest_backward(g, out, in, {s}, true);
}
at::Tensor upsample_nearest_exact2d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                             std::optional<double> sh, std::optional<double> sw) {
  return nearest_backward(g, out, in, {sh, sw}, true);
}
at::Tensor upsample_nearest_exact3d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                             std::optional<double> sd, std::optional<double> sh,
                                             std::optional<double> sw) {
  return nearest_backward(g, out, in, {sd, sh, sw}, true);
}

// ---- linear, bilinear, trilinear and bicubic upsampling, and antialiased
// bilinear and bicubic resizing: separable, one dim at a time, each output a
// blend of two taps (linear), four (cubic convolution, A = -0.75) or, with
// antialias, a window whose width grows with the downscale factor (PyTorch's
// triangle and Keys cubic (A = -0.5) filters, normalised), picked with
// index_select, with PyTorch's source indices and weights (computed on the
// host in its opmath type). Applying the last dim first and summing the taps
// in order repeats PyTorch's CPU arithmetic; 16-bit inputs blend in float32,
// rounded once. The backward adds each output gradient's weighted shares into
// its sources, dim by dim in the other order ----
namespace {

enum class Blend { kLinear, kCubic, kLinearAntialias, kCubicAntialias };

// PyTorch's area_pixel_compute_scale and area_pixel_compute_source_index.
template <typename T>
T source_scale(int64_t input, int64_t output, bool align_corners, std::optional<double> scale) {
  if (align_corners) return output > 1 ? static_cast<T>(input - 1) / static_cast<T>(output - 1) : T(0);
  return scale && *scale > 0 ? static_cast<T>(1.0 / *scale) : static_cast<T>(input) / static_cast<T>(output);
}
template <typename T>
T source_index(T s, int64_t o, bool align_corners, bool cubic) {
  if (align_corners) return s * static_cast<T>(o);
  const T src = s * (static_cast<T>(o) + T(0.5)) - T(0.5);
  return !cubic && src < T(0) ? T(0) : src;
}

// PyTorch's resampling filters: a triangle for bilinear, Keys' cubic for
// bicubic (A = -0.5 antialiased, as PIL; -0.75 otherwise, as its cubic
// convolution).
template <typename T>
T resize_filter(Blend blend, T x) {
  x = std::abs(x);
  if (blend == Blend::kLinear || blend == Blend::kLinearAntialias) return x < T(1) ? T(1) - x : T(0);
  const T A = blend == Blend::kCubicAntialias ? T(-0.5) : T(-0.75);
  if (x < T(1)) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < T(2)) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return T(0);
}

// PyTorch's cubic convolution coefficients of the four taps at offset t in
// [0, 1) (at t = 0 the outer two are 0 either way the filter is read).
template <typename T>
std::array<T, 4> cubic_weights(T t) {
  auto f = [](T x) { return resize_filter<T>(Blend::kCubic, x); };
  return {f(t + 1), f(t), f(1 - t), f(2 - t)};
}

// The taps of an antialiased resize: output o reads the window [xmin, xmin +
// size) around its centre, the filter stretched by the downscale factor,
// the weights normalised to sum to 1; taps past a window's end weigh 0.
template <typename T>
void antialias_taps(Blend blend, int64_t input, int64_t output, T s, std::vector<std::vector<int64_t>>& index,
                    std::vector<std::vector<T>>& weight, std::vector<int64_t>& used) {
  const T half_width = blend == Blend::kLinearAntialias ? T(1) : T(2);  // the filter's interp_size / 2
  const T support = s >= T(1) ? half_width * s : half_width;
  const T invscale = s >= T(1) ? T(1) / s : T(1);
  const int64_t n = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  index.assign(n, std::vector<int64_t>(output));
  weight.assign(n, std::vector<T>(output, T(0)));
  used.assign(output, 0);
  for (int64_t o = 0; o < output; ++o) {
    const T center = s * (static_cast<T>(o) + T(0.5));
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + T(0.5)), int64_t{0});
    const int64_t size = std::clamp(std::min(static_cast<int64_t>(center + support + T(0.5)), input) - xmin,
                                    int64_t{0}, n);
    used[o] = size;
    T total = T(0);
    for (int64_t j = 0; j < n; ++j) {
      index[j][o] = std::min(xmin + j, input - 1);
      if (j < size) total += weight[j][o] = resize_filter<T>(blend, (static_cast<T>(j + xmin) - center + T(0.5)) * invscale);
    }
    if (total != T(0))
      for (int64_t j = 0; j < size; ++j) weight[j][o] /= total;
  }
}

template <typename T>
ResampleTaps host_taps(Blend blend, int64_t input, int64_t output, bool align_corners, std::optional<double> scale) {
  const T s = source_scale<T>(input, output, align_corners, scale);
  const int n = blend == Blend::kLinear ? 2 : 4;
  std::vector<std::vector<int64_t>> index(n, std::vector<int64_t>(output));
  std::vector<std::vector<T>> weight(n, std::vector<T>(output));
  std::vector<int64_t> used;
  if (blend == Blend::kLinearAntialias || blend == Blend::kCubicAntialias)
    antialias_taps<T>(blend, input, output, s, index, weight, used);
  else for (int64_t o = 0; o < output; ++o) {
    const T src = source_index<T>(s, o, align_corners, blend == Blend::kCubic);
    if (blend == Blend::kLinear) {
      const int64_t i = std::min(static_cast<int64_t>(std::floor(src)), input - 1);
      const T lambda = std::min(std::max(src - static_cast<T>(i), T(0)), T(1));
      index[0][o] = i;
      index[1][o] = i + (i < input - 1 ? 1 : 0);
      weight[0][o] = T(1) - lambda;
      weight[1][o] = lambda;
    } else {
      const T floor = std::floor(src);
      const auto w = cubic_weights<T>(src - floor);
      for (int k = 0; k < 4; ++k) {
        index[k][o] = std::clamp<int64_t>(static_cast<int64_t>(floor) - 1 + k, 0, input - 1);
        weight[k][o] = w[k];
      }
    }
  }
  // One [taps, out] table each.
  ResampleTaps t;
  t.K = static_cast<int64_t>(index.size());
  t.O = output;
  t.used = std::move(used);
  for (int64_t k = 0; k < t.K; ++k) {
    t.index.insert(t.index.end(), index[k].begin(), index[k].end());
    t.weight.insert(t.weight.end(), weight[k].begin(), weight[k].end());
  }
  return t;
}

// The taps in the opmath type of `type` (float64 for float64, else float32).
ResampleTaps taps_of(Blend blend, int64_t input, int64_t output, bool align_corners, std::optional<double> scale,
                     at::ScalarType type) {
  return accumulate_type(type) == at::kDouble ? host_taps<double>(blend, input, output, align_corners, scale)
                                              : host_taps<float>(blend, input, output, align_corners, scale);
}

// ---- uint8 resizing (bilinear and bicubic, antialiased or not, 2-d as on
// CPU): PyTorch CPU's fixed-point arithmetic. Its taps in double, the weights
// scaled to integers with the most bits of precision that keep the largest
// under 2^15; one interpolate pass a resized dim, the last dim first, each
// rounded and clamped to uint8; a dim of unchanged size is not resampled ----

// The taps of a resize without antialiasing as PyTorch's uint8 path computes
// them: the support's taps around the source index, those past an edge
// folded onto the edge's tap (in its order of operations, exactly). largest:
// the largest weight as it tracks it, partial sums of folded taps included
// (it sets the fixed point's precision).
ResampleTaps folded_taps(Blend blend, int64_t input, int64_t output, bool align_corners, double s, double& largest) {
  const bool cubic = blend == Blend::kCubic;
  const int64_t n = cubic ? 4 : 2, support = n / 2;
  ResampleTaps t;
  t.K = n;
  t.O = output;
  t.index.assign(n * output, 0);
  t.weight.assign(n * output, 0.0);
  t.used.assign(output, 0);
  std::vector<double> w(n);
  for (int64_t o = 0; o < output; ++o) {
    const double real = source_index<double>(s, o, align_corners, cubic);
    // PyTorch's guard_index_and_lambda (its floorf included)
    const int64_t i = std::min(static_cast<int64_t>(std::floor(static_cast<float>(real))), input - 1);
    const double lambda = std::min(std::max(real - static_cast<double>(i), 0.0), 1.0);
    const int64_t first = i - support + 1, xmin = std::max<int64_t>(first, 0);
    const int64_t size = std::clamp<int64_t>(std::min(i + support + 1, input) - xmin, 0, n);
    int64_t at = 0;
    for (int64_t j = 0; j < n; ++j) {
      w[j] = 0.0;
      if (first + j <= 0) at = 0;
      else if (first + j >= input - 1) at = size - 1;
      w[at] += resize_filter<double>(blend, static_cast<double>(j + 1 - support) - lambda);
      largest = std::max(largest, w[at]);
      ++at;
    }
    t.used[o] = size;
    for (int64_t j = 0; j < n; ++j) {
      t.index[j * output + o] = std::min(xmin + j, input - 1);
      t.weight[j * output + o] = j < size ? w[j] : 0.0;
    }
  }
  return t;
}

// One dim's uint8 taps: weights in fixed point with `precision` bits.
struct FixedPointTaps {
  ResampleTaps taps;
  int32_t precision = 0;
};
FixedPointTaps uint8_taps(Blend blend, int64_t input, int64_t output, bool align_corners, std::optional<double> scale) {
  FixedPointTaps f;
  double largest = 0.0;
  if (blend == Blend::kLinearAntialias || blend == Blend::kCubicAntialias) {
    f.taps = host_taps<double>(blend, input, output, align_corners, scale);
    for (double w : f.taps.weight) largest = std::max(largest, w);
  } else {
    f.taps = folded_taps(blend, input, output, align_corners, source_scale<double>(input, output, align_corners, scale),
                         largest);
  }
  for (f.precision = 0; f.precision < 22; ++f.precision)
    if (static_cast<int>(0.5 + largest * (1 << (f.precision + 1))) >= (1 << 15)) break;
  for (double& w : f.taps.weight) {
    const double v = w * (1 << f.precision);
    w = static_cast<int16_t>(v < 0 ? static_cast<int>(-0.5 + v) : static_cast<int>(0.5 + v));
  }
  return f;
}

at::Tensor resize_uint8(Blend blend, const at::Tensor& self, at::IntArrayRef output_size, bool align_corners,
                        std::initializer_list<std::optional<double>> scales) {
  static const Kernel k("interpolate");
  if (!k.serves(at::kByte)) throw NotServed("uint8 resizing on this vendor");
  const int64_t dims = static_cast<int64_t>(output_size.size());
  at::Tensor current = self;
  for (int64_t d = dims - 1; d >= 0; --d) {
    if (output_size[d] == self.size(d + 2)) continue;
    const FixedPointTaps pass = uint8_taps(blend, self.size(d + 2), output_size[d], align_corners, scales.begin()[d]);
    const at::DimVector before(current.sizes().begin() + 2, current.sizes().end());
    at::DimVector sizes = before;
    sizes[d] = output_size[d];
    current = resample(current, sizes, [&](int64_t i) {
      if (i == d) return pass.taps;
      std::vector<int64_t> same(before[i]);
      std::iota(same.begin(), same.end(), int64_t{0});
      return index_map_taps(std::move(same));
    }, pass.precision);
  }
  if (current.is_same(self))  // nothing resized: a copy, as PyTorch's
    return at::empty(self.sizes(), self.options().memory_format(self.suggest_memory_format())).copy_(self);
  return current;
}

// Linear and cubic resampling in one pass of the interpolate kernel.
at::Tensor blend_forward(Blend blend, const at::Tensor& self, at::IntArrayRef output_size, bool align_corners,
                         std::initializer_list<std::optional<double>> scales) {
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample_input(self, dims, output_size);
  if (self.scalar_type() == at::kByte && dims == 2) return resize_uint8(blend, self, output_size, align_corners, scales);
  if (!at::isFloatingType(self.scalar_type())) throw NotServed("linear or cubic upsampling of a non-float dtype");
  return resample(self, output_size, [&](int64_t i) {
    return taps_of(blend, self.size(i + 2), output_size[i], align_corners, scales.begin()[i], self.scalar_type());
  });
}

at::Tensor blend_backward(Blend blend, const at::Tensor& grad_output, at::IntArrayRef output_size,
                          at::IntArrayRef input_size, bool align_corners,
                          std::initializer_list<std::optional<double>> scales) {
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample_gradient(grad_output, dims, input_size, output_size);
  if (!at::isFloatingType(grad_output.scalar_type()))
    throw NotServed("linear or cubic upsampling backward of a non-float dtype");
  return resample_backward(grad_output, input_size, [&](int64_t i) {
    return taps_of(blend, input_size[i + 2], output_size[i], align_corners, scales.begin()[i], grad_output.scalar_type());
  });
}

}  // namespace

at::Tensor upsample_bicubic2d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                              std::optional<double> sh, std::optional<double> sw) {
  return blend_forward(Blend::kCubic, self, size, align_corners, {sh, sw});
}
at::Tensor upsample_bicubic2d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                       bool align_corners, std::optional<double> sh, std::optional<double> sw) {
  return blend_backward(Blend::kCubic, g, out, in, align_corners, {sh, sw});
}
at::Tensor upsample_bilinear2d_aa(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                                  std::optional<double> sh, std::optional<double> sw) {
  return blend_forward(Blend::kLinearAntialias, self, size, align_corners, {sh, sw});
}
at::Tensor upsample_bilinear2d_aa_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                           bool align_corners, std::optional<double> sh, std::optional<double> sw) {
  return blend_backward(Blend::kLinearAntialias, g, out, in, align_corners, {sh, sw});
}
at::Tensor upsample_bicubic2d_aa(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                                 std::optional<double> sh, std::optional<double> sw) {
  return blend_forward(Blend::kCubicAntialias, self, size, align_corners, {sh, sw});
}
at::Tensor upsample_bicubic2d_aa_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                          bool align_corners, std::optional<double> sh, std::optional<double> sw) {
  return blend_backward(Blend::kCubicAntialias, g, out, in, align_corners, {sh, sw});
}
at::Tensor upsample_linear1d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                             std::optional<double> s) {
  return blend_forward(Blend::kLinear, self, size, align_corners, {s});
}
at::Tensor upsample_bilinear2d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                               std::optional<double> sh, std::optional<double> sw) {
  return blend_forward(Blend::kLinear, self, size, align_corners, {sh, sw});
}
at::Tensor upsample_trilinear3d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                                std::optional<double> sd, std::optional<double> sh, std::optional<double> sw) {
  return blend_forward(Blend::kLinear, self, size, align_corners, {sd, sh, sw});
}
at::Tensor upsample_linear1d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                      bool align_corners, std::optional<double> s) {
  return blend_backward(Blend::kLinear, g, out, in, align_corners, {s});
}
at::Tensor upsample_bilinear2d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                        bool align_corners, std::optional<double> sh, std::optional<double> sw) {
  return blend_backward(Blend::kLinear, g, out, in, align_corners, {sh, sw});
}
at::Tensor upsample_trilinear3d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                         bool align_corners, std::optional<double> sd, std::optional<double> sh,
                                         std::optional<double> sw) {
  return blend_backward(Blend::kLinear, g, out, in, align_corners, {sd, sh, sw});
}

// ---- adaptive average pooling 2-d and 3-d (and interpolate's "area" mode): a
// linear map in each spatial dim, out = A_d . x along each dim d, where row o
// of A averages input positions [start(o), end(o)) (PyTorch's integer window
// bounds): one GEMM per spatial dim, in float32 for 16-bit inputs. The
// backward applies the transposed maps ----
namespace {

// A [output, input]: 1/len over each output's window, in dtype `type` on `device`.
at::Tensor averaging_map(int64_t input, int64_t output, at::ScalarType type, c10::Device device) {
  std::vector<double> m(output * input, 0.0);
  for (int64_t o = 0; o < output; ++o) {
    const int64_t start = (o / output) * input + ((o % output) * input) / output;
    const int64_t end = 1 + ((o + 1) * input - 1) / output;
    for (int64_t i = start; i < end; ++i) m[o * input + i] = 1.0 / static_cast<double>(end - start);
  }
  return at::tensor(m, at::kDouble).view({output, input}).to(at::TensorOptions().dtype(type).device(device));
}

const char* adaptive_name(int64_t dims) { return dims == 2 ? "adaptive_avg_pool2d()" : "adaptive_avg_pool3d()"; }

void check_adaptive_input(const at::Tensor& input, int64_t dims, const char* name = nullptr) {
  if (!name) name = adaptive_name(dims);
  TORCH_CHECK(input.dim() == dims + 1 || input.dim() == dims + 2, name, ": Expected ", dims + 1, "D or ",
              dims + 2, "D tensor, but got ", input.sizes());
  for (int64_t i = 1; i < input.dim(); ++i)
    TORCH_CHECK(input.size(i) > 0, name, ": Expected input to have non-zero size for non-batch ",
                "dimensions, but input has sizes ", input.sizes(), " with dimension ", i, " being empty");
}

// x with the map of each of its last `sizes.size()` dims applied: map(input
// size, output size) gives the [rows, cols] matrix that multiplies that dim.
template <typename Map>
at::Tensor along_spatial_dims(at::Tensor x, int64_t dims, const Map& map) {
  for (int64_t i = 0; i < dims; ++i) {
    const int64_t d = x.dim() - 1 - i;
    const at::Tensor a = map(i, x.size(d));  // [new size, x.size(d)]
    x = at::matmul(x.movedim(d, -1), a.t()).movedim(-1, d);
  }
  return x;
}

at::Tensor adaptive_forward(const at::Tensor& input, at::IntArrayRef output_size, int64_t dims) {
  static const Kernel k("gemm");
  TORCH_CHECK(static_cast<int64_t>(output_size.size()) == dims, adaptive_name(dims), ": output_size must be ", dims);
  for (int64_t s : output_size)
    TORCH_CHECK(s >= 0, adaptive_name(dims), ": elements of output_size must be greater than or equal to 0 but ",
                "received ", output_size);
  check_adaptive_input(input, dims);
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("adaptive average pooling of a non-float dtype");
  const at::ScalarType compute = accumulate_type(input.scalar_type());
  k.require(compute);
  const at::Tensor out = along_spatial_dims(input.to(compute), dims, [&](int64_t i, int64_t size) {
    return averaging_map(size, output_size[dims - 1 - i], compute, input.device());
  });
  return out.to(input.scalar_type()).contiguous(input.dim() == dims + 2 ? input.suggest_memory_format()
                                                                        : at::MemoryFormat::Contiguous);
}

at::Tensor adaptive_backward(const at::Tensor& grad_output, const at::Tensor& input, int64_t dims) {
  static const Kernel k("gemm");
  check_adaptive_input(input, dims);
  TORCH_CHECK(grad_output.dim() == input.dim(), adaptive_name(dims), ": Expected grad_output of ", input.dim(),
              " dims, but got ", grad_output.sizes());
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("adaptive average pooling of a non-float dtype");
  const at::ScalarType compute = accumulate_type(input.scalar_type());
  k.require(compute);
  const at::Tensor grad = along_spatial_dims(grad_output.to(compute), dims, [&](int64_t i, int64_t size) {
    const int64_t d = input.dim() - 1 - i;
    return averaging_map(input.size(d), size, compute, input.device()).t();  // [input, output]
  });
  return grad.to(input.scalar_type()).contiguous(input.dim() == dims + 2 ? input.suggest_memory_format()
                                                                         : at::MemoryFormat::Contiguous);
}

}  // namespace

at::Tensor adaptive_avg_pool2d(const at::Tensor& input, at::IntArrayRef output_size) {
  return adaptive_forward(input, output_size, 2);
}
at::Tensor adaptive_avg_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& input) {
  return adaptive_backward(grad_output, input, 2);
}
at::Tensor adaptive_avg_pool3d(const at::Tensor& input, at::IntArrayRef output_size) {
  return adaptive_forward(input, output_size, 3);
}
at::Tensor adaptive_avg_pool3d_backward(const at::Tensor& grad_output, const at::Tensor& input) {
  return adaptive_backward(grad_output, input, 3);
}

// ---- adaptive max pooling 2-d and 3-d: the vendor's pooling kernels with
// PyTorch's integer window bounds ----
namespace {

const char* adaptive_max_name(int64_t dims) {
  return dims == 2 ? "adaptive_max_pool2d()" : "adaptive_max_pool3d()";
}

// The geometry of adaptive windows from the input's spatial sizes to `out`.
PoolNd adaptive_geometry(const at::Tensor& input, at::IntArrayRef out, int64_t dims) {
  PoolNd p;
  p.dims = dims;
  for (int64_t i = 0; i < dims; ++i) {
    p.in.push_back(input.size(input.dim() - dims + i));
    p.out.push_back(out[i]);
    p.kernel.push_back(1);
    p.stride.push_back(1);
    p.padding.push_back(0);
    p.dilation.push_back(1);
  }
  return p;
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_forward(const at::Tensor& input, at::IntArrayRef output_size,
                                                        int64_t dims) {
  const char* name = adaptive_max_name(dims);
  check_adaptive_input(input, dims, name);
  TORCH_CHECK(static_cast<int64_t>(output_size.size()) == dims, name, ": internal error: output_size.size() must be ",
              dims);
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("adaptive max pooling of a non-float dtype");
  return pool_forward(input, adaptive_geometry(input, output_size, dims), kPoolAdaptiveMax);
}

at::Tensor adaptive_max_backward(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& indices,
                                 int64_t dims) {
  check_adaptive_input(input, dims, adaptive_max_name(dims));
  TORCH_CHECK(grad_output.sizes() == indices.sizes(), adaptive_max_name(dims), ": grad_output of size ",
              grad_output.sizes(), " for indices of size ", indices.sizes());
  TORCH_CHECK(grad_output.dim() == input.dim(), adaptive_max_name(dims), ": grad_output of size ", grad_output.sizes(),
              " for an input of size ", input.sizes());
  return pool_backward(grad_output, input,
                       adaptive_geometry(input, grad_output.sizes().slice(grad_output.dim() - dims), dims),
                       kPoolAdaptiveMax, indices);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool2d(const at::Tensor& input, at::IntArrayRef output_size) {
  return adaptive_max_forward(input, output_size, 2);
}
at::Tensor adaptive_max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                        const at::Tensor& indices) {
  return adaptive_max_backward(grad_output, input, indices, 2);
}
std::tuple<at::Tensor, at::Tensor> adaptive_max_pool3d(const at::Tensor& input, at::IntArrayRef output_size) {
  return adaptive_max_forward(input, output_size, 3);
}
at::Tensor adaptive_max_pool3d_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                        const at::Tensor& indices) {
  return adaptive_max_backward(grad_output, input, indices, 3);
}

// ---- fractional max pooling 2-d and 3-d: windows of a fixed size at
// pseudo-random starts. Each plane's starts along each dim are PyTorch's
// interval sequences from its random samples, computed on the device in the
// input's dtype, step by step as its CPU kernel rounds them; each window's
// elements are gathered and reduced (its first largest, or its last NaN: the
// max pooling rule); the backward adds each gradient at its index ----
namespace {

// The window starts along one dim for every plane: [B, C, O] int64, from the
// samples [B, C] (PyTorch's generate_intervals: (i + u) * alpha - u * alpha,
// truncated, for i < O - 1, then I - pool).
at::Tensor fractional_starts(const at::Tensor& sample, int64_t in, int64_t out, int64_t pool) {
  const at::Tensor last = at::full({sample.size(0), sample.size(1), 1}, in - pool, sample.options().dtype(at::kLong));
  if (out <= 1) return out == 1 ? last : last.narrow(2, 0, 0);
  double alpha = 0;  // static_cast<scalar_t>(in - pool) / static_cast<scalar_t>(out - 1), in the input's dtype
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, sample.scalar_type(), "fractional_starts", [&] {
    alpha = static_cast<double>(static_cast<scalar_t>(in - pool) / static_cast<scalar_t>(out - 1));
  });
  const at::Tensor i = at::arange(out - 1, sample.options()).view({1, 1, -1});
  const at::Tensor ends = (i + sample.unsqueeze(-1)).mul(alpha).to(at::kInt);
  const at::Tensor offset = sample.mul(alpha).to(at::kInt).unsqueeze(-1);
  return at::cat({(ends - offset).to(at::kLong), last}, 2);
}

// Checks and sizes shared by the forward and backward (D = 2 or 3 spatial
// dims): whether the input has a batch dim, and the sizes per spatial dim.
struct FractionalPool {
  bool batched;
  at::DimVector in, out, window;
};

FractionalPool fractional_pool(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef output_size,
                               int64_t D) {
  const char* name = D == 2 ? "fractional_max_pool2d" : "fractional_max_pool3d_out";
  if (D == 2) {
    TORCH_CHECK(kernel_size.size() == 2, "fractional_max_pool2d: kernel_size must either be a single Int or tuple of Ints");
    TORCH_CHECK(output_size.size() == 2, "fractional_max_pool2d: output_size must either be a single Int or tuple of Ints");
  } else {
    TORCH_CHECK(kernel_size.size() == 3,
                "fractional_max_pool3d: kernel_size must either be a single Int or tuple of three Ints");
    TORCH_CHECK(output_size.size() == 3,
                "fractional_max_pool3d: output_size must either be a single Int or tuple of three Ints");
  }
  const int64_t ndims = input.dim();
  TORCH_CHECK(ndims == D + 1 || ndims == D + 2, name, "(): Expected ", D + 1, "D or ", D + 2, "D tensor, but got: ",
              input.sizes());
  for (int64_t i = ndims - D - 1; i < ndims; ++i)
    TORCH_CHECK(input.size(i) > 0, name, "(): Expected input to have non-zero size for non-batch dimensions, but got",
                input.sizes(), " with dimension ", i, " being empty.");
  FractionalPool p{ndims == D + 2, {}, {}, {}};
  for (int64_t d = 0; d < D; ++d) {
    p.in.push_back(input.size(ndims - D + d));
    p.out.push_back(output_size[d]);
    p.window.push_back(kernel_size[d]);
  }
  // PyTorch CPU's checks, in its order (height, width; time, width, height),
  // the 3-d ones strict (a window must leave one element out).
  static const char* kNames2[2] = {"height", "width"};
  static const char* kNames3[3] = {"time", "height", "width"};
  static const int64_t kOrder2[2] = {0, 1}, kOrder3[3] = {0, 2, 1};
  for (int64_t j = 0; j < D; ++j) {
    const int64_t e = D == 2 ? kOrder2[j] : kOrder3[j];
    const char* what = D == 2 ? kNames2[e] : kNames3[e];
    const int64_t reach = p.out[e] + p.window[e] - 1;
    TORCH_CHECK(D == 2 ? reach <= p.in[e] : reach < p.in[e], name, "(): pool ", what, " ", p.window[e],
                " too large relative to input ", what, " ", p.in[e]);
  }
  return p;
}

std::tuple<at::Tensor, at::Tensor> fractional_max_forward(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                          at::IntArrayRef output_size, const at::Tensor& random_samples,
                                                          int64_t D) {
  const FractionalPool p = fractional_pool(input, kernel_size, output_size, D);
  TORCH_CHECK(random_samples.dim() == 3, "Expect _random_samples to have 3 dimensions, got ", random_samples.dim());
  const at::Tensor x = p.batched ? input : input.unsqueeze(0);
  const int64_t B = x.size(0), C = x.size(1);
  TORCH_CHECK(random_samples.size(0) >= B, "Expect _random_samples.size(0) no less then input batch size.");
  TORCH_CHECK(random_samples.size(1) == C, "Expect _random_samples.size(1) equals to input channel size.");
  TORCH_CHECK(random_samples.size(2) == D, "Expect _random_samples.size(2) equals to ", D, "; got ",
              random_samples.size(2), ".");
  TORCH_CHECK(random_samples.scalar_type() == input.scalar_type(), "Expect _random_samples to have the same dtype as input");
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("fractional max pooling of a non-float dtype");
  for (int64_t d = 0; d < D; ++d) TORCH_CHECK(p.out[d] >= 0, "Trying to create tensor with negative dimension");
  at::DimVector shape = {B, C};
  shape.append(p.out.begin(), p.out.end());
  int64_t P = 1, K = 1, S = 1;
  for (int64_t d = 0; d < D; ++d) {
    P *= p.out[d];
    K *= std::max<int64_t>(p.window[d], 0);
    S *= p.in[d];
  }
  at::Tensor values, indices;
  if (B == 0 || P == 0) {
    values = at::empty(shape, input.options());
    indices = at::empty(shape, input.options().dtype(at::kLong));
  } else {
    // Each output's window as flat plane indices [B, C, O..., k...]: the
    // sum over dims of (start + k) * the dim's stride in the plane. The samples
    // are ordered (W, H) for 2-d and (T, H, W) for 3-d.
    const at::Tensor samples = random_samples.narrow(0, 0, B);
    // base: each window's first element [B, C, O..., 1...]; taps: the offsets
    // of a window's elements [1, 1, 1..., k...].
    at::Tensor base = at::zeros({1}, input.options().dtype(at::kLong)), taps = base;
    int64_t stride = S;
    for (int64_t d = 0; d < D; ++d) {
      stride /= p.in[d];
      const at::Tensor starts = fractional_starts(samples.select(2, D == 2 ? 1 - d : d), p.in[d], p.out[d], p.window[d]);
      at::DimVector along_out(2 + 2 * D, 1), along_window(2 + 2 * D, 1);
      along_out[0] = B;
      along_out[1] = C;
      along_out[2 + d] = p.out[d];
      along_window[2 + D + d] = std::max<int64_t>(p.window[d], 0);
      base = base + starts.view(along_out) * stride;
      taps = taps + at::arange(along_window[2 + D + d], base.options()).view(along_window) * stride;
    }
    if (K == 0) {  // empty windows: -inf at each window's start, as PyTorch's loop leaves them
      values = at::full(shape, -std::numeric_limits<double>::infinity(), input.options());
      indices = base.reshape(shape);
    } else {
      const at::Tensor windows = (base + taps).reshape({B, C, P, K});
      const at::Tensor taken = x.reshape({B, C, S}).gather(2, windows.reshape({B, C, P * K})).view({B, C, P, K});
      auto [largest, first] = taken.max(3);
      // A window with a NaN takes its last NaN (PyTorch's `val > max || isnan(val)`).
      // (x != x: NaN; the largest NaN tap number is the last NaN)
      const at::Tensor taps = at::arange(K, windows.options());
      const at::Tensor last_nan = at::where(taken.ne(taken), taps, taps.new_full({}, -1)).amax(3);
      const at::Tensor k = at::where(largest.ne(largest), last_nan, first);
      values = largest.view(shape);
      indices = windows.gather(3, k.unsqueeze(3)).view(shape);
    }
  }
  if (!p.batched) return {values.squeeze(0), indices.squeeze(0)};
  return {values, indices};
}

at::Tensor fractional_max_backward(const at::Tensor& grad_output, const at::Tensor& input, at::IntArrayRef kernel_size,
                                   at::IntArrayRef output_size, const at::Tensor& indices, int64_t D) {
  const FractionalPool p = fractional_pool(input, kernel_size, output_size, D);
  at::DimVector expected(input.sizes().begin(), input.sizes().end());
  for (int64_t d = 0; d < D; ++d) expected[input.dim() - D + d] = p.out[d];
  if (D == 2) {
    TORCH_CHECK(grad_output.sizes() == at::IntArrayRef(expected), "fractional_max_pool2d_backward(): gradOutput sizes unexpected");
    TORCH_CHECK(indices.sizes() == at::IntArrayRef(expected), "fractional_max_pool2d_backward(): indices sizes unexpected");
  } else {
    static const char* kNames[3] = {"time", "height", "width"};
    for (int64_t d = 0; d < 3; ++d)
      TORCH_CHECK(grad_output.dim() == input.dim() && grad_output.size(input.dim() - 3 + d) == p.out[d],
                  "fractional_max_pool3d_backward_out(): gradOutput ", kNames[d], " unexpected");
    TORCH_CHECK(grad_output.sizes() == at::IntArrayRef(expected) && indices.sizes() == at::IntArrayRef(expected),
                "fractional_max_pool3d_backward_out(): gradOutput or indices sizes unexpected");
  }
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(), "expected scalar type ", input.scalar_type(),
              " but found ", grad_output.scalar_type());
  TORCH_CHECK(indices.scalar_type() == at::kLong, "expected scalar type Long but found ", indices.scalar_type());
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("fractional max pooling backward of a non-float dtype");
  const at::Tensor x = p.batched ? input : input.unsqueeze(0);
  const int64_t B = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(B * C, 1);
  at::Tensor grad = at::zeros({B, C, S}, input.options());
  if (grad_output.numel() > 0)
    grad.scatter_add_(2, indices.reshape({B, C, -1}), grad_output.reshape({B, C, -1}));
  return grad.view(input.sizes());
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> fractional_max_pool2d(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                         at::IntArrayRef output_size, const at::Tensor& random_samples) {
  return fractional_max_forward(input, kernel_size, output_size, random_samples, 2);
}
at::Tensor fractional_max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                          at::IntArrayRef kernel_size, at::IntArrayRef output_size,
                                          const at::Tensor& indices) {
  return fractional_max_backward(grad_output, input, kernel_size, output_size, indices, 2);
}
std::tuple<at::Tensor, at::Tensor> fractional_max_pool3d(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                         at::IntArrayRef output_size, const at::Tensor& random_samples) {
  return fractional_max_forward(input, kernel_size, output_size, random_samples, 3);
}
at::Tensor fractional_max_pool3d_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                          at::IntArrayRef kernel_size, at::IntArrayRef output_size,
                                          const at::Tensor& indices) {
  return fractional_max_backward(grad_output, input, kernel_size, output_size, indices, 3);
}

at::Tensor pick_rows(const at::Tensor& t, int64_t dim, const std::vector<int64_t>& sources) {
  return at::index_select(t, dim, at::tensor(sources, at::kLong).to(t.device()));
}

at::Tensor add_rows_into(const at::Tensor& grad, int64_t dim, int64_t size, const std::vector<int64_t>& sources) {
  // 16-bit sums in float32 (a source gets several outputs' gradients).
  const at::Tensor g = is_16_bit(grad.scalar_type()) ? grad.to(at::kFloat) : grad;
  const at::Tensor index = at::tensor(sources, at::kLong).to(g.device());
  return sum_rows_by_index(g.movedim(dim, 0), size, index).movedim(0, dim);
}

}  // namespace gems::ops
