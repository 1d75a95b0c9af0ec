// Convolutions through cuDNN's graphs (cudnn_graph.h): forward (fprop), the
// input gradient (dgrad; also a transposed convolution's forward) and the
// weight gradient (wgrad), 1-d to 3-d, grouped, float16, bfloat16, float32
// and float64, NCHW or channels-last as the operands are laid out. A 1-d
// convolution is described to cuDNN as a 2-d one of height 1. What cuDNN
// cannot run (no engine for a shape, a misaligned pointer) is answered with
// GEMS_UNSUPPORTED and the core computes the convolution with im2col and
// GEMM instead (csrc/dispatch/ops_conv.cpp).
//
// The engines allowed are PyTorch's own (its cuDNN convolutions' filter):
// float32 follows torch.backends.cudnn.allow_tf32 (scalar flag bit 0, on by
// default as on CUDA); torch.use_deterministic_algorithms excludes cuDNN's
// nondeterministic engines (bit 1). 16-bit convolutions compute in float32
// (the graph's compute type) and may run engines cuDNN marks
// REDUCED_PRECISION_REDUCTION, as PyTorch's do: excluding them left cuDNN's
// heuristics a slower engine than torch's for ResNet's 3x3 layers.
#include <cstdint>
#include <vector>

#include "../common/conv_operands.h"
#include "cudnn_graph.h"
#include "kernels.h"
#include "runtime.h"

namespace gems::nvidia {
namespace {
using namespace cudnn;

enum Uid : int64_t { kX = 1, kW, kY };

// The window's stride, padding and dilation as cuDNN takes them: a 1-d
// convolution is a 2-d one of height 1.
struct Window {
  std::vector<int64_t> stride, padding, dilation;
  explicit Window(const ConvOperands& op)
      : stride(op.stride, op.stride + op.dims),
        padding(op.padding, op.padding + op.dims),
        dilation(op.dilation, op.dilation + op.dims) {
    if (op.dims == 1) {
      stride.insert(stride.begin(), 1);
      padding.insert(padding.begin(), 0);
      dilation.insert(dilation.begin(), 1);
    }
  }
};

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

std::vector<int64_t> key_of(ConvPass pass, const ConvOperands& op, const gems_tensor* ts) {
  // (convolutions' keys start with 2 to 4, attention's with 0 or 1: one cache)
  std::vector<int64_t> key = {2 + static_cast<int64_t>(pass), ts[0].dtype, op.groups, op.flags};
  for (const int64_t* v : {op.stride, op.padding, op.dilation}) key.insert(key.end(), v, v + op.dims);
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
    if (!(flags & kConvAllowTf32)) f.excluded.push_back(fe::NumericalNote_t::TENSOR_CORE);
  }
  if (flags & kConvDeterministic) f.excluded.push_back(fe::NumericalNote_t::NONDETERMINISTIC);
  return f;
}

// cuDNN reads its operands with 16-byte vectors where it can: it is told so.
bool aligned(const gems_tensor& t) { return reinterpret_cast<uintptr_t>(address(t)) % 16 == 0; }

int run(const gems_kernel_call* c, ConvPass pass) {
  const ConvOperands op(c, pass);
  if (!op.valid())
    return set_error_string(GEMS_INVALID_ARGUMENT, ConvOperands::kExpected);
  const gems_tensor* t = c->tensors;
  for (int i = 0; i < 3; ++i)
    if (t[i].dtype != t[0].dtype || !aligned(t[i]))
      return set_error_string(GEMS_UNSUPPORTED, "cuDNN convolution needs 16-byte aligned operands of one dtype");
  const int32_t dtype = t[0].dtype;
  const Window conv(op);
  // The operands in cuDNN's names: X (image), W, Y (columns).
  const gems_tensor &x = *op.x, &w = *op.w, &y = *op.y;
  const Declare declare = [&] {
    auto g = std::make_shared<fe::graph::Graph>();
    g->set_io_data_type(data_type(dtype))
        .set_intermediate_data_type(dtype == GEMS_FLOAT64 ? fe::DataType_t::DOUBLE : fe::DataType_t::FLOAT)
        .set_compute_data_type(dtype == GEMS_FLOAT64 ? fe::DataType_t::DOUBLE : fe::DataType_t::FLOAT);
    if (pass == ConvPass::kForward) {
      auto out = g->conv_fprop(declare_tensor(*g, "x", kX, x), declare_tensor(*g, "w", kW, w),
                               fe::graph::Conv_fprop_attributes().set_name("gems_conv_fprop").set_padding(conv.padding)
                                   .set_stride(conv.stride).set_dilation(conv.dilation));
      as_output(out, kY, y);
    } else if (pass == ConvPass::kInputGradient) {
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
  return run_graph("convolution", key_of(pass, op, t), c, declare, filter_for(dtype, op.flags), pack);
}

}  // namespace

int k_convolution(const gems_kernel_call* c) { return run(c, ConvPass::kForward); }
int k_convolution_backward_input(const gems_kernel_call* c) { return run(c, ConvPass::kInputGradient); }
int k_convolution_backward_weight(const gems_kernel_call* c) { return run(c, ConvPass::kWeightGradient); }

}  // namespace gems::nvidia
