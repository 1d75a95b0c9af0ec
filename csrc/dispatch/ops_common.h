// Helpers shared by the op wrappers: device checks, dtype casts, output
// preparation. Wrappers validate input and raise the errors PyTorch's own
// backends raise (same exception type, a message that names the problem).
#pragma once
#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/native/Resize.h>

#include <functional>
#include <utility>
#include <vector>

#include "kernel_launch.h"

namespace gems::ops {

// Checks that every defined tensor lives on one device and returns it; CPU
// 0-dim tensors are accepted beside any device, as PyTorch accepts them.
c10::Device common_device(c10::ArrayRef<const at::Tensor*> tensors);
// The device every one of `tensors` is on, CPU 0-dim tensors not excepted: for
// operands that are never Python scalars (indices, pieces to concatenate).
c10::Device one_device(c10::ArrayRef<const at::Tensor*> tensors);

// The vendor device index for a tensor device (CPU tensors in patch mode run
// on vendor device 0).
inline c10::DeviceIndex launch_index(c10::Device d) { return d.is_cpu() ? 0 : d.index(); }

// t on `device` in dtype `dtype`: CPU scalars are moved, other dtypes cast.
at::Tensor prepare(const at::Tensor& t, c10::Device device, at::ScalarType dtype);

// A CPU 0-dim "wrapped number" tensor for a Scalar, so that type promotion
// treats it like a Python number.
at::Tensor wrap_scalar(const c10::Scalar& s);

// How an op's output is provided: a fresh tensor, an in-place self, or out=.
enum class OutKind { Fresh, InPlace, Out };

// A fresh contiguous tensor; on gems devices without a dispatcher round trip.
at::Tensor empty_result(at::IntArrayRef shape, const at::TensorOptions& options);

// PyTorch's checks of an out= that is not elementwise (gather, cat,
// index_select...): no element of it written twice, and no memory shared with
// an input, even wholly (out=input), where a kernel would read what it wrote.
inline void check_out_overlap(const at::Tensor& out, c10::ArrayRef<const at::Tensor*> inputs) {
  if (!out.defined()) return;
  at::assert_no_internal_overlap(out);
  for (const at::Tensor* in : inputs)
    if (in->defined()) at::assert_no_overlap(out, *in);
}

// Makes `out` ready to receive a result of `shape` and dtype `result`:
// allocates it (Fresh, in the layout of `layout` when that input has the
// result's shape), checks shape (InPlace) or resizes it (Out), and checks
// that `result` can be cast to its dtype.
void prepare_output(at::Tensor& out, OutKind kind, at::IntArrayRef shape, at::ScalarType result,
                    const at::TensorOptions& options, const at::Tensor* layout = nullptr);

// An operand of a pointwise kernel and the dtype the kernel wants it in.
struct Operand {
  const at::Tensor& tensor;
  at::ScalarType dtype;
};

// out = kernel(operands...) with broadcasting. `result` is the dtype the
// kernel writes; when out has another dtype the result goes through a cast.
at::Tensor& pointwise(const Kernel& k, at::Tensor& out, OutKind kind, at::ScalarType compute,
                      at::ScalarType result, std::initializer_list<Operand> operands,
                      std::initializer_list<gems_scalar> scalars = {});

// The out= variant of an op computed into a fresh `result`: out resized to
// its shape, then written (cast to out's dtype).
inline at::Tensor& write_out(at::Tensor& out, const at::Tensor& result) {
  at::native::resize_output(out, result.sizes());
  return out.copy_(result);
}

// Half and bfloat16: the dtypes whose sums and blends run in float32.
inline bool is_16_bit(at::ScalarType t) { return t == at::kHalf || t == at::kBFloat16; }
// t, or float32 for the 16-bit types.
inline at::ScalarType widened_type(at::ScalarType t) { return is_16_bit(t) ? at::kFloat : t; }
// The dtype statistics and blends of a float tensor are kept in: float64 for
// float64, float32 for every other (PyTorch's accumulate type on CUDA).
inline at::ScalarType accumulate_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// The default floating dtype for ops that promote integers to float.
inline at::ScalarType float_of(at::ScalarType t) {
  return at::isFloatingType(t) ? t : c10::typeMetaToScalarType(at::get_default_dtype());
}

// Index maps computed on the host (upsampling, padding): the rows of t along
// dim picked by `sources` (index_select), and its adjoint, each row of grad
// along dim added into row sources[i] of a zero tensor of `size` rows there
// (16-bit gradients sum in float32 and are returned in it).
at::Tensor pick_rows(const at::Tensor& t, int64_t dim, const std::vector<int64_t>& sources);
at::Tensor add_rows_into(const at::Tensor& grad, int64_t dim, int64_t size, const std::vector<int64_t>& sources);

// Resampling through the vendors' interpolate kernel (backends/common/interpolate.h),
// for floats: each spatial dim (up to three, after N and C) maps its outputs
// to weighted sources, a [K, O] table computed on the host, row-major: output
// o reads source index[k * O + o] with weight[k * O + o] (computed in the
// opmath type; double holds it exactly). used[o]: the taps output o has (the
// rest pad with weight 0 and are left out of the backward); empty: all K.
struct ResampleTaps {
  int64_t K = 0, O = 0;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<int64_t> used;
};
// An index map (output o reads sources[o]: nearest resampling, padding) as taps:
// one a position, of weight 1 (x * 1 is x, NaN, -0 and infinities included).
inline ResampleTaps index_map_taps(std::vector<int64_t> sources) {
  ResampleTaps t;
  t.K = 1;
  t.O = static_cast<int64_t>(sources.size());
  t.index = std::move(sources);
  t.weight.assign(t.O, 1.0);
  return t;
}
bool resample_serves(at::ScalarType type);
// One pass: self [N, C, spatial...] to output_size (spatial), taps(i) for spatial dim i.
// A uint8 self takes integer weights in fixed point with `precision` bits (interpolate.h).
at::Tensor resample(const at::Tensor& self, at::IntArrayRef output_size,
                    const std::function<ResampleTaps(int64_t dim)>& taps, int32_t precision = 0);
// Its adjoint, one pass too: the input gradient (input_size [N, C, spatial...])
// of a resampling with those taps, from grad_output.
at::Tensor resample_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                             const std::function<ResampleTaps(int64_t dim)>& taps);

// out[r] = the sum of the src[i] (slices along dim 0) whose index[i] is r, for
// r < rows; out has src's shape but `rows` along dim 0. One accumulate_rows
// over whole slices: the vendor sorts only index's entries and sums each
// slice's elements in parallel (deterministic: position order).
at::Tensor sum_rows_by_index(const at::Tensor& src, int64_t rows, const at::Tensor& index);

// gems_tensor descriptor of a contiguous tensor seen as 2-D [rows, cols].
gems_tensor as_matrix(const at::Tensor& contiguous, int64_t rows, int64_t cols);

}  // namespace gems::ops
