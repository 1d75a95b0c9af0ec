#include "ops_common.h"

#include <ATen/Dispatch.h>
#include <ATen/EmptyTensor.h>
#include <ATen/ExpandUtils.h>

#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

namespace gems::ops {
namespace {

// The bytes of a CPU 0-dim tensor's value converted to `dtype`.
uint64_t scalar_bits(const at::Tensor& t, at::ScalarType dtype) {
  c10::Scalar value;
  AT_DISPATCH_ALL_TYPES_AND3(at::kHalf, at::kBFloat16, at::kBool, t.scalar_type(), "gems_scalar_read",
                             [&] { value = c10::Scalar(*t.const_data_ptr<scalar_t>()); });
  uint64_t bits = 0;
  AT_DISPATCH_ALL_TYPES_AND3(at::kHalf, at::kBFloat16, at::kBool, dtype, "gems_scalar_write", [&] {
    const scalar_t v = value.to<scalar_t>();
    std::memcpy(&bits, &v, sizeof(v));
  });
  return bits;
}

// A CPU scalar (x * 2.0, x + eps) as a 0-dim tensor of `dtype` on `device`
// (accelerator memory, or host memory for a host vendor). Copying it there
// makes the host wait for the copy on every call (about twice a kernel
// launch), so each distinct value is copied once and kept: such scalars are
// inputs only, never written. Bounded; past the bound, plain copies.
at::Tensor device_scalar(const at::Tensor& t, c10::Device device, at::ScalarType dtype) {
  constexpr size_t kMaxCached = 4096;
  if (!at::isFloatingType(dtype) && !at::isIntegralType(dtype, true)) return t.to(device, dtype);
  using Key = std::tuple<int, int, int, uint64_t>;
  const Key key{static_cast<int>(device.type()), device.index(), static_cast<int>(dtype), scalar_bits(t, dtype)};
  static std::mutex m;
  static auto* cache = new std::map<Key, at::Tensor>();  // leaked: no device frees at process exit
  {
    std::lock_guard<std::mutex> g(m);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
  }
  at::Tensor d = t.to(device, dtype);
  std::lock_guard<std::mutex> g(m);
  if (cache->size() < kMaxCached) cache->emplace(key, d);
  return d;
}

}  // namespace

c10::Device common_device(c10::ArrayRef<const at::Tensor*> tensors) {
  // The device of the first tensor that is not a CPU 0-dim scalar; gems
  // tensors normally, CPU or CUDA tensors in patch mode.
  std::optional<c10::Device> device;
  for (const at::Tensor* t : tensors) {
    if (!t->defined() || (t->device().is_cpu() && t->dim() == 0)) continue;
    if (!device) device = t->device();
    else TORCH_CHECK(*device == t->device(), "Expected all tensors to be on the same device, but found at least two devices, ",
                     *device, " and ", t->device(), "!");
  }
  if (device) return *device;
  for (const at::Tensor* t : tensors)
    if (t->defined()) return t->device();
  return c10::Device(kGems, current_device());
}

c10::Device one_device(c10::ArrayRef<const at::Tensor*> tensors) {
  const c10::Device device = common_device(tensors);
  for (const at::Tensor* t : tensors)
    TORCH_CHECK(!t->defined() || t->device() == device, "Expected all tensors to be on the same device, but found at "
                "least two devices, ", device, " and ", t->device(), "!");
  return device;
}

at::Tensor prepare(const at::Tensor& t, c10::Device device, at::ScalarType dtype) {
  if (t.device() == device && t.scalar_type() == dtype) return t;
  // A CPU scalar (x * 2.0) stays in host memory when the vendor's kernels
  // read host memory: no device allocation, no copy; converted to the
  // kernel's dtype once a value (x + 1e-6 wraps a double: its conversion by
  // t.to() was a torch CPU copy kernel a call, a fifth of a small op's time).
  if (t.device().is_cpu() && t.dim() == 0) {
    if (vendor().api.memory_kind == GEMS_MEMORY_HOST) return t.scalar_type() == dtype ? t : device_scalar(t, t.device(), dtype);
    if (!device.is_cpu()) return device_scalar(t, device, dtype);
  }
  return t.to(device, dtype);
}

at::Tensor wrap_scalar(const c10::Scalar& s) {
  at::Tensor t = c10::scalar_to_tensor(s);
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

// A fresh result: on gems devices straight from the allocator, as gems' own
// empty kernel makes it, without the trip through the dispatcher that
// at::empty takes (about a microsecond, as long as a small op's kernel on the
// cpu vendor); elsewhere (patch mode) at::empty.
at::Tensor empty_result(at::IntArrayRef shape, const at::TensorOptions& options) {
  if (options.device().type() != kGems) return at::empty(shape, options);
  c10::DeviceGuard guard(options.device());
  return at::detail::empty_generic(shape, allocator(), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                   c10::typeMetaToScalarType(options.dtype()), std::nullopt);
}

void prepare_output(at::Tensor& out, OutKind kind, at::IntArrayRef shape, at::ScalarType result,
                    const at::TensorOptions& options, const at::Tensor* layout) {
  switch (kind) {
    case OutKind::Fresh:
      // Like PyTorch, a result takes the memory layout of an input of its
      // shape (x.t() + 1 is transposed too), else it is contiguous.
      if (layout && !layout->is_contiguous() && layout->sizes().equals(shape) &&
          layout->is_non_overlapping_and_dense())
        out = at::empty_like(*layout, options.dtype(result));
      else
        out = empty_result(shape, options.dtype(result));
      return;
    case OutKind::InPlace:
      TORCH_CHECK(out.sizes().equals(shape), "output with shape ", out.sizes(),
                  " doesn't match the broadcast shape ", shape);
      break;
    case OutKind::Out:
      at::native::resize_output(out, shape);
      break;
  }
  TORCH_CHECK(c10::canCast(result, out.scalar_type()), "result type ", result,
              " can't be cast to the desired output type ", out.scalar_type());
  at::assert_no_internal_overlap(out);
}

at::Tensor& pointwise(const Kernel& k, at::Tensor& out, OutKind kind, at::ScalarType compute,
                      at::ScalarType result, std::initializer_list<Operand> operands,
                      std::initializer_list<gems_scalar> scalars) {
  k.require(compute);
  std::vector<const at::Tensor*> all;
  for (const Operand& o : operands) all.push_back(&o.tensor);
  if (kind != OutKind::Fresh) all.push_back(&out);
  const c10::Device device = common_device(all);
  // Operands on the device in the kernel's dtypes; shape by broadcasting.
  c10::SmallVector<at::Tensor, 4> inputs;
  at::DimVector shape;
  for (const Operand& o : operands) {
    inputs.push_back(prepare(o.tensor, device, o.dtype));
    shape = inputs.size() == 1 ? at::DimVector(inputs.back().sizes())
                               : at::infer_size_dimvector(shape, inputs.back().sizes());
    k.require(o.dtype, inputs.back().dim());
  }
  const at::Tensor* layout = nullptr;
  for (const at::Tensor& t : inputs)
    if (!layout && t.device() == device && t.sizes().equals(shape)) layout = &t;
  // An out= that is also an operand (x.logical_and_(y) runs logical_and(x, y, out=x)) is
  // never resized: like TensorIterator, its shape must be the broadcast shape.
  if (kind == OutKind::Out)
    for (const Operand& o : operands)
      if (o.tensor.is_same(out)) kind = OutKind::InPlace;
  prepare_output(out, kind, shape, result, inputs[0].options().device(device), layout);
  at::Tensor target = out.scalar_type() == result ? out : empty_result(shape, out.options().dtype(result));
  c10::SmallVector<gems_tensor, 4> desc;
  desc.push_back(describe(target));
  for (const at::Tensor& t : inputs) desc.push_back(describe_broadcast(t, shape));
  if (target.numel() > 0)
    k.launch(launch_index(device), desc.data(), static_cast<int32_t>(desc.size()), scalars);
  if (!target.is_same(out)) out.copy_(target);
  return out;
}

gems_tensor as_matrix(const at::Tensor& t, int64_t rows, int64_t cols) {
  gems_tensor d = describe(t);
  d.ndim = 2;
  d.sizes[0] = rows;
  d.sizes[1] = cols;
  d.strides[0] = cols;
  d.strides[1] = 1;
  return d;
}

}  // namespace gems::ops
