#include "kernel_launch.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/Exception.h>

#include <cstring>

namespace gems {

int32_t dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kBool: return GEMS_BOOL;
    case at::kByte: return GEMS_UINT8;
    case at::kChar: return GEMS_INT8;
    case at::kShort: return GEMS_INT16;
    case at::kInt: return GEMS_INT32;
    case at::kLong: return GEMS_INT64;
    case at::kHalf: return GEMS_FLOAT16;
    case at::kBFloat16: return GEMS_BFLOAT16;
    case at::kFloat: return GEMS_FLOAT32;
    case at::kDouble: return GEMS_FLOAT64;
    default: return -1;
  }
}

gems_tensor describe(const at::Tensor& t) {
  gems_tensor d;
  d.data = t.storage().mutable_data();
  d.offset = t.storage_offset();
  d.dtype = dtype_code(t.scalar_type());
  d.ndim = static_cast<int32_t>(t.dim());
  TORCH_INTERNAL_ASSERT(d.ndim <= GEMS_MAX_DIMS && d.dtype >= 0);
  const auto sizes = t.sizes();
  const auto strides = t.strides();
  for (int i = 0; i < d.ndim; ++i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = strides[i];
  }
  return d;
}

gems_tensor describe_broadcast(const at::Tensor& t, at::IntArrayRef shape) {
  gems_tensor d = describe(t);
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t lead = nd - t.dim();
  d.ndim = static_cast<int32_t>(nd);
  for (int64_t i = nd - 1; i >= 0; --i) {
    const int64_t src = i - lead;
    const bool broadcast = src < 0 || t.size(src) != shape[i];
    d.sizes[i] = shape[i];
    d.strides[i] = broadcast ? 0 : t.stride(src);
  }
  return d;
}

gems_tensor absent() {
  gems_tensor d;
  std::memset(&d, 0, sizeof(d));
  return d;
}

gems_scalar scalar_arg(const c10::Scalar& s) {
  if (s.isFloatingPoint()) return scalar_arg(s.toDouble());
  if (s.isBoolean()) return int_arg(s.toBool() ? 1 : 0);
  if (s.isIntegral(false)) return int_arg(s.toLong());
  TORCH_CHECK(false, "gems: complex scalars are not supported by vendor kernels");
}
gems_scalar scalar_arg(double f) { return gems_scalar{f, static_cast<int64_t>(f)}; }
gems_scalar int_arg(int64_t i) { return gems_scalar{static_cast<double>(i), i}; }

NotServed::NotServed(const char* kernel_name)
    : c10::NotImplementedError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                               std::string("gems: the ") + vendor().name + " vendor has no '" + kernel_name +
                                   "' kernel for these operands (dtype or rank)"),
      kernel(kernel_name) {}

Kernel::Kernel(const char* name) : name_(name) {
  const gems_vendor_api& a = api();
  for (int32_t i = 0; i < a.num_kernels; ++i) {
    if (std::strcmp(a.kernels[i].name, name) == 0) {
      fn_ = a.kernels[i].fn;
      mask_ = a.kernels[i].dtype_mask;
      break;
    }
  }
}

bool Kernel::serves(at::ScalarType t) const {
  const int32_t code = dtype_code(t);
  return fn_ && code >= 0 && (mask_ & GEMS_DTYPE_BIT(code));
}

void Kernel::require(at::ScalarType t, int64_t ndim) const {
  if (!serves(t) || ndim > GEMS_MAX_DIMS) throw NotServed(name_);
}

namespace {
// The native stream of the patch-mode call in progress on this thread, if any.
thread_local void* native_stream = nullptr;
}  // namespace

NativeStreamScope::NativeStreamScope(std::optional<c10::Device> device) : previous_(native_stream) {
  if (device && device->type() != c10::DeviceType::PrivateUse1 && device->type() != c10::DeviceType::CPU)
    native_stream = c10::impl::getDeviceGuardImpl(device->type())->getStream(*device).native_handle();
}
NativeStreamScope::~NativeStreamScope() { native_stream = previous_; }

namespace {
int call_kernel(const char* name, gems_kernel_fn fn, c10::DeviceIndex device, const gems_tensor* tensors,
                int32_t num_tensors, c10::ArrayRef<gems_scalar> scalars) {
  TORCH_INTERNAL_ASSERT(fn, "gems kernel '", name, "' launched but the vendor has none");
  gems_kernel_call call{tensors, num_tensors, scalars.data(), static_cast<int32_t>(scalars.size()),
                        native_stream ? native_stream : vendor_current_stream(device), device};
  return fn(&call);
}

// Raises the error a failed kernel reported: bad input as PyTorch raises it
// (IndexError for indices when asked), anything else as a vendor failure.
[[noreturn]] void raise_failure(const char* name, int status, bool index_error) {
  const char* msg = api().last_error();
  if (status == GEMS_INVALID_ARGUMENT && index_error) TORCH_CHECK_INDEX(false, msg);
  TORCH_CHECK(status != GEMS_INVALID_ARGUMENT, msg);
  TORCH_CHECK(false, "gems kernel '", name, "' failed on the ", vendor().name, " vendor: ", msg);
}
}  // namespace

void Kernel::launch(c10::DeviceIndex device, const gems_tensor* tensors, int32_t num_tensors,
                    c10::ArrayRef<gems_scalar> scalars, bool index_error) const {
  const int status = call_kernel(name_, fn_, device, tensors, num_tensors, scalars);
  if (status != GEMS_OK) raise_failure(name_, status, index_error);
}

bool Kernel::try_launch(c10::DeviceIndex device, const gems_tensor* tensors, int32_t num_tensors,
                        c10::ArrayRef<gems_scalar> scalars) const {
  const int status = call_kernel(name_, fn_, device, tensors, num_tensors, scalars);
  if (status == GEMS_UNSUPPORTED) return false;
  if (status != GEMS_OK) raise_failure(name_, status, false);
  return true;
}

}  // namespace gems
