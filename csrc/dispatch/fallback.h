// The boxed fallback: runs ops that have no gems kernel (or whose gems kernel
// is switched off) with PyTorch's own kernels, counted per op.
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <map>
#include <optional>
#include <string>

namespace gems {

void fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);

// A tensor standing for another on the other side of a copy or an alias takes
// its lazy conjugate/negative bits (x.conj(), x.mH), or a kernel would read the
// values un-conjugated.
void keep_math_bits(const at::Tensor& from, const at::Tensor& to);

// The native device that can read gems memory in place (CPU on the cpu
// vendor; CUDA on nvidia when torch has CUDA), if any, and a native tensor
// over exactly the memory of gems tensor t (zero-copy; it keeps t's storage
// alive). Used by the fallback and by the distributed backend.
std::optional<c10::DeviceType> native_device_type();
at::Tensor native_view(const at::Tensor& t, c10::DeviceType type);

// GEMS_STRICT=1 (or set_strict(true)) turns every fallback into an error.
void set_strict(bool on);
bool strict();

std::map<std::string, uint64_t> fallback_counts();
void reset_fallback_counts();

// Patch mode: the native kernel an op had on `key` before gems replaced it.
void remember_native_kernel(const c10::OperatorHandle& op, c10::DispatchKey key);

}  // namespace gems
