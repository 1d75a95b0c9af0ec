// Images rearranged without arithmetic: padding by reflection and by
// replication (1-3d, forward and backward) along index maps computed on the
// host: floats in one pass of the interpolate kernel each way (resample and
// its adjoint, ops_pool_upsample.cpp), other dtypes each padded dim's rows
// picked with index_select (their backward: floats only); pixel shuffle and
// unshuffle as a view, a permutation and one copy (their gradients are each
// other). Circular padding is composed by PyTorch from narrow and cat.
#include <ATen/ATen.h>

#include <algorithm>

#include "op_registry.h"
#include "ops.h"
#include "ops_common.h"

namespace gems::ops {
namespace {

enum class PadMode { kReflect, kReplicate };

// The source of each output position along a dim of `size` padded by
// `before` and `after` (negative: cropped).
std::vector<int64_t> pad_sources(int64_t size, int64_t before, int64_t after, PadMode mode) {
  std::vector<int64_t> sources;
  for (int64_t o = 0; o < size + before + after; ++o) {
    int64_t i = o - before;
    if (mode == PadMode::kReplicate) {
      i = std::clamp<int64_t>(i, 0, size - 1);
    } else {
      if (i < 0) i = -i;
      if (i >= size) i = 2 * (size - 1) - i;
    }
    sources.push_back(i);
  }
  return sources;
}

// (before, after) of the padded dim `d` of `dims` (0 the first spatial dim):
// the padding list names the last dim first.
std::pair<int64_t, int64_t> pads_of(at::IntArrayRef padding, int64_t dims, int64_t d) {
  const int64_t k = 2 * (dims - 1 - d);
  return {padding[k], padding[k + 1]};
}

// PyTorch's checks of a reflection or replication pad (its meta functions').
void check_pad(const at::Tensor& self, at::IntArrayRef padding, int64_t dims, PadMode mode) {
  TORCH_CHECK(static_cast<int64_t>(padding.size()) == 2 * dims, "padding size is expected to be ", 2 * dims,
              ", but got: ", padding.size());
  const char* ranks = dims == 1 ? "2D or 3D" : dims == 2 ? "3D or 4D" : "4D or 5D";
  bool valid = self.dim() == dims + 1 || self.dim() == dims + 2;
  for (int64_t d = 1; valid && d < self.dim(); ++d) valid = self.size(d) != 0;
  if (valid && self.dim() == dims + 1) valid = self.size(0) != 0;
  TORCH_CHECK(valid, "Expected ", ranks, " (batch mode) tensor with possibly 0 batch size and other non-zero ",
              "dimensions for input, but got: ", self.sizes());
  static const char* kNames[] = {"D", "H", "W"};
  for (int64_t d = 0; d < dims; ++d) {
    const int64_t dim = self.dim() - dims + d, size = self.size(dim);
    const auto [before, after] = pads_of(padding, dims, d);
    if (mode == PadMode::kReflect)
      TORCH_CHECK(before < size && after < size, "Argument #4: Padding size should be less than the corresponding ",
                  "input dimension, but got: padding (", before, ", ", after, ") at dimension ", dim, " of input ",
                  self.sizes());
    const char* name = kNames[3 - dims + d];
    TORCH_CHECK(size + before + after >= 1, "input (", name, ": ", size, ") is too small. Calculated output ", name,
                ": ", size + before + after);
  }
}

// self with a batch dim where it has none (resampling's [N, C, spatial...]).
at::Tensor batched(const at::Tensor& t, int64_t dims) { return t.dim() == dims + 1 ? t.unsqueeze(0) : t; }

at::Tensor pad_forward(const at::Tensor& self, at::IntArrayRef padding, int64_t dims, PadMode mode) {
  static const Kernel k("index_select");
  check_pad(self, padding, dims, mode);
  if (resample_serves(self.scalar_type())) {  // floats: one pass of the index maps as resampling taps
    const at::Tensor x = batched(self, dims);
    at::DimVector out_size;
    for (int64_t d = 0; d < dims; ++d) {
      const auto [before, after] = pads_of(padding, dims, d);
      out_size.push_back(x.size(d + 2) + before + after);
    }
    const at::Tensor out = resample(x, out_size, [&](int64_t d) {
      const auto [before, after] = pads_of(padding, dims, d);
      return index_map_taps(pad_sources(x.size(d + 2), before, after, mode));
    });
    return self.dim() == dims + 1 ? out.squeeze(0) : out;
  }
  k.require(self.scalar_type());
  at::Tensor out = self;
  for (int64_t d = 0; d < dims; ++d) {
    const int64_t dim = self.dim() - dims + d;
    const auto [before, after] = pads_of(padding, dims, d);
    if (before != 0 || after != 0) out = pick_rows(out, dim, pad_sources(self.size(dim), before, after, mode));
  }
  return out.is_same(self) ? self.clone() : out.contiguous();
}

at::Tensor pad_backward(const at::Tensor& grad_output, const at::Tensor& self, at::IntArrayRef padding, int64_t dims,
                        PadMode mode) {
  check_pad(self, padding, dims, mode);
  TORCH_CHECK(grad_output.dim() == self.dim(), "grad_output must have ", self.dim(), " dims, got ", grad_output.dim());
  for (int64_t d = 0; d < dims; ++d) {
    const int64_t dim = self.dim() - dims + d;
    const auto [before, after] = pads_of(padding, dims, d);
    TORCH_CHECK(grad_output.size(dim) == self.size(dim) + before + after, "gradOutput width unexpected. Expected: ",
                self.size(dim) + before + after, ", Got: ", grad_output.size(dim));
  }
  if (!at::isFloatingType(grad_output.scalar_type())) throw NotServed("padding backward of a non-float dtype");
  if (resample_serves(grad_output.scalar_type())) {  // one pass: each input sums the outputs that read it
    const at::Tensor x = batched(self, dims), g = batched(grad_output, dims);
    const at::Tensor grad = resample_backward(g, x.sizes(), [&](int64_t d) {
      const auto [before, after] = pads_of(padding, dims, d);
      return index_map_taps(pad_sources(x.size(d + 2), before, after, mode));
    });
    return self.dim() == dims + 1 ? grad.squeeze(0) : grad;
  }
  at::Tensor grad = grad_output;
  for (int64_t d = dims - 1; d >= 0; --d) {
    const int64_t dim = self.dim() - dims + d;
    const auto [before, after] = pads_of(padding, dims, d);
    if (before != 0 || after != 0)
      grad = add_rows_into(grad, dim, self.size(dim), pad_sources(self.size(dim), before, after, mode));
  }
  return grad.is_same(grad_output) ? grad_output.clone() : grad.to(grad_output.scalar_type()).contiguous();
}

// self split into `split`, permuted by `order` and merged into `merged` with
// one copy, in self's memory format (channels-last stays so, as on CPU).
at::Tensor rearranged(const at::Tensor& self, at::IntArrayRef split, at::IntArrayRef order, at::IntArrayRef merged) {
  static const Kernel k("copy");
  k.require(self.scalar_type());
  const at::Tensor out = self.reshape(split).permute(order).clone(at::MemoryFormat::Contiguous).view(merged);
  const at::MemoryFormat format = self.suggest_memory_format();
  return format == at::MemoryFormat::Contiguous ? out : out.contiguous(format);
}

}  // namespace

#define GEMS_PAD_OPS(NAME, DIMS, MODE)                                                                 \
  at::Tensor NAME(const at::Tensor& self, at::IntArrayRef padding) {                                  \
    return pad_forward(self, padding, DIMS, MODE);                                                    \
  }                                                                                                   \
  at::Tensor NAME##_backward(const at::Tensor& grad_output, const at::Tensor& self, at::IntArrayRef padding) { \
    return pad_backward(grad_output, self, padding, DIMS, MODE);                                      \
  }
GEMS_PAD_OPS(reflection_pad1d, 1, PadMode::kReflect)
GEMS_PAD_OPS(reflection_pad2d, 2, PadMode::kReflect)
GEMS_PAD_OPS(reflection_pad3d, 3, PadMode::kReflect)
GEMS_PAD_OPS(replication_pad1d, 1, PadMode::kReplicate)
GEMS_PAD_OPS(replication_pad2d, 2, PadMode::kReplicate)
GEMS_PAD_OPS(replication_pad3d, 3, PadMode::kReplicate)
#undef GEMS_PAD_OPS

// [..., C*r*r, H, W] -> [..., C, H*r, W*r]: channel c*r*r + i*r + j goes to
// row h*r + i, column w*r + j.
at::Tensor pixel_shuffle(const at::Tensor& self, int64_t upscale_factor) {
  TORCH_CHECK(self.dim() >= 3, "pixel_shuffle expects input to have at least 3 dimensions, but got input with ",
              self.dim(), " dimension(s)");
  TORCH_CHECK(upscale_factor > 0, "pixel_shuffle expects a positive upscale_factor, but got ", upscale_factor);
  const int64_t r = upscale_factor, c = self.size(-3), h = self.size(-2), w = self.size(-1);
  TORCH_CHECK(c % (r * r) == 0, "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square ",
              "of upscale_factor, but input.size(-3)=", c, " is not divisible by ", r * r);
  const auto batch = self.sizes().slice(0, self.dim() - 3);
  const int64_t n = batch.size();
  at::DimVector split(batch.begin(), batch.end()), order, merged(batch.begin(), batch.end());
  split.append({c / (r * r), r, r, h, w});
  for (int64_t i = 0; i < n; ++i) order.push_back(i);
  order.append({n, n + 3, n + 1, n + 4, n + 2});
  merged.append({c / (r * r), h * r, w * r});
  return rearranged(self, split, order, merged);
}

// [..., C, H*r, W*r] -> [..., C*r*r, H, W], pixel_shuffle's inverse.
at::Tensor pixel_unshuffle(const at::Tensor& self, int64_t downscale_factor) {
  TORCH_CHECK(self.dim() >= 3, "pixel_unshuffle expects input to have at least 3 dimensions, but got input with ",
              self.dim(), " dimension(s)");
  TORCH_CHECK(downscale_factor > 0, "pixel_unshuffle expects a positive downscale_factor, but got ",
              downscale_factor);
  const int64_t r = downscale_factor, c = self.size(-3), h = self.size(-2), w = self.size(-1);
  TORCH_CHECK(h % r == 0, "pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=", h,
              " is not divisible by ", r);
  TORCH_CHECK(w % r == 0, "pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=", w,
              " is not divisible by ", r);
  const auto batch = self.sizes().slice(0, self.dim() - 3);
  const int64_t n = batch.size();
  at::DimVector split(batch.begin(), batch.end()), order, merged(batch.begin(), batch.end());
  split.append({c, h / r, r, w / r, r});
  for (int64_t i = 0; i < n; ++i) order.push_back(i);
  order.append({n, n + 2, n + 4, n + 1, n + 3});
  merged.append({c * r * r, h / r, w / r});
  return rearranged(self, split, order, merged);
}

}  // namespace gems::ops
