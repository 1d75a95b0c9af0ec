// Ops over windows of an image: convolutions, max and average pooling,
// nearest upsampling.
//
// Convolutions, forward and backward: 1-d to 3-d, strided, padded, dilated,
// grouped (depthwise too), transposed with output_padding, with bias. Every
// vendor that has a GEMM serves them, with no convolution kernel of its own:
// the core moves data with views and the vendor's copy and add kernels, and
// multiplies with its gemm kernel.
//
// Both directions of a convolution are one of two moves between an "image"
// (the tensor the kernel window slides over: a convolution's input, a
// transposed convolution's output) and "columns" (the other side):
//   gather:  columns[g] = Wm[g] @ im2col(image)[g]
//   scatter: image     += col2im(Wm[g]^T @ columns[g])
// where Wm[g] is the weight of group g as a [column channels, image channels *
// kernel] matrix (a plain view of either weight layout). A convolution's
// forward gathers and its input gradient scatters; a transposed convolution
// does the opposite. The weight gradient is columns[g] @ im2col(image)[g]^T in
// both. im2col is a strided view of the (padded) image copied dense; col2im
// adds each kernel offset's columns into a view of the image that never
// overlaps itself (one add per offset, or one add in all when windows do not
// overlap). Columns are laid out [groups, channels, batch * positions], so each
// move is one batched GEMM over the groups; large batches run in chunks that
// keep the im2col buffer under kColumnBytes.
#include <ATen/ATen.h>
#include <ATen/native/Pool.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "op_registry.h"
#include "ops.h"
#include "ops_common.h"

namespace gems::ops {
namespace {

// The im2col buffer of one chunk of the batch stays under this many bytes
// (a chunk is at least one sample).
constexpr int64_t kColumnBytes = int64_t{256} << 20;

struct Geometry {
  int64_t dims = 0;                       // spatial dims: 1, 2 or 3
  int64_t batch = 0, groups = 1;
  int64_t image_channels = 0, column_channels = 0;
  at::DimVector image_size, column_size;  // spatial sizes of each side
  at::DimVector kernel, stride, padding, dilation;
  int64_t kernel_numel() const { return c10::multiply_integers(kernel); }
  int64_t column_positions() const { return c10::multiply_integers(column_size); }
  // Columns never overlap in the image when each stride passes the window.
  bool windows_overlap() const {
    for (int64_t i = 0; i < dims; ++i)
      if (stride[i] <= (kernel[i] - 1) * dilation[i]) return true;
    return false;
  }
};

std::string join(at::IntArrayRef v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

// PyTorch's checks of a convolution's arguments (at::_convolution's), with
// its messages; all are RuntimeErrors, as on CPU and CUDA.
void check_arguments(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                     at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                     at::IntArrayRef output_padding, int64_t groups) {
  const int64_t k = weight.dim();
  const int64_t dims = k - 2;
  TORCH_CHECK(dims >= 1 && dims <= 3, "Expected 3D, 4D or 5D weight to convolution, but got weight of size ",
              weight.sizes());
  TORCH_CHECK(input.dim() == k, "Expected ", k, "-dimensional input for ", k,
              "-dimensional weight ", weight.sizes(), ", but got ", input.dim(), "-dimensional input of size ",
              input.sizes(), " instead");
  auto expand_check = [&](at::IntArrayRef v, const char* name) {
    TORCH_CHECK(static_cast<int64_t>(v.size()) == dims || v.size() == 1, "expected ", name, " to be a single integer value or a list of ",
                dims, " values to match the convolution dimensions, but got ", name, "=", v);
  };
  expand_check(stride, "stride");
  expand_check(padding, "padding");
  expand_check(dilation, "dilation");
  if (transposed) expand_check(output_padding, "output_padding");
  for (int64_t s : stride) TORCH_CHECK(s > 0, "non-positive stride is not supported");
  for (int64_t p : padding) TORCH_CHECK(p >= 0, "negative padding is not supported");
  for (int64_t d : dilation) TORCH_CHECK(d > 0, "dilation should be greater than zero");
  for (int64_t p : output_padding) TORCH_CHECK(p >= 0, "negative output_padding is not supported");
  TORCH_CHECK(groups > 0, "non-positive groups is not supported");
  TORCH_CHECK(input.scalar_type() == weight.scalar_type(), "Input type (", input.scalar_type(),
              ") and weight type (", weight.scalar_type(), ") should be the same");
  if (bias && bias->defined()) {
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), "Input type (", input.scalar_type(), ") and bias type (",
                bias->scalar_type(), ") should be the same");
  }
  common_device({&input, &weight, bias && bias->defined() ? &*bias : &input});
  TORCH_CHECK(weight.size(0) >= groups, "Given groups=", groups, ", expected weight to be at least ", groups,
              " at dimension 0, but got weight of size ", weight.sizes(), " instead");
  TORCH_CHECK(weight.size(0) % groups == 0, "Given groups=", groups, ", expected weight to be divisible by ", groups,
              " at dimension 0, but got weight of size [", join(weight.sizes()), "] instead");
  const int64_t out_channels = transposed ? weight.size(1) * groups : weight.size(0);
  if (!transposed) {
    TORCH_CHECK(input.size(1) == weight.size(1) * groups, "Given groups=", groups, ", weight of size ",
                weight.sizes(), ", expected input", input.sizes(), " to have ", weight.size(1) * groups,
                " channels, but got ", input.size(1), " channels instead");
  } else {
    TORCH_CHECK(input.size(1) == weight.size(0), "Given transposed=", transposed, ", weight of size ", weight.sizes(),
                ", expected input", input.sizes(), " to have ", weight.size(0), " channels, but got ", input.size(1),
                " channels instead");
  }
  if (bias && bias->defined())
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_channels, "Given weight of size ", weight.sizes(),
                ", expected bias to be 1-dimensional with ", out_channels, " elements, but got bias of size ",
                bias->sizes(), " instead");
}

int64_t at_dim(at::IntArrayRef v, int64_t i) { return v.size() == 1 ? v[0] : v[i]; }

// The geometry of a convolution given its input and weight. For a transposed
// convolution the image is the output; output_padding widens it.
Geometry geometry(const at::Tensor& input, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding,
                  at::IntArrayRef dilation, bool transposed, at::IntArrayRef output_padding, int64_t groups) {
  Geometry g;
  g.dims = weight.dim() - 2;
  g.batch = input.size(0);
  g.groups = groups;
  for (int64_t i = 0; i < g.dims; ++i) {
    g.kernel.push_back(weight.size(i + 2));
    g.stride.push_back(at_dim(stride, i));
    g.padding.push_back(at_dim(padding, i));
    g.dilation.push_back(at_dim(dilation, i));
  }
  if (!transposed) {
    g.image_channels = input.size(1);
    g.column_channels = weight.size(0);
    at::DimVector padded;
    for (int64_t i = 0; i < g.dims; ++i) {
      const int64_t in = input.size(i + 2);
      g.image_size.push_back(in);
      padded.push_back(in + 2 * g.padding[i]);
      g.column_size.push_back((padded[i] - g.dilation[i] * (g.kernel[i] - 1) - 1) / g.stride[i] + 1);
    }
    at::DimVector window;  // the dilated kernel's extent
    bool fits = true;
    for (int64_t i = 0; i < g.dims; ++i) {
      window.push_back(g.dilation[i] * (g.kernel[i] - 1) + 1);
      fits &= padded[i] >= window[i];
    }
    TORCH_CHECK(fits, "Calculated padded input size per channel: (", join(padded, " x "), "). Kernel size: (",
                join(window, " x "), "). Kernel size can't be greater than actual input size");
  } else {
    g.image_channels = weight.size(1) * groups;
    g.column_channels = input.size(1);
    for (int64_t i = 0; i < g.dims; ++i) {
      const int64_t op = at_dim(output_padding, i);
      TORCH_CHECK(op < g.stride[i] || op < g.dilation[i],
                  "output padding must be smaller than either stride or dilation, but got output_padding_",
                  i == 0 ? "height" : "width", ": ", op, " stride: ", g.stride[i], " dilation: ", g.dilation[i]);
      const int64_t in = input.size(i + 2);
      g.column_size.push_back(in);
      g.image_size.push_back((in - 1) * g.stride[i] - 2 * g.padding[i] + g.dilation[i] * (g.kernel[i] - 1) + op + 1);
      TORCH_CHECK(g.image_size.back() > 0, "Given input size per channel: (", join(input.sizes().slice(2), " x "),
                  "). Calculated output size per channel: (", g.image_size.back(), "). Output size is too small");
    }
  }
  return g;
}

// The layout PyTorch's CUDA and CPU convolutions give their results:
// channels-last when the input or the weight is.
at::MemoryFormat result_format(const at::Tensor& input, const at::Tensor& weight) {
  const auto is_cl = [](const at::Tensor& t, at::MemoryFormat f) { return t.suggest_memory_format() == f; };
  if (input.dim() == 4 && (is_cl(input, at::MemoryFormat::ChannelsLast) || is_cl(weight, at::MemoryFormat::ChannelsLast)))
    return at::MemoryFormat::ChannelsLast;
  if (input.dim() == 5 &&
      (is_cl(input, at::MemoryFormat::ChannelsLast3d) || is_cl(weight, at::MemoryFormat::ChannelsLast3d)))
    return at::MemoryFormat::ChannelsLast3d;
  return at::MemoryFormat::Contiguous;
}

// Wm: the weight as [groups, column channels / groups, image channels / groups * kernel].
at::Tensor weight_matrix(const at::Tensor& weight, const Geometry& g) {
  return weight.contiguous().view(
      {g.groups, g.column_channels / g.groups, g.image_channels / g.groups * g.kernel_numel()});
}

// The image [nb, C, S...] with its padding added (a fresh zero-filled tensor
// around a copy), or itself when there is none.
at::Tensor padded_image(const at::Tensor& image, const Geometry& g) {
  bool any = false;
  for (int64_t p : g.padding) any |= p != 0;
  if (!any) return image;
  at::DimVector shape(image.sizes().begin(), image.sizes().begin() + 2);
  for (int64_t i = 0; i < g.dims; ++i) shape.push_back(image.size(i + 2) + 2 * g.padding[i]);
  at::Tensor padded = at::zeros(shape, image.options());
  at::Tensor inner = padded;
  for (int64_t i = 0; i < g.dims; ++i) inner = inner.narrow(i + 2, g.padding[i], image.size(i + 2));
  inner.copy_(image);
  return padded;
}

// A view of a padded image [nb, C, S'...] as [groups, C/groups, K..., nb, O...]:
// element (c, k, n, o) is the image at position o * stride + k * dilation.
// With offsets = false the kernel dims are dropped: the view of offset zero.
at::Tensor window_view(const at::Tensor& padded, const Geometry& g, bool offsets) {
  const int64_t cg = g.image_channels / g.groups;
  at::DimVector sizes{g.groups, cg}, strides{cg * padded.stride(1), padded.stride(1)};
  if (offsets)
    for (int64_t i = 0; i < g.dims; ++i) {
      sizes.push_back(g.kernel[i]);
      strides.push_back(g.dilation[i] * padded.stride(i + 2));
    }
  sizes.push_back(padded.size(0));
  strides.push_back(padded.stride(0));
  for (int64_t i = 0; i < g.dims; ++i) {
    sizes.push_back(g.column_size[i]);
    strides.push_back(g.stride[i] * padded.stride(i + 2));
  }
  return padded.as_strided(sizes, strides, padded.storage_offset());
}

// im2col: [groups, C/groups * K, nb * O] dense.
at::Tensor im2col(const at::Tensor& image, const Geometry& g) {
  const at::Tensor view = window_view(padded_image(image, g), g, true);
  const int64_t nb = image.size(0);
  return view.contiguous().view({g.groups, g.image_channels / g.groups * g.kernel_numel(), nb * g.column_positions()});
}

// col2im: adds columns [groups, C/groups * K, nb * O] into image [nb, C, S...].
// 16-bit images accumulate in float32 (the columns are float32 then).
void col2im_add(const at::Tensor& columns, at::Tensor& image, const Geometry& g) {
  const int64_t nb = image.size(0), cg = g.image_channels / g.groups;
  bool any_padding = false;
  for (int64_t p : g.padding) any_padding |= p != 0;
  const bool widen = image.scalar_type() == at::kHalf || image.scalar_type() == at::kBFloat16;
  at::Tensor target = image;
  if (any_padding || widen) {
    at::DimVector shape{nb, g.image_channels};
    for (int64_t i = 0; i < g.dims; ++i) shape.push_back(g.image_size[i] + 2 * g.padding[i]);
    target = at::zeros(shape, image.options().dtype(widen ? at::kFloat : image.scalar_type()));
  }
  at::DimVector col_shape{g.groups, cg};
  col_shape.append(g.kernel.begin(), g.kernel.end());
  col_shape.push_back(nb);
  col_shape.append(g.column_size.begin(), g.column_size.end());
  const at::Tensor cols = columns.view(col_shape);
  if (!g.windows_overlap()) {
    window_view(target, g, true).add_(cols);
  } else {
    // One kernel offset at a time: positions o * stride + k * dilation are
    // distinct for one k, so no element is written twice by one add.
    const at::Tensor base = window_view(target, g, false);
    for (int64_t k = 0; k < g.kernel_numel(); ++k) {
      int64_t rest = k, shift = 0;
      at::Tensor piece = cols;
      for (int64_t i = g.dims - 1; i >= 0; --i) {
        const int64_t ki = rest % g.kernel[i];
        rest /= g.kernel[i];
        shift += ki * g.dilation[i] * target.stride(i + 2);
        piece = piece.select(2 + i, ki);
      }
      base.as_strided(base.sizes(), base.strides(), base.storage_offset() + shift).add_(piece);
    }
  }
  if (target.is_same(image)) return;
  at::Tensor inner = target;
  for (int64_t i = 0; i < g.dims; ++i) inner = inner.narrow(i + 2, g.padding[i], g.image_size[i]);
  image.add_(inner);
}

// [nb, C, S...] <-> [groups, C/groups, nb * S]: columns keep the batch inside.
at::Tensor to_columns(const at::Tensor& t, int64_t groups) {
  const int64_t nb = t.size(0), c = t.size(1), s = t.numel() / std::max<int64_t>(nb * c, 1);
  const at::Tensor flat = t.reshape({nb, groups, c / groups, s});
  return flat.permute({1, 2, 0, 3}).reshape({groups, c / groups, nb * s});
}
void from_columns(const at::Tensor& cols, at::Tensor& t) {
  const int64_t nb = t.size(0), c = t.size(1), groups = cols.size(0);
  at::DimVector shape{groups, c / groups, nb};
  shape.append(t.sizes().begin() + 2, t.sizes().end());
  at::DimVector order{2, 0, 1};
  for (int64_t i = 3; i < static_cast<int64_t>(shape.size()); ++i) order.push_back(i);
  at::DimVector merged{nb, c};
  merged.append(t.sizes().begin() + 2, t.sizes().end());
  t.copy_(cols.view(shape).permute(order).reshape(merged));
}

// Samples per chunk so that a chunk's im2col stays under kColumnBytes.
int64_t chunk_of(const Geometry& g, const at::Tensor& like) {
  const int64_t per_sample = std::max<int64_t>(
      g.image_channels * g.kernel_numel() * g.column_positions() * static_cast<int64_t>(like.itemsize()), 1);
  return std::clamp<int64_t>(kColumnBytes / per_sample, 1, std::max<int64_t>(g.batch, 1));
}

at::Tensor bias_shaped(const at::Tensor& bias, int64_t dims) {
  at::DimVector shape{1, bias.size(0)};
  shape.resize(2 + dims, 1);
  return bias.view(shape);
}

// columns = Wm @ im2col(image), written into `columns_side` [nb, Ccol, O...].
void gather(const at::Tensor& image, const at::Tensor& wm, const Geometry& g, at::Tensor columns_side) {
  const int64_t chunk = chunk_of(g, image);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    at::Tensor out = columns_side.narrow(0, n0, nb);
    const at::Tensor product = at::bmm(wm, im2col(image.narrow(0, n0, nb), g));
    from_columns(product, out);
  }
}

// image += col2im(Wm^T @ columns), columns_side [nb, Ccol, O...]. Each image
// element sums several products' columns: 16-bit operands multiply into
// float32 columns, so that the result is rounded once, as PyTorch's is (the
// columns of 16-bit products, rounded before their sum, were 8 ulps off).
void scatter(const at::Tensor& columns_side, const at::Tensor& wm, const Geometry& g, at::Tensor image) {
  const int64_t chunk = chunk_of(g, image);
  const bool widen = image.scalar_type() == at::kHalf || image.scalar_type() == at::kBFloat16;
  const at::Tensor wm_t = (widen ? wm.to(at::kFloat) : wm).transpose(1, 2);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    at::Tensor part = image.narrow(0, n0, nb);
    at::Tensor cols = to_columns(columns_side.narrow(0, n0, nb), g.groups);
    if (widen) cols = cols.to(at::kFloat);
    col2im_add(at::bmm(wm_t, cols), part, g);
  }
}

// dWm = sum over the batch of columns @ im2col(image)^T. Chunks of a 16-bit
// batch add up in float32 (each chunk's product already sums in float32).
at::Tensor weight_gradient(const at::Tensor& columns_side, const at::Tensor& image, const Geometry& g) {
  const int64_t chunk = chunk_of(g, image);
  const bool widen = image.scalar_type() == at::kHalf || image.scalar_type() == at::kBFloat16;
  at::Tensor grad;
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    const at::Tensor cols = to_columns(columns_side.narrow(0, n0, nb), g.groups);
    const at::Tensor windows = im2col(image.narrow(0, n0, nb), g).transpose(1, 2);
    if (!grad.defined()) grad = at::bmm(cols, windows);
    else if (!widen) grad.baddbmm_(cols, windows);
    else {
      if (grad.scalar_type() != at::kFloat) grad = grad.to(at::kFloat);
      grad.add_(at::bmm(cols, windows));
    }
  }
  return grad.to(image.scalar_type());
}

}  // namespace

at::Tensor convolution(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                       at::IntArrayRef output_padding, int64_t groups) {
  static const Kernel k("gemm");
  check_arguments(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups);
  k.require(input.scalar_type(), 3);
  // No input channels: PyTorch's "empty" convolution gives a result shaped by
  // the input's channels, not the weight's; its own kernel keeps that quirk.
  if (input.size(1) == 0) throw NotServed("convolution without input channels");
  const Geometry g = geometry(input, weight, stride, padding, dilation, transposed, output_padding, groups);
  at::DimVector shape{g.batch, transposed ? g.image_channels : g.column_channels};
  const at::DimVector& spatial = transposed ? g.image_size : g.column_size;
  shape.append(spatial.begin(), spatial.end());
  const at::MemoryFormat format = result_format(input, weight);
  at::Tensor out = at::empty(shape, input.options(), format);
  const bool has_bias = bias && bias->defined();
  if (out.numel() == 0) return out;
  if (input.numel() == 0 || weight.numel() == 0) {  // empty sums: the bias alone
    return has_bias ? out.copy_(bias_shaped(*bias, g.dims).expand(shape)) : out.zero_();
  }
  const at::Tensor wm = weight_matrix(weight, g);
  if (!transposed) {
    gather(input, wm, g, out);
    if (has_bias) out.add_(bias_shaped(*bias, g.dims));
  } else {
    if (has_bias) out.copy_(bias_shaped(*bias, g.dims).expand(shape));
    else out.zero_();
    scatter(input, wm, g, out);
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> convolution_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    at::OptionalIntArrayRef bias_sizes, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
    bool transposed, at::IntArrayRef output_padding, int64_t groups, std::array<bool, 3> output_mask) {
  static const Kernel k("gemm");
  check_arguments(input, weight, std::nullopt, stride, padding, dilation, transposed, output_padding, groups);
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(), "Input type (", input.scalar_type(),
              ") and grad_output type (", grad_output.scalar_type(), ") should be the same");
  k.require(input.scalar_type(), 3);
  const Geometry g = geometry(input, weight, stride, padding, dilation, transposed, output_padding, groups);
  const at::MemoryFormat format = result_format(input, weight);
  const at::Tensor& image = transposed ? grad_output : input;
  const at::Tensor& columns_side = transposed ? input : grad_output;
  const bool empty = input.numel() == 0 || weight.numel() == 0 || grad_output.numel() == 0;
  at::Tensor grad_input, grad_weight, grad_bias;
  if (output_mask[0]) {
    grad_input = at::zeros(input.sizes(), input.options().memory_format(format));
    if (!empty) {
      const at::Tensor wm = weight_matrix(weight, g);
      if (!transposed) scatter(grad_output, wm, g, grad_input);
      else gather(grad_output, wm, g, grad_input);
    }
  }
  if (output_mask[1]) {
    if (empty) {
      grad_weight = at::zeros(weight.sizes(), weight.options().memory_format(format));
    } else {
      grad_weight = weight_gradient(columns_side, image, g).view(weight.sizes());
      if (format != at::MemoryFormat::Contiguous) grad_weight = grad_weight.contiguous(format);
    }
  }
  if (output_mask[2]) {
    at::DimVector dims{0};
    for (int64_t i = 0; i < g.dims; ++i) dims.push_back(i + 2);
    grad_bias = grad_output.numel() == 0
                    ? at::zeros({grad_output.size(1)}, grad_output.options())
                    : at::sum(grad_output, dims);
    (void)bias_sizes;
  }
  return {grad_input, grad_weight, grad_bias};
}

// ---- max pooling 2-d with indices: the windows' view copied dense, a max
// over each window, its position turned into the input's flat index ----
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

// The value no element is below: padding never wins a window.
c10::Scalar lowest_of(at::ScalarType t) {
  switch (t) {
    case at::kByte: return 0;
    case at::kChar: return std::numeric_limits<int8_t>::min();
    case at::kShort: return std::numeric_limits<int16_t>::min();
    case at::kInt: return std::numeric_limits<int32_t>::min();
    case at::kLong: return std::numeric_limits<int64_t>::min();
    default: return -std::numeric_limits<double>::infinity();
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_indices(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                           at::IntArrayRef stride, at::IntArrayRef padding,
                                                           at::IntArrayRef dilation, bool ceil_mode) {
  static const Kernel k("reduce_max");
  const Pool2d p = pool2d_arguments(input, kernel_size, stride, padding, dilation);
  k.require(input.scalar_type());
  if (input.scalar_type() == at::kBool) throw NotServed("max_pool2d of bool");
  const bool batched = input.dim() == 4;
  const at::Tensor x = batched ? input : input.unsqueeze(0);
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = at::native::pooling_output_shape<int64_t>(h, p.kh, p.ph, p.sh, p.dh, ceil_mode);
  const int64_t ow = at::native::pooling_output_shape<int64_t>(w, p.kw, p.pw, p.sw, p.dw, ceil_mode);
  at::native::pool2d_shape_check(input, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, c, h, w, oh, ow,
                                 input.suggest_memory_format());
  const at::MemoryFormat format = input.suggest_memory_format();
  at::Tensor values = at::empty({n, c, oh, ow}, x.options(), batched ? format : at::MemoryFormat::Contiguous);
  at::Tensor indices = at::empty({n, c, oh, ow}, x.options().dtype(at::kLong), batched ? format : at::MemoryFormat::Contiguous);
  if (values.numel() > 0) {
    // Padded with the dtype's lowest value; ceil_mode's last windows may reach
    // past the padding, so the bottom and right get what they need.
    const int64_t ph_total = std::max((oh - 1) * p.sh + (p.kh - 1) * p.dh + 1 - h - p.ph, p.ph);
    const int64_t pw_total = std::max((ow - 1) * p.sw + (p.kw - 1) * p.dw + 1 - w - p.pw, p.pw);
    at::Tensor padded = x;
    if (p.ph > 0 || p.pw > 0 || ph_total > p.ph || pw_total > p.pw) {
      padded = at::empty({n, c, h + p.ph + ph_total, w + p.pw + pw_total}, x.options());
      padded.fill_(lowest_of(x.scalar_type()));
      padded.narrow(2, p.ph, h).narrow(3, p.pw, w).copy_(x);
    }
    const at::Tensor windows =
        padded.as_strided({n, c, oh, ow, p.kh, p.kw},
                          {padded.stride(0), padded.stride(1), p.sh * padded.stride(2), p.sw * padded.stride(3),
                           p.dh * padded.stride(2), p.dw * padded.stride(3)},
                          padded.storage_offset())
            .reshape({n, c, oh, ow, p.kh * p.kw});
    auto [best, position] = at::max(windows, -1);
    // Input index of window (i, j)'s element k: (i*sh - ph + k/kw*dh) * w + (j*sw - pw + k%kw*dw).
    std::vector<int64_t> offsets(p.kh * p.kw);
    for (int64_t a = 0; a < p.kh; ++a)
      for (int64_t b = 0; b < p.kw; ++b) offsets[a * p.kw + b] = a * p.dh * w + b * p.dw;
    const at::Tensor offset_of = at::tensor(offsets, at::kLong).to(x.device());
    const at::Tensor rows = at::arange(oh, x.options().dtype(at::kLong)).mul_(p.sh).sub_(p.ph).mul_(w).view({oh, 1});
    const at::Tensor cols = at::arange(ow, x.options().dtype(at::kLong)).mul_(p.sw).sub_(p.pw).view({1, ow});
    values.copy_(best);
    indices.copy_(at::index_select(offset_of, 0, position.reshape({-1})).view(position.sizes()) + (rows + cols));
  }
  if (!batched) return {values.squeeze(0), indices.squeeze(0)};
  return {values, indices};
}

at::Tensor max_pool2d_with_indices_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                            at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                            at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                            const at::Tensor& indices) {
  (void)pool2d_arguments(input, kernel_size, stride, padding, dilation);
  (void)ceil_mode;
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(), "expected dtype ", input.scalar_type(),
              " for `gradOutput` but got dtype ", grad_output.scalar_type());
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("max_pool2d_backward of a non-float dtype");
  const bool batched = input.dim() == 4;
  const int64_t n = batched ? input.size(0) : 1, c = input.size(-3);
  // Overlapping windows may pick one element several times: 16-bit sums in float32.
  const at::ScalarType acc = input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16
                                 ? at::kFloat : input.scalar_type();
  at::Tensor grad = at::zeros({n, c, input.size(-2) * input.size(-1)}, input.options().dtype(acc));
  if (grad_output.numel() > 0)
    grad.scatter_add_(2, indices.reshape({n, c, -1}), grad_output.reshape({n, c, -1}).to(acc));
  return grad.view(input.sizes()).to(input.scalar_type()).contiguous(input.suggest_memory_format());
}

// ---- average pooling 2-d: a sum over the windows' view (no copy) divided by
// PyTorch's divisor, which is separable: a row factor times a column factor ----
namespace {

// Per output position along one dim: the window's size counting padding
// (clipped at the padded edge, as PyTorch clips ceil mode's last window) or
// counting only input elements.
std::vector<double> window_sizes(int64_t input, int64_t output, int64_t k, int64_t s, int64_t p, bool with_padding) {
  std::vector<double> size(output);
  for (int64_t o = 0; o < output; ++o) {
    const int64_t start = o * s - p, end = std::min(start + k, input + p);
    size[o] = with_padding ? static_cast<double>(end - start)
                           : static_cast<double>(std::min(end, input) - std::max<int64_t>(start, 0));
  }
  return size;
}

struct AvgPool {
  Pool2d p;
  int64_t n, c, h, w, oh, ow;
  at::Tensor divisor;  // [oh, ow] in the computation dtype
};

AvgPool avg_pool_plan(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                      std::optional<int64_t> divisor_override, at::ScalarType compute) {
  AvgPool a;
  a.p = pool2d_arguments(input, kernel_size, stride, padding, {1}, "avg_pool2d");
  TORCH_CHECK(!divisor_override || *divisor_override != 0, "divisor must be not zero");
  a.n = input.dim() == 4 ? input.size(0) : 1;
  a.c = input.size(-3), a.h = input.size(-2), a.w = input.size(-1);
  a.oh = at::native::pooling_output_shape<int64_t>(a.h, a.p.kh, a.p.ph, a.p.sh, 1, ceil_mode);
  a.ow = at::native::pooling_output_shape<int64_t>(a.w, a.p.kw, a.p.pw, a.p.sw, 1, ceil_mode);
  at::native::pool2d_shape_check(input, a.p.kh, a.p.kw, a.p.sh, a.p.sw, a.p.ph, a.p.pw, 1, 1, a.c, a.h, a.w, a.oh, a.ow,
                                 input.suggest_memory_format());
  const at::TensorOptions opts = input.options().dtype(compute);
  if (divisor_override) {
    a.divisor = at::full({a.oh, a.ow}, static_cast<double>(*divisor_override), opts);
  } else {
    const auto rows = window_sizes(a.h, a.oh, a.p.kh, a.p.sh, a.p.ph, count_include_pad);
    const auto cols = window_sizes(a.w, a.ow, a.p.kw, a.p.sw, a.p.pw, count_include_pad);
    a.divisor = (at::tensor(rows, at::kDouble).view({a.oh, 1}) * at::tensor(cols, at::kDouble).view({1, a.ow}))
                    .to(opts.device(input.device()));
  }
  return a;
}

// A zero-padded buffer [n, c, rows, cols] that every window fits in (ceil
// mode's last windows included), in dtype `compute`.
at::Tensor zero_padded(const AvgPool& a, const at::TensorOptions& opts) {
  const int64_t rows = std::max((a.oh - 1) * a.p.sh + a.p.kh, a.h + a.p.ph);
  const int64_t cols = std::max((a.ow - 1) * a.p.sw + a.p.kw, a.w + a.p.pw);
  return at::zeros({a.n, a.c, rows, cols}, opts);
}

at::Tensor windows_of(const at::Tensor& padded, const AvgPool& a) {
  return padded.as_strided({a.n, a.c, a.oh, a.ow, a.p.kh, a.p.kw},
                           {padded.stride(0), padded.stride(1), a.p.sh * padded.stride(2), a.p.sw * padded.stride(3),
                            padded.stride(2), padded.stride(3)},
                           padded.storage_offset());
}

at::ScalarType avg_compute_type(const at::Tensor& t) {
  return t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16 ? at::kFloat : t.scalar_type();
}

}  // namespace

at::Tensor avg_pool2d(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                      std::optional<int64_t> divisor_override) {
  static const Kernel k("reduce_sum");
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("avg_pool2d of a non-float dtype");
  k.require(input.scalar_type());
  const at::ScalarType compute = avg_compute_type(input);
  const AvgPool a = avg_pool_plan(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override, compute);
  const bool batched = input.dim() == 4;
  at::Tensor out;
  if (a.n * a.c * a.oh * a.ow == 0) {
    out = at::empty({a.n, a.c, a.oh, a.ow}, input.options());
  } else {
    at::Tensor padded = zero_padded(a, input.options().dtype(compute));
    padded.narrow(2, a.p.ph, a.h).narrow(3, a.p.pw, a.w).copy_(batched ? input : input.unsqueeze(0));
    out = (windows_of(padded, a).sum(at::IntArrayRef{4, 5}) / a.divisor).to(input.scalar_type());
  }
  if (!batched) return out.squeeze(0);
  return out.contiguous(input.suggest_memory_format());
}

at::Tensor avg_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& input, at::IntArrayRef kernel_size,
                               at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode,
                               bool count_include_pad, std::optional<int64_t> divisor_override) {
  if (!at::isFloatingType(input.scalar_type())) throw NotServed("avg_pool2d_backward of a non-float dtype");
  const at::ScalarType compute = avg_compute_type(input);
  const AvgPool a = avg_pool_plan(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override, compute);
  const bool batched = input.dim() == 4;
  TORCH_CHECK(grad_output.numel() == a.n * a.c * a.oh * a.ow, "avg_pool2d_backward: grad_output of size ",
              grad_output.sizes(), " for an output of ", a.oh, "x", a.ow);
  at::Tensor padded = zero_padded(a, input.options().dtype(compute));
  if (padded.numel() > 0 && grad_output.numel() > 0) {
    // Each window's share, added into every element of the window: one add
    // per kernel offset (a view that never overlaps itself), or one in all
    // when windows do not overlap.
    const at::Tensor share = grad_output.reshape({a.n, a.c, a.oh, a.ow}).to(compute) / a.divisor;
    const at::Tensor windows = windows_of(padded, a);
    if (a.p.sh >= a.p.kh && a.p.sw >= a.p.kw) {
      windows.add_(share.view({a.n, a.c, a.oh, a.ow, 1, 1}));
    } else {
      for (int64_t i = 0; i < a.p.kh; ++i)
        for (int64_t j = 0; j < a.p.kw; ++j) windows.select(5, j).select(4, i).add_(share);
    }
  }
  at::Tensor grad = padded.narrow(2, a.p.ph, a.h).narrow(3, a.p.pw, a.w).to(input.scalar_type());
  if (!batched) return grad.squeeze(0).contiguous();
  return grad.contiguous(input.suggest_memory_format());
}

// ---- nearest upsampling 1-3d (nearest and nearest-exact): one row lookup
// per spatial dim with PyTorch's source indices; the backward adds each
// output gradient into its source, dim by dim ----
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

at::Tensor sources_on(const std::vector<int64_t>& src, c10::Device device) {
  return at::tensor(src, at::kLong).to(device);
}

at::Tensor nearest_forward(const at::Tensor& self, at::IntArrayRef output_size,
                           std::initializer_list<std::optional<double>> scales, bool exact) {
  static const Kernel k("index_select");
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample(dims, self.sizes(), output_size);
  TORCH_CHECK(self.numel() != 0 || c10::multiply_integers(self.sizes().slice(1)) != 0, "Non-empty ", dims + 2,
              "D data tensor expected but got a tensor with sizes ", self.sizes());
  k.require(self.scalar_type());
  at::Tensor out = self;
  const auto* scale = scales.begin();
  for (int64_t i = 0; i < dims; ++i, ++scale)
    if (out.size(i + 2) != output_size[i] || exact)
      out = at::index_select(out, i + 2, sources_on(nearest_sources(self.size(i + 2), output_size[i], *scale, exact),
                                                     self.device()));
  if (out.is_same(self)) out = self.clone();
  return out.contiguous(self.suggest_memory_format());
}

at::Tensor nearest_backward(const at::Tensor& grad_output, at::IntArrayRef output_size, at::IntArrayRef input_size,
                            std::initializer_list<std::optional<double>> scales, bool exact) {
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample(dims, input_size, output_size);
  TORCH_CHECK(grad_output.dim() == dims + 2, "Expected grad_output to be a tensor of dimension ", dims + 2,
              " but got: dimension ", grad_output.dim());
  for (int64_t i = 0; i < dims + 2; ++i) {
    const int64_t expected = i < 2 ? input_size[i] : output_size[i - 2];
    TORCH_CHECK(grad_output.size(i) == expected, "Expected grad_output to have the same shape as output; output.size(",
                i, ") = ", expected, " but got grad_output.size(", i, ") = ", grad_output.size(i));
  }
  if (!at::isFloatingType(grad_output.scalar_type())) throw NotServed("upsample backward of a non-float dtype");
  // 16-bit sums in float32 (a source gets several outputs' gradients).
  const bool widen = grad_output.scalar_type() == at::kHalf || grad_output.scalar_type() == at::kBFloat16;
  at::Tensor grad = widen ? grad_output.to(at::kFloat) : grad_output;
  const auto* scale = scales.begin() + dims - 1;
  for (int64_t i = dims - 1; i >= 0; --i, --scale) {
    const int64_t d = i + 2;
    if (grad.size(d) == input_size[d] && !exact) continue;
    at::DimVector shape(grad.sizes().begin(), grad.sizes().end()), view(grad.dim(), 1);
    shape[d] = input_size[d];
    view[d] = grad.size(d);
    const at::Tensor index =
        sources_on(nearest_sources(input_size[d], output_size[i], *scale, exact), grad.device()).view(view).expand(grad.sizes());
    grad = at::zeros(shape, grad.options()).scatter_add_(d, index, grad);
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

// ---- linear, bilinear and trilinear upsampling (no antialias): separable,
// one dim at a time, each output a two-tap blend of rows picked with
// index_select, with PyTorch's source indices and weights (computed on the
// host in its opmath type). Applying the last dim first repeats the order of
// PyTorch's CPU arithmetic; 16-bit inputs blend in float32, rounded once. The
// backward adds each output gradient's two weighted shares into its sources,
// dim by dim in the other order ----
namespace {

struct Taps {
  at::Tensor first, second;   // source indices, int64 [out]
  at::Tensor w_first, w_second;  // weights [out], in the computation dtype
};

template <typename T>
Taps linear_taps_as(int64_t input, int64_t output, bool align_corners, std::optional<double> scale,
                    const at::TensorOptions& weights) {
  T s;
  if (align_corners) s = output > 1 ? static_cast<T>(input - 1) / static_cast<T>(output - 1) : T(0);
  else s = scale && *scale > 0 ? static_cast<T>(1.0 / *scale) : static_cast<T>(input) / static_cast<T>(output);
  std::vector<int64_t> i0(output), i1(output);
  std::vector<T> w0(output), w1(output);
  for (int64_t o = 0; o < output; ++o) {
    T src = align_corners ? s * static_cast<T>(o) : s * (static_cast<T>(o) + T(0.5)) - T(0.5);
    if (!align_corners && src < T(0)) src = T(0);
    const int64_t index = std::min(static_cast<int64_t>(std::floor(src)), input - 1);
    const T lambda = std::min(std::max(src - static_cast<T>(index), T(0)), T(1));
    i0[o] = index;
    i1[o] = index + (index < input - 1 ? 1 : 0);
    w0[o] = T(1) - lambda;
    w1[o] = lambda;
  }
  const auto type = std::is_same_v<T, double> ? at::kDouble : at::kFloat;
  return {at::tensor(i0, at::kLong).to(weights.device()), at::tensor(i1, at::kLong).to(weights.device()),
          at::tensor(w0, type).to(weights), at::tensor(w1, type).to(weights)};
}

Taps linear_taps(int64_t input, int64_t output, bool align_corners, std::optional<double> scale,
                 const at::TensorOptions& weights) {
  return weights.dtype() == at::kDouble ? linear_taps_as<double>(input, output, align_corners, scale, weights)
                                        : linear_taps_as<float>(input, output, align_corners, scale, weights);
}

// t viewed so that a vector [n] lines up with dim d of a tensor of `dims` dims.
at::Tensor along(const at::Tensor& v, int64_t d, int64_t dims) {
  at::DimVector shape(dims, 1);
  shape[d] = v.numel();
  return v.view(shape);
}

at::ScalarType blend_type(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor linear_forward(const at::Tensor& self, at::IntArrayRef output_size, bool align_corners,
                          std::initializer_list<std::optional<double>> scales) {
  static const Kernel k("index_select");
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample(dims, self.sizes(), output_size);
  TORCH_CHECK(self.numel() != 0 || c10::multiply_integers(self.sizes().slice(1)) != 0, "Non-empty ", dims + 2,
              "D data tensor expected but got a tensor with sizes ", self.sizes());
  if (!at::isFloatingType(self.scalar_type())) throw NotServed("linear upsampling of a non-float dtype");
  k.require(self.scalar_type());
  const at::TensorOptions opts = self.options().dtype(blend_type(self));
  at::Tensor out = self.to(blend_type(self));
  const auto* scale = scales.begin() + dims - 1;
  for (int64_t i = dims - 1; i >= 0; --i, --scale) {
    const int64_t d = i + 2;
    const Taps t = linear_taps(self.size(d), output_size[i], align_corners, *scale, opts);
    at::Tensor blended = at::index_select(out, d, t.first).mul_(along(t.w_first, d, out.dim()));
    blended.addcmul_(at::index_select(out, d, t.second), along(t.w_second, d, out.dim()));
    out = blended;
  }
  return out.to(self.scalar_type()).contiguous(self.suggest_memory_format());
}

at::Tensor linear_backward(const at::Tensor& grad_output, at::IntArrayRef output_size, at::IntArrayRef input_size,
                           bool align_corners, std::initializer_list<std::optional<double>> scales) {
  const int64_t dims = static_cast<int64_t>(scales.size());
  check_upsample(dims, input_size, output_size);
  TORCH_CHECK(grad_output.dim() == dims + 2, "Expected grad_output to be a tensor of dimension ", dims + 2,
              " but got: dimension ", grad_output.dim());
  for (int64_t i = 0; i < dims + 2; ++i) {
    const int64_t expected = i < 2 ? input_size[i] : output_size[i - 2];
    TORCH_CHECK(grad_output.size(i) == expected, "Expected grad_output to have the same shape as output; output.size(",
                i, ") = ", expected, " but got grad_output.size(", i, ") = ", grad_output.size(i));
  }
  if (!at::isFloatingType(grad_output.scalar_type())) throw NotServed("linear upsampling backward of a non-float dtype");
  const at::TensorOptions opts = grad_output.options().dtype(blend_type(grad_output));
  at::Tensor grad = grad_output.to(blend_type(grad_output));
  const auto* scale = scales.begin();
  for (int64_t i = 0; i < dims; ++i, ++scale) {  // the forward's last blend first
    const int64_t d = i + 2;
    const Taps t = linear_taps(input_size[d], output_size[i], align_corners, *scale, opts);
    at::DimVector shape(grad.sizes().begin(), grad.sizes().end());
    shape[d] = input_size[d];
    at::Tensor into = at::zeros(shape, opts);
    into.scatter_add_(d, along(t.first, d, grad.dim()).expand(grad.sizes()), grad * along(t.w_first, d, grad.dim()));
    into.scatter_add_(d, along(t.second, d, grad.dim()).expand(grad.sizes()), grad * along(t.w_second, d, grad.dim()));
    grad = into;
  }
  return grad.to(grad_output.scalar_type()).contiguous(grad_output.suggest_memory_format());
}

}  // namespace

at::Tensor upsample_linear1d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                             std::optional<double> s) {
  return linear_forward(self, size, align_corners, {s});
}
at::Tensor upsample_bilinear2d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                               std::optional<double> sh, std::optional<double> sw) {
  return linear_forward(self, size, align_corners, {sh, sw});
}
at::Tensor upsample_trilinear3d(const at::Tensor& self, at::IntArrayRef size, bool align_corners,
                                std::optional<double> sd, std::optional<double> sh, std::optional<double> sw) {
  return linear_forward(self, size, align_corners, {sd, sh, sw});
}
at::Tensor upsample_linear1d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                      bool align_corners, std::optional<double> s) {
  return linear_backward(g, out, in, align_corners, {s});
}
at::Tensor upsample_bilinear2d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                        bool align_corners, std::optional<double> sh, std::optional<double> sw) {
  return linear_backward(g, out, in, align_corners, {sh, sw});
}
at::Tensor upsample_trilinear3d_backward(const at::Tensor& g, at::IntArrayRef out, at::IntArrayRef in,
                                         bool align_corners, std::optional<double> sd, std::optional<double> sh,
                                         std::optional<double> sw) {
  return linear_backward(g, out, in, align_corners, {sd, sh, sw});
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

void check_adaptive_input(const at::Tensor& input, int64_t dims) {
  TORCH_CHECK(input.dim() == dims + 1 || input.dim() == dims + 2, adaptive_name(dims), ": Expected ", dims + 1, "D or ",
              dims + 2, "D tensor, but got ", input.sizes());
  for (int64_t i = 1; i < input.dim(); ++i)
    TORCH_CHECK(input.size(i) > 0, adaptive_name(dims), ": Expected input to have non-zero size for non-batch ",
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
  const at::ScalarType compute = input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
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
  const at::ScalarType compute = input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
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

}  // namespace gems::ops
