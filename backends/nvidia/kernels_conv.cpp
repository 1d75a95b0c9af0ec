// Convolutions through cuDNN's graphs (cudnn_graph.h): forward (fprop), the
// input gradient (dgrad; also a transposed convolution's forward) and the
// weight gradient (wgrad), 1-d to 3-d, grouped, float16, bfloat16, float32
// and float64, NCHW or channels-last as the operands are laid out. A 1-d
// convolution is described to cuDNN as a 2-d one of height 1. What cuDNN
// cannot run (no engine for a shape, a misaligned pointer) is answered with
// GEMS_UNSUPPORTED and the core computes the convolution with im2col and
// GEMM instead (csrc/dispatch/ops_conv.cpp).
//
// float32 follows torch.backends.cudnn.allow_tf32 (scalar flag bit 0, on by
// default as on CUDA); torch.use_deterministic_algorithms excludes cuDNN's
// nondeterministic engines (bit 1). Engines that compute a 16-bit convolution
// with 16-bit sums are never used: PyTorch's results sum in float32.
#include <cstdint>
#include <vector>

#include "cudnn_graph.h"
#include "kernels.h"
#include "runtime.h"

namespace gems::nvidia {
namespace {
using namespace cudnn;

enum class Pass : int64_t { kForward = 2, kInputGradient = 3, kWeightGradient = 4 };  // (cache key tags)
enum Uid : int64_t { kX = 1, kW, kY };

constexpr int64_t kAllowTf32 = 1, kDeterministic = 2;

struct Conv {
  int64_t groups = 1, flags = 0;
  std::vector<int64_t> stride, padding, dilation;
};

// The scalars: groups, flags, then stride, padding and dilation per spatial dim.
bool parse(const gems_kernel_call* c, int64_t dims, Conv& conv) {
  if (c->num_tensors != 3 || c->num_scalars != 2 + 3 * dims) return false;
  conv.groups = c->scalars[0].i;
  conv.flags = c->scalars[1].i;
  for (int64_t d = 0; d < dims; ++d) {
    conv.stride.push_back(c->scalars[2 + d].i);
    conv.padding.push_back(c->scalars[2 + dims + d].i);
    conv.dilation.push_back(c->scalars[2 + 2 * dims + d].i);
  }
  if (dims == 1) {  // as 2-d of height 1
    conv.stride.insert(conv.stride.begin(), 1);
    conv.padding.insert(conv.padding.begin(), 0);
    conv.dilation.insert(conv.dilation.begin(), 1);
  }
  return true;
}

// A tensor's dims and strides for cuDNN: 1-d convolutions gain a height of 1
// whose stride spans the row, so that a packed tensor stays packed.
struct Shape {
  std::vector<int64_t> dims, strides;
};
Shape shape_of(const gems_tensor& t) {
  Shape s{{t.sizes, t.sizes + t.ndim}, {t.strides, t.strides + t.ndim}};
  if (t.ndim == 3) {
    s.dims.insert(s.dims.begin() + 2, 1);
    s.strides.insert(s.strides.begin() + 2, t.strides[2] * t.sizes[2]);
  }
  return s;
}

std::shared_ptr<fe::graph::Tensor_attributes> declare_tensor(fe::graph::Graph& g, const char* name, Uid uid,
                                                             const gems_tensor& t) {
  const Shape s = shape_of(t);
  return g.tensor(fe::graph::Tensor_attributes().set_name(name).set_uid(uid).set_dim(s.dims).set_stride(s.strides));
}

void as_output(const std::shared_ptr<fe::graph::Tensor_attributes>& t, Uid uid, const gems_tensor& d) {
  const Shape s = shape_of(d);
  t->set_output(true).set_uid(uid).set_dim(s.dims).set_stride(s.strides);
}

std::vector<int64_t> key_of(Pass pass, const Conv& conv, const gems_tensor* ts) {
  std::vector<int64_t> key = {static_cast<int64_t>(pass), ts[0].dtype, conv.groups, conv.flags};
  for (const auto* v : {&conv.stride, &conv.padding, &conv.dilation}) key.insert(key.end(), v->begin(), v->end());
  for (int i = 0; i < 3; ++i) {
    key.push_back(ts[i].ndim);
    key.insert(key.end(), ts[i].sizes, ts[i].sizes + ts[i].ndim);
    key.insert(key.end(), ts[i].strides, ts[i].strides + ts[i].ndim);
  }
  return key;
}

PlanFilter filter_for(int32_t dtype, int64_t flags) {
  PlanFilter f;
  if (dtype == GEMS_FLOAT32) {
    f.excluded.push_back(fe::NumericalNote_t::DOWN_CONVERT_INPUTS);
    if (!(flags & kAllowTf32)) f.excluded.push_back(fe::NumericalNote_t::TENSOR_CORE);
  }
  f.excluded.push_back(fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION);
  if (flags & kDeterministic) f.excluded.push_back(fe::NumericalNote_t::NONDETERMINISTIC);
  return f;
}

// cuDNN reads its operands with 16-byte vectors where it can: it is told so.
bool aligned(const gems_tensor& t) { return reinterpret_cast<uintptr_t>(address(t)) % 16 == 0; }

int run(const gems_kernel_call* c, Pass pass) {
  const gems_tensor* t = c->tensors;
  const int64_t dims = t[0].ndim - 2;
  Conv conv;
  if (dims < 1 || dims > 3 || !parse(c, dims, conv))
    return set_error_string(GEMS_INVALID_ARGUMENT, "convolution: expected 3 tensors of 3 to 5 dims, groups, flags and "
                                                   "stride, padding and dilation per spatial dim");
  for (int i = 0; i < 3; ++i)
    if (t[i].ndim != t[0].ndim || t[i].dtype != t[0].dtype || !aligned(t[i]))
      return set_error_string(GEMS_UNSUPPORTED, "cuDNN convolution needs 16-byte aligned operands of one dtype");
  const int32_t dtype = t[0].dtype;
  // The operands in cuDNN's names: X (image), W, Y (columns).
  const gems_tensor& x = pass == Pass::kForward ? t[1] : pass == Pass::kInputGradient ? t[0] : t[1];
  const gems_tensor& w = pass == Pass::kWeightGradient ? t[0] : t[2];
  const gems_tensor& y = pass == Pass::kForward ? t[0] : t[pass == Pass::kInputGradient ? 1 : 2];
  const Declare declare = [&] {
    auto g = std::make_shared<fe::graph::Graph>();
    g->set_io_data_type(data_type(dtype))
        .set_intermediate_data_type(dtype == GEMS_FLOAT64 ? fe::DataType_t::DOUBLE : fe::DataType_t::FLOAT)
        .set_compute_data_type(dtype == GEMS_FLOAT64 ? fe::DataType_t::DOUBLE : fe::DataType_t::FLOAT);
    if (pass == Pass::kForward) {
      auto out = g->conv_fprop(declare_tensor(*g, "x", kX, x), declare_tensor(*g, "w", kW, w),
                               fe::graph::Conv_fprop_attributes().set_name("gems_conv_fprop").set_padding(conv.padding)
                                   .set_stride(conv.stride).set_dilation(conv.dilation));
      as_output(out, kY, y);
    } else if (pass == Pass::kInputGradient) {
      auto out = g->conv_dgrad(declare_tensor(*g, "dy", kY, y), declare_tensor(*g, "w", kW, w),
                               fe::graph::Conv_dgrad_attributes().set_name("gems_conv_dgrad").set_padding(conv.padding)
                                   .set_stride(conv.stride).set_dilation(conv.dilation));
      as_output(out, kX, x);
    } else {
      auto out = g->conv_wgrad(declare_tensor(*g, "dy", kY, y), declare_tensor(*g, "x", kX, x),
                               fe::graph::Conv_wgrad_attributes().set_name("gems_conv_wgrad").set_padding(conv.padding)
                                   .set_stride(conv.stride).set_dilation(conv.dilation));
      as_output(out, kW, w);
    }
    return g;
  };
  const Pack pack = {{kX, address(x)}, {kW, address(w)}, {kY, address(y)}};
  return run_graph("convolution", key_of(pass, conv, t), c, declare, filter_for(dtype, conv.flags), pack);
}

}  // namespace

int k_convolution(const gems_kernel_call* c) { return run(c, Pass::kForward); }
int k_convolution_backward_input(const gems_kernel_call* c) { return run(c, Pass::kInputGradient); }
int k_convolution_backward_weight(const gems_kernel_call* c) { return run(c, Pass::kWeightGradient); }

}  // namespace gems::nvidia
