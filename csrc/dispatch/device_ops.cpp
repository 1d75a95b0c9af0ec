// The ops that make gems a device at all: allocation, views, resizing,
// copies across devices and reading a scalar back. They are always
// registered; the togglable compute ops live in op_table.cpp.
#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <ATen/native/Resize.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_native.h>
#include <torch/library.h>

#include "../device/device_checks.h"
#include "fallback.h"
#include "kernel_launch.h"
#include "ops_common.h"

namespace gems {
namespace {

c10::DeviceIndex index_of(std::optional<c10::Device> device) {
  if (!device || !device->has_index()) return current_device();
  check_device_index(device->index());
  return device->index();
}

at::Tensor empty_memory_format(at::IntArrayRef size, std::optional<at::ScalarType> dtype,
                               std::optional<at::Layout> layout, std::optional<at::Device> device,
                               std::optional<bool> pin_memory, std::optional<at::MemoryFormat> memory_format) {
  const c10::DeviceIndex index = index_of(device);
  c10::DeviceGuard guard(c10::Device(kGems, index));
  constexpr c10::DispatchKeySet ks(c10::DispatchKey::PrivateUse1);
  return at::detail::empty_generic(size, allocator(), ks, c10::dtype_or_default(dtype), memory_format);
}

at::Tensor empty_strided(at::IntArrayRef size, at::IntArrayRef stride, std::optional<at::ScalarType> dtype,
                         std::optional<at::Layout> layout, std::optional<at::Device> device,
                         std::optional<bool> pin_memory) {
  const c10::DeviceIndex index = index_of(device);
  c10::DeviceGuard guard(c10::Device(kGems, index));
  constexpr c10::DispatchKeySet ks(c10::DispatchKey::PrivateUse1);
  return at::detail::empty_strided_generic(size, stride, allocator(), ks, c10::dtype_or_default(dtype));
}

// Grows the storage when needed (keeping its bytes), then restrides.
const at::Tensor& resize_(const at::Tensor& self, at::IntArrayRef size,
                          std::optional<at::MemoryFormat> memory_format) {
  for (int64_t s : size) TORCH_CHECK(s >= 0, "Trying to create tensor with negative dimension ", s, ": ", size);
  c10::DeviceGuard guard(self.device());
  auto* impl = self.unsafeGetTensorImpl();
  impl->set_sizes_contiguous(size);
  const size_t needed = (self.numel() == 0 ? 0 : (self.numel() + self.storage_offset())) * self.itemsize();
  c10::StorageImpl* storage = impl->storage().unsafeGetStorageImpl();
  if (needed > storage->nbytes()) {
    TORCH_CHECK(storage->resizable(), "Trying to resize storage that is not resizable");
    c10::DataPtr fresh = allocator()->allocate(needed);
    if (storage->nbytes())
      check(api().memcpy(fresh.get(), storage->data(), storage->nbytes(), GEMS_MEMCPY_DEVICE_TO_DEVICE), "memcpy");
    storage->set_data_ptr_noswap(std::move(fresh));
    storage->set_nbytes(needed);
  }
  if (memory_format) impl->empty_tensor_restride(*memory_format);
  return self;
}

at::Tensor& set_storage(at::Tensor& self, c10::Storage source, int64_t offset, at::IntArrayRef size,
                        at::IntArrayRef stride) {
  at::native::checkSetStorage(self, source, offset, size, stride);
  self.unsafeGetTensorImpl()->set_storage_offset(offset);
  at::native::setStrided(self, size, stride, offset);
  return self;
}
at::Tensor& set_source_storage(at::Tensor& self, c10::Storage source) {
  const int64_t n = static_cast<int64_t>(source.nbytes() / self.dtype().itemsize());
  return set_storage(self, std::move(source), 0, {n}, {1});
}
at::Tensor& set_source_tensor(at::Tensor& self, const at::Tensor& source) {
  return set_storage(self, source.storage(), source.storage_offset(), source.sizes(), source.strides());
}
at::Tensor& set_empty(at::Tensor& self) {
  c10::Storage storage(c10::Storage::use_byte_size_t(), 0, allocator(), true);
  return set_storage(self, std::move(storage), 0, {0}, {1});
}

// A tensor is "dense" when its elements fill [offset, offset + numel) in
// row-major order, so it can cross devices with one memcpy.
bool dense(const at::Tensor& t) { return t.is_contiguous(); }

// One memcpy to or from a gems device, queued on that device's current stream
// (after the kernels there, which may be a user's stream: a plain memcpy runs
// on the default stream, which a created stream does not wait for, so it could
// read a result before it was written); then the host waits for it unless
// `wait` is false, which PyTorch allows for non-blocking copies from or into
// pinned memory.
void stream_copy(void* dst, const void* src, size_t bytes, gems_memcpy_kind kind, c10::DeviceIndex device, bool wait) {
  void* stream = vendor_current_stream(device);
  check(api().memcpy_async(dst, src, bytes, kind, stream), "memcpy");
  if (wait) {
    check(api().stream_synchronize(stream), "stream_synchronize");
    if (kind == GEMS_MEMCPY_DEVICE_TO_HOST) run_device_checks();  // the host waited: queued checks are judged
  }
}

// A CPU tensor over `bytes` (a host image of t's whole storage) with t's
// dtype, offset, sizes, strides and conjugate/negative bits.
at::Tensor image_over(const at::Tensor& bytes, const at::Tensor& t) {
  at::Tensor image = at::empty({0}, bytes.options().dtype(t.scalar_type()));
  image.set_(bytes.storage(), t.storage_offset(), t.sizes(), t.strides());
  keep_math_bits(t, image);
  return image;
}

// A CPU tensor over an image of gems tensor t's whole storage: the memory
// itself on a host-memory vendor, else a host copy of it. CPU tensors are
// their own image.
at::Tensor host_image(const at::Tensor& t) {
  if (t.device().type() != kGems) return t;
  const c10::Storage& storage = t.storage();
  const auto nbytes = static_cast<int64_t>(storage.nbytes());
  if (api().memory_kind == GEMS_MEMORY_HOST) return image_over(at::from_blob(storage.mutable_data(), {nbytes}, at::kByte), t);
  at::Tensor bytes = at::empty({nbytes}, at::kByte);
  if (nbytes)
    stream_copy(bytes.data_ptr(), storage.data(), storage.nbytes(), GEMS_MEMCPY_DEVICE_TO_HOST, t.device().index(),
                /*wait=*/true);
  return image_over(bytes, t);
}

const Kernel& copy_kernel() {
  static const Kernel copy("copy");
  return copy;
}

// Copies the vendor's copy kernel does not serve: dtypes it lacks (complex,
// float64 or bool on some vendors), more dims than the ABI carries, and
// conjugate or negative views (lazy bits that PyTorch resolves in its own
// copy kernels only; a gems copy of them used to recurse until the stack
// overflowed). PyTorch's CPU copy works between host images of both sides, and
// the destination's image goes back (nothing to do on host memory).
bool copy_kernel_serves(const at::Tensor& src, const at::Tensor& dst) {
  return copy_kernel().serves(dst.scalar_type()) && copy_kernel().serves(src.scalar_type()) &&
         std::max(src.dim(), dst.dim()) <= GEMS_MAX_DIMS && !src.is_conj() && !src.is_neg() && !dst.is_conj() &&
         !dst.is_neg();
}
void copy_through_host(const at::Tensor& src, const at::Tensor& dst) {
  const bool shared = src.device() == dst.device() && src.storage().is_alias_of(dst.storage());
  const at::Tensor dst_image = host_image(dst);
  // Views of one storage share one image, so the copy sees their overlap.
  dst_image.copy_(shared ? image_over(dst_image, src) : host_image(src));
  const size_t nbytes = dst.storage().nbytes();
  if (dst.device().type() == kGems && api().memory_kind != GEMS_MEMORY_HOST && nbytes)
    stream_copy(dst.storage().mutable_data(), dst_image.storage().data(), nbytes, GEMS_MEMCPY_HOST_TO_DEVICE,
                dst.device().index(), /*wait=*/true);
}

at::Tensor copy_from(const at::Tensor& src, const at::Tensor& dst, bool non_blocking) {
  if (dst.numel() == 0) return dst;
  const bool src_gems = src.device().type() == kGems, dst_gems = dst.device().type() == kGems;
  // Between gems and another backend's device (CUDA beside the nvidia
  // vendor, tensor.to("cuda")): through a host tensor, which both backends copy.
  if ((!src_gems && !src.device().is_cpu()) || (!dst_gems && !dst.device().is_cpu()))
    return dst.copy_(src.cpu(), non_blocking);
  if (!copy_kernel_serves(src, dst) && (src.device() == dst.device() || !src_gems || !dst_gems)) {
    c10::DeviceGuard guard(src_gems ? src.device() : dst.device());
    copy_through_host(src.expand(dst.sizes()), dst);
    return dst;
  }
  if (src_gems && dst_gems && src.device() == dst.device()) {
    // Same device: the copy kernel handles dtype, strides and broadcasting.
    c10::DeviceGuard guard(dst.device());
    gems_tensor d[2] = {describe(dst), describe_broadcast(src, dst.sizes())};
    copy_kernel().launch(dst.device().index(), d, 2);
    return dst;
  }
  if (src_gems && dst_gems) {
    // Across gems devices: stage a dense copy on the source device, memcpy it
    // to a dense buffer on the destination, then lay it out there.
    at::Tensor staged = src.expand(dst.sizes()).contiguous();
    at::Tensor landed = at::empty(dst.sizes(), dst.options().dtype(src.scalar_type()));
    {
      c10::DeviceGuard guard(src.device());
      stream_copy(landed.data_ptr(), staged.data_ptr(), staged.nbytes(), GEMS_MEMCPY_DEVICE_TO_DEVICE,
                  src.device().index(), /*wait=*/true);
    }
    return dst.copy_(landed);
  }
  if (dst_gems) {
    // Host to gems: densify and cast on the host, one memcpy, then restride.
    at::Tensor host = src.to(dst.scalar_type()).expand(dst.sizes()).contiguous();
    at::Tensor landed = dense(dst) ? dst : at::empty(dst.sizes(), dst.options());
    c10::DeviceGuard guard(dst.device());
    // (a pageable source is staged by the vendor before the call returns, so it may go at once)
    stream_copy(landed.data_ptr(), host.data_ptr(), host.nbytes(), GEMS_MEMCPY_HOST_TO_DEVICE, dst.device().index(),
                /*wait=*/!non_blocking);
    if (!landed.is_same(dst)) dst.copy_(landed);
    return dst;
  }
  // gems to host: densify on the device, one memcpy, then cast on the host.
  TORCH_CHECK(dst.device().is_cpu(), "gems: copy from ", src.device(), " to ", dst.device(), " is not supported");
  at::Tensor staged = src.expand(dst.sizes()).contiguous();
  c10::DeviceGuard guard(src.device());
  if (dense(dst) && dst.scalar_type() == src.scalar_type()) {
    stream_copy(dst.data_ptr(), staged.data_ptr(), staged.nbytes(), GEMS_MEMCPY_DEVICE_TO_HOST, src.device().index(),
                /*wait=*/!(non_blocking && is_pinned_host_memory(dst.data_ptr())));
    return dst;
  }
  at::Tensor host = at::empty(dst.sizes(), dst.options().dtype(src.scalar_type()));
  stream_copy(host.data_ptr(), staged.data_ptr(), staged.nbytes(), GEMS_MEMCPY_DEVICE_TO_HOST, src.device().index(),
              /*wait=*/true);
  dst.copy_(host);
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  at::native::resize_output(dst, self.sizes());
  return copy_from(self, dst, false);
}

c10::Scalar local_scalar_dense(const at::Tensor& self) {
  TORCH_CHECK(self.numel() > 0, "cannot get item of an empty tensor");
  return at::_local_scalar_dense(self.cpu());
}

// The block stays unused until the work queued on `stream` so far is done
// (PyTorch has no CPU kernel for it: the fallback raised NotImplementedError).
void record_stream(at::Tensor& self, c10::Stream stream) {
  TORCH_CHECK(stream.device_type() == kGems, "record_stream: expected a gems stream, got one of ", stream.device());
  TORCH_CHECK(stream.device() == self.device(), "record_stream: the stream is on ", stream.device(),
              " but the tensor on ", self.device());
  allocator()->recordStream(self.storage().data_ptr(), stream);
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("record_stream", TORCH_FN(record_stream));
  m.impl("empty.memory_format", TORCH_FN(empty_memory_format));
  m.impl("empty_strided", TORCH_FN(empty_strided));
  m.impl("as_strided", TORCH_FN(at::native::as_strided_tensorimpl));
  m.impl("view", TORCH_FN(at::native::view));
  m.impl("_reshape_alias", TORCH_FN(at::native::_reshape_alias));
  // A view (sliding windows: HF's no_repeat_ngram_size): PyTorch registers it per device, not for PrivateUse1.
  m.impl("unfold", TORCH_FN(at::native::unfold));
  m.impl("resize_", TORCH_FN(resize_));
  m.impl("set_.source_Storage_storage_offset", TORCH_FN(set_storage));
  m.impl("set_.source_Storage", TORCH_FN(set_source_storage));
  m.impl("set_.source_Tensor", TORCH_FN(set_source_tensor));
  m.impl("set_", TORCH_FN(set_empty));
  m.impl("_copy_from", TORCH_FN(copy_from));
  m.impl("_copy_from_and_resize", TORCH_FN(copy_from_and_resize));
  m.impl("_local_scalar_dense", TORCH_FN(local_scalar_dense));
}

// Copies of conjugate or negative views reach copy_from with their bits set:
// PyTorch's math-bit fallback would first materialise the view with clone(),
// which copies through _copy_from again, without end.
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}
TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

}  // namespace
}  // namespace gems
