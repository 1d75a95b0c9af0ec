// How a gems op wrapper becomes a registered kernel.
//
// Every wrapper is registered through Served<Op, Fn>::call, which (1) sets the
// device guard from the first tensor argument (and, in patch mode, torch's
// current stream of that device for the launches), (2) counts the call and writes
// the op log line when recording is on, and (3) sends the call to the fallback
// when the wrapper throws NotServed (no vendor kernel for that dtype/rank).
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/native/CPUFallback.h>
#include <c10/core/DeviceGuard.h>
#include <torch/library.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "fallback.h"
#include "kernel_launch.h"

namespace gems {

// Per-op call counters and the op log (op_table.cpp).
std::atomic<uint64_t>* native_counter(const char* name, const char* overload);
bool recording();
void record_call(const char* name);

// The device a call runs on: the first tensor argument's.
inline std::optional<c10::Device> first_device() { return std::nullopt; }
template <typename T, typename... Rest>
std::optional<c10::Device> first_device(const T& first, const Rest&... rest) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, at::Tensor>) {
    if (first.defined()) return first.device();
  } else if constexpr (std::is_same_v<D, at::TensorList> || std::is_same_v<D, at::ITensorListRef>) {
    for (const at::Tensor& t : first)
      if (t.defined()) return t.device();
  }
  return first_device(rest...);
}

// Whether any argument is complex (a tensor, a tensor in a list, or a scalar):
// no vendor kernel serves complex numbers, and a wrapper's type logic written
// for real dtypes would take a complex division for a float one, so such calls
// go to the fallback before any wrapper sees them.
inline bool is_complex_arg(const at::Tensor& t) { return t.defined() && t.is_complex(); }
inline bool is_complex_arg(const std::optional<at::Tensor>& t) { return t && is_complex_arg(*t); }
inline bool is_complex_arg(const c10::Scalar& s) { return s.isComplex(); }
inline bool is_complex_arg(const std::optional<c10::Scalar>& s) { return s && s->isComplex(); }
template <typename List>
bool any_complex_element(const List& list) {
  for (const auto& t : list)
    if (is_complex_arg(t)) return true;
  return false;
}
inline bool is_complex_arg(at::TensorList list) { return any_complex_element(list); }
inline bool is_complex_arg(const at::ITensorListRef& list) { return any_complex_element(list); }
inline bool is_complex_arg(const c10::List<std::optional<at::Tensor>>& list) { return any_complex_element(list); }
template <typename T>
bool is_complex_arg(const T&) { return false; }
template <typename... Args>
bool any_complex(const Args&... args) { return (is_complex_arg(args) || ...); }

template <typename Op, typename FnType, FnType* Fn>
struct ServedImpl;

template <typename Op, typename R, typename... Args, R (*Fn)(Args...)>
struct ServedImpl<Op, R(Args...), Fn> {
  static R call(Args... args) {
    static std::atomic<uint64_t>* counter = native_counter(Op::name, Op::overload_name);
    const std::optional<c10::Device> device = first_device(args...);
    c10::OptionalDeviceGuard guard(device);
    NativeStreamScope stream(device);
    try {
      if (any_complex(args...)) throw NotServed("complex");
      R result = Fn(args...);
      counter->fetch_add(1, std::memory_order_relaxed);
      if (recording()) record_call(Op::name);
      return result;
    } catch (const NotServed&) {
      // Wrappers taking the schema's SymInts as they are use the SymInt call.
      if constexpr (std::is_same_v<R(Args...), typename Op::schema>)
        return at::native::call_fallback_fn_symint<&fallback, Op>::call(args...);
      else
        return at::native::call_fallback_fn<&fallback, Op>::call(args...);
    }
  }
};

// Served<ATEN_OP2(add, Tensor), &ops::add_tensor>::call is the kernel.
template <typename Op, auto Fn>
using Served = ServedImpl<Op, std::remove_pointer_t<decltype(Fn)>, Fn>;

// One row of the op table: an aten overload and how to register its kernel.
struct OpEntry {
  const char* overload;   // "add.Tensor"
  const char* kernels;    // the vendor kernels it needs, comma separated
  void (*register_on)(torch::Library& lib);
  // Also registered on the autograd key: for CompositeImplicitAutograd ops
  // whose wrapper decides itself when PyTorch's composition must run.
  bool autograd_key = false;
  // Also registered on the vendor's native device in patch mode (enable()).
  // Off where torch's own kernel there is a library gems' does not beat
  // (convolutions: cuDNN and oneDNN against im2col and GEMM).
  bool patches_native = true;
};

const std::vector<OpEntry>& op_table();

}  // namespace gems

// Declares a table row registering `fn` for aten overload NAME.OVERLOAD.
#define GEMS_OP(NAME, OVERLOAD, FN, KERNELS)                                                          \
  gems::OpEntry {                                                                                      \
    #NAME "." #OVERLOAD, KERNELS, [](torch::Library& lib) {                                          \
      lib.impl(#NAME "." #OVERLOAD, TORCH_FN((gems::Served<ATEN_OP2(NAME, OVERLOAD), &FN>::call)));   \
    }                                                                                                  \
  }
#define GEMS_OP0(NAME, FN, KERNELS)                                                                    \
  gems::OpEntry {                                                                                      \
    #NAME, KERNELS, [](torch::Library& lib) {                                                          \
      lib.impl(#NAME, TORCH_FN((gems::Served<ATEN_OP(NAME), &FN>::call)));                             \
    }                                                                                                  \
  }
