// From aten tensors to vendor kernel calls: descriptors, dtype codes, the
// "not served" signal that sends an op to the fallback, and the launch itself.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <initializer_list>
#include <optional>

#include "../device/gems_device.h"

namespace gems {

// Thrown by an op wrapper before it has done any work when the vendor has no
// kernel for the op, dtype or rank; the wrapper template (op_registry.h)
// catches it and runs the op through the fallback instead. It is a
// NotImplementedError so that one thrown where no wrapper catches it can only
// ever reach Python as an exception naming the kernel, never std::terminate
// (an exception type outside std::exception is not translated by PyTorch's
// bindings: `.cdouble()` once aborted the process that way).
struct NotServed : c10::NotImplementedError {
  explicit NotServed(const char* kernel_name);
  const char* kernel;
};

// gems_dtype code for a scalar type, or -1 (complex, quantized, ...).
int32_t dtype_code(at::ScalarType t);

// A descriptor of t as it is.
gems_tensor describe(const at::Tensor& t);
// A descriptor of t broadcast to `shape` (stride 0 on broadcast dims).
gems_tensor describe_broadcast(const at::Tensor& t, at::IntArrayRef shape);
// A descriptor for an absent optional operand (data NULL).
gems_tensor absent();

gems_scalar scalar_arg(const c10::Scalar& s);
gems_scalar scalar_arg(double f);
gems_scalar int_arg(int64_t i);

// Patch mode: while a call on tensors of the vendor's native device type (CUDA
// on nvidia) is in progress, kernels launch on torch's current stream of that
// device, so they are ordered with the work torch queues there (a user's
// torch.cuda.Stream included). Calls on gems tensors keep the gems current
// stream; the cpu vendor's native device (CPU) has no streams to follow.
class NativeStreamScope {
 public:
  explicit NativeStreamScope(std::optional<c10::Device> device);
  ~NativeStreamScope();
  NativeStreamScope(const NativeStreamScope&) = delete;
  NativeStreamScope& operator=(const NativeStreamScope&) = delete;

 private:
  void* previous_;
};

// One vendor kernel, resolved by name on first use.
class Kernel {
 public:
  explicit Kernel(const char* name);
  const char* name() const { return name_; }
  bool serves(at::ScalarType t) const;
  // Throws NotServed unless the vendor serves the dtype (and rank <= max).
  void require(at::ScalarType t, int64_t ndim = 0) const;
  // Launches on the current stream of `device`; raises on failure. Kernels
  // that report GEMS_INVALID_ARGUMENT raise IndexError when index_error is set.
  void launch(c10::DeviceIndex device, const gems_tensor* tensors, int32_t num_tensors,
              c10::ArrayRef<gems_scalar> scalars = {}, bool index_error = false) const;
  // As launch, but returns false, having done nothing, when the vendor
  // answers GEMS_UNSUPPORTED (a shape or layout it does not serve), so that
  // the caller can compose the result another way.
  bool try_launch(c10::DeviceIndex device, const gems_tensor* tensors, int32_t num_tensors,
                  c10::ArrayRef<gems_scalar> scalars = {}) const;

 private:
  const char* name_;
  gems_kernel_fn fn_ = nullptr;
  uint32_t mask_ = 0;
};

}  // namespace gems
