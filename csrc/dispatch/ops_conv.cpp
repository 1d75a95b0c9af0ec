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
//
// A vendor with convolution kernels of its own (cuDNN's on nvidia; intel's)
// runs each move as one call instead: "convolution" is the gather,
// "convolution_backward_input" the scatter (written, not added) and
// "convolution_backward_weight" the weight gradient. A vendor answers
// GEMS_UNSUPPORTED for what its library cannot run; im2col and GEMM serve it.
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <cstdlib>
#include <numeric>
#include <string>

#include "../../backends/common/conv_operands.h"
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

// Window positions along a dim of `padded` elements (may be < 1: too small).
int64_t positions_along(int64_t padded, int64_t kernel, int64_t stride, int64_t dilation) {
  return (padded - dilation * (kernel - 1) - 1) / stride + 1;
}

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
      g.column_size.push_back(positions_along(padded[i], g.kernel[i], g.stride[i], g.dilation[i]));
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
  const bool widen = is_16_bit(image.scalar_type());
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
  const bool widen = is_16_bit(image.scalar_type());
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
  const bool widen = is_16_bit(image.scalar_type());
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

// The vendor's convolution kernels, each one of the three moves.
// GEMS_CONV=gemm leaves them out, for comparison: im2col and GEMM serve all.
enum class Move { kGather, kScatter, kWeightGradient };
bool vendor_kernels_wanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("GEMS_CONV");
    return !(v && std::string(v) == "gemm");
  }();
  return wanted;
}
const Kernel& vendor_kernel(Move m) {
  static const Kernel gather("convolution"), scatter("convolution_backward_input"),
      weight_gradient("convolution_backward_weight");
  return m == Move::kGather ? gather : m == Move::kScatter ? scatter : weight_gradient;
}

// Patch embeddings (windows that tile the image: stride = kernel > 1, no
// padding or dilation): im2col is a permuted copy and one GEMM beats the
// library for the gather and the weight gradient (H100, ViT-B/16 in bf16,
// batch 16: 0.075 ms against cuDNN's 0.230 forward, 0.50 against 0.91
// forward + backward; docs/benchmarks), and col2im beats the library's
// input gradient of a patch embedding (3 image channels: on the cpu vendor
// 5.4 ms forward + backward against oneDNN's 14). Not for a transposed
// convolution's forward (many image channels): col2im there took twice
// cuDNN's dgrad (2x2/2 64->32 at 28x28: 0.108 ms against 0.055) and oneDNN's
// (0.19 against 0.10).
bool tiles_the_image(const Geometry& g) {
  if (g.kernel_numel() == 1) return false;  // 1x1: cuDNN's (0.026 ms against 0.154)
  for (int64_t i = 0; i < g.dims; ++i)
    if (g.stride[i] != g.kernel[i] || g.padding[i] != 0 || g.dilation[i] != 1) return false;
  return true;
}

// Runs one move with the vendor's kernel into `out` (operands as the kernel
// names them: gather image, weight; scatter columns, weight; weight gradient
// image, columns), laid out in `format`. False, having written nothing, when
// the vendor has no such kernel or cannot run this call.
bool vendor_move(Move m, const at::Tensor& out, const at::Tensor& a, const at::Tensor& b, const Geometry& g,
                 at::MemoryFormat format, bool transposed_forward = false) {
  const Kernel& k = vendor_kernel(m);
  if (!vendor_kernels_wanted() || !k.serves(out.scalar_type()) || (!transposed_forward && tiles_the_image(g)))
    return false;
  int64_t flags = 0;
  if (at::globalContext().allowTF32CuDNN()) flags |= kConvAllowTf32;  // torch.backends.cudnn.allow_tf32
  if (at::globalContext().deterministicAlgorithms() || at::globalContext().deterministicCuDNN())
    flags |= kConvDeterministic;
  std::vector<gems_scalar> scalars{int_arg(g.groups), int_arg(flags)};
  for (const at::DimVector* v : {&g.stride, &g.padding, &g.dilation})
    for (int64_t x : *v) scalars.push_back(int_arg(x));
  const at::Tensor da = a.contiguous(format), db = b.contiguous(format);
  const gems_tensor d[3] = {describe(out), describe(da), describe(db)};
  return k.try_launch(launch_index(out.device()), d, 3, scalars);
}

// ---- F.unfold and F.fold (aten's im2col and col2im): a convolution's im2col
// and col2im with one group, 2-d, laid out [batch, C * kernel, blocks] ----

// PyTorch's checks of the four 2-element arguments (Im2Col.h's).
void check_block_arguments(at::IntArrayRef kernel_size, at::IntArrayRef dilation, at::IntArrayRef padding,
                           at::IntArrayRef stride) {
  TORCH_CHECK(kernel_size.size() == 2, "It is expected kernel_size equals to 2, but got size ", kernel_size.size());
  TORCH_CHECK(dilation.size() == 2, "It is expected dilation equals to 2, but got size ", dilation.size());
  TORCH_CHECK(padding.size() == 2, "It is expected padding equals to 2, but got size ", padding.size());
  TORCH_CHECK(stride.size() == 2, "It is expected stride equals to 2, but got size ", stride.size());
  TORCH_CHECK(kernel_size[0] > 0 && kernel_size[1] > 0, "kernel size should be greater than zero, but got ",
              "kernel_height: ", kernel_size[0], " kernel_width: ", kernel_size[1]);
  TORCH_CHECK(dilation[0] > 0 && dilation[1] > 0, "dilation should be greater than zero, but got dilation_height: ",
              dilation[0], " dilation_width: ", dilation[1]);
  TORCH_CHECK(padding[0] >= 0 && padding[1] >= 0, "padding should be non-negative, but got pad_height: ", padding[0],
              " pad_width: ", padding[1]);
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0, "stride should be greater than zero, but got stride_height: ",
              stride[0], " stride_width: ", stride[1]);
}

Geometry blocks_geometry(int64_t batch, int64_t channels, at::IntArrayRef image, at::IntArrayRef kernel_size,
                         at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  Geometry g;
  g.dims = 2;
  g.batch = batch;
  g.image_channels = channels;
  for (int64_t i = 0; i < 2; ++i) {
    g.kernel.push_back(kernel_size[i]);
    g.stride.push_back(stride[i]);
    g.padding.push_back(padding[i]);
    g.dilation.push_back(dilation[i]);
    g.image_size.push_back(image[i]);
    g.column_size.push_back(positions_along(image[i] + 2 * padding[i], kernel_size[i], stride[i], dilation[i]));
  }
  return g;
}

// Whether every dim but the batch (dim 0 when batched) is non-empty.
bool non_empty_but_batch(const at::Tensor& t, bool batched) {
  for (int64_t d = batched ? 1 : 0; d < t.dim(); ++d)
    if (t.size(d) == 0) return false;
  return true;
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
  if (vendor_move(transposed ? Move::kScatter : Move::kGather, out, input, weight, g, format, transposed)) {
    if (has_bias) out.add_(bias_shaped(*bias, g.dims));
    return out;
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
    const Move move = transposed ? Move::kGather : Move::kScatter;
    grad_input = at::empty(input.sizes(), input.options().memory_format(format));
    if (empty || !vendor_move(move, grad_input, grad_output, weight, g, format)) {
      grad_input.zero_();
      if (!empty) {
        const at::Tensor wm = weight_matrix(weight, g);
        if (!transposed) scatter(grad_output, wm, g, grad_input);
        else gather(grad_output, wm, g, grad_input);
      }
    }
  }
  if (output_mask[1]) {
    grad_weight = at::empty(weight.sizes(), weight.options().memory_format(format));
    if (empty) {
      grad_weight.zero_();
    } else if (!vendor_move(Move::kWeightGradient, grad_weight, image, columns_side, g, format)) {
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

at::Tensor unfold_blocks(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                         at::IntArrayRef padding, at::IntArrayRef stride) {
  static const Kernel k("copy");
  check_block_arguments(kernel_size, dilation, padding, stride);
  const bool batched = self.dim() == 4;
  TORCH_CHECK((self.dim() == 3 || batched) && non_empty_but_batch(self, batched), "Expected 3D or 4D (batch mode) ",
              "tensor for input with possible 0 batch size and non-zero dimensions, but got: ", self.sizes());
  k.require(self.scalar_type());
  const at::Tensor x = batched ? self : self.unsqueeze(0);
  const Geometry g = blocks_geometry(x.size(0), x.size(1), x.sizes().slice(2), kernel_size, dilation, padding, stride);
  TORCH_CHECK(g.column_size[0] >= 1 && g.column_size[1] >= 1, "Given input with spatial size (", x.size(2), ", ",
              x.size(3), "), kernel_size=(", kernel_size[0], ", ", kernel_size[1], "), dilation=(", dilation[0], ", ",
              dilation[1], "), padding=(", padding[0], ", ", padding[1], "), calculated shape of the array of sliding ",
              "blocks as (", g.column_size[0], ", ", g.column_size[1], "), but its components must be at least one.");
  const int64_t rows = g.image_channels * g.kernel_numel(), blocks = g.column_positions();
  at::Tensor out;
  if (g.batch == 0) {
    out = at::empty({0, rows, blocks}, x.options());
  } else {
    // window_view: [1, C, kh, kw, N, oh, ow] -> [N, C, kh, kw, oh, ow], copied dense
    const at::Tensor windows = window_view(padded_image(x, g), g, true).squeeze(0);
    out = windows.permute({3, 0, 1, 2, 4, 5}).reshape({g.batch, rows, blocks});
    if (out.is_alias_of(x)) out = out.clone();
  }
  return batched ? out : out.squeeze(0);
}

at::Tensor fold_blocks(const at::Tensor& self, at::IntArrayRef output_size, at::IntArrayRef kernel_size,
                       at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  static const Kernel k("add");
  TORCH_CHECK(output_size.size() == 2, "It is expected output_size equals to 2, but got size ", output_size.size());
  check_block_arguments(kernel_size, dilation, padding, stride);
  const bool batched = self.dim() == 3;
  TORCH_CHECK((self.dim() == 2 || batched) && non_empty_but_batch(self, batched), "Expected 2D or 3D (batch mode) ",
              "tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: ", self.sizes());
  const at::Tensor cols = batched ? self : self.unsqueeze(0);
  const int64_t taps = kernel_size[0] * kernel_size[1];
  TORCH_CHECK(cols.size(1) % taps == 0, "Expected size of input's dimension 1 to be divisible by the product of ",
              "kernel_size, but got input.size(1)=", cols.size(1), " and kernel_size=(", kernel_size[0], ", ",
              kernel_size[1], ").");
  const Geometry g = blocks_geometry(cols.size(0), cols.size(1) / taps, output_size, kernel_size, dilation, padding,
                                     stride);
  const std::string arguments = "output_size=(" + join(output_size) + "), kernel_size=(" + join(kernel_size) +
                                "), dilation=(" + join(dilation) + "), padding=(" + join(padding) + "), stride=(" +
                                join(stride) + ")";
  TORCH_CHECK(g.column_size[0] >= 1 && g.column_size[1] >= 1, "Given ", arguments, ", calculated shape of the array ",
              "of sliding blocks as (", g.column_size[0], ", ", g.column_size[1], "), which is too small (non-positive)");
  TORCH_CHECK(cols.size(2) == g.column_positions(), "Given ", arguments, ", expected size of input's dimension 2 to ",
              "match the calculated number of sliding blocks ", g.column_size[0], " * ", g.column_size[1], " = ",
              g.column_positions(), ", but got input.size(2)=", cols.size(2), ".");
  k.require(self.scalar_type());
  at::Tensor image = at::zeros({g.batch, g.image_channels, output_size[0], output_size[1]}, cols.options());
  if (g.batch > 0) {
    // [N, C * K, L] -> [1, C * K, N * L]: col2im_add's columns
    const at::Tensor columns = cols.transpose(0, 1).reshape({1, cols.size(1), g.batch * g.column_positions()});
    col2im_add(columns, image, g);
  }
  return batched ? image : image.squeeze(0);
}

}  // namespace gems::ops
