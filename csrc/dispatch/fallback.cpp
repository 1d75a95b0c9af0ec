// Three ways an op without a gems kernel still runs:
//  - gems tensors whose memory a native PyTorch backend can read (host memory
//    on the cpu vendor; CUDA memory on nvidia when torch has CUDA): that
//    backend's kernel runs in place on the same memory, through native tensors
//    that alias it (zero-copy);
//  - gems tensors on other memory (an opaque vendor's; CUDA memory whose CUDA
//    kernel refused the call): CPU's kernel on host copies, one per gems
//    storage, written ones copied back (HostCopies);
//  - CPU/CUDA tensors in patch mode: the native kernel that gems replaced.
#include "fallback.h"

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "../device/gems_device.h"

namespace gems {
namespace {

std::atomic<bool> g_strict{[] {
  const char* env = std::getenv("GEMS_STRICT");
  return env && *env && std::string(env) != "0";
}()};

std::mutex g_mutex;
std::map<std::string, uint64_t>& counts() {
  static std::map<std::string, uint64_t> m;
  return m;
}
std::unordered_map<std::string, c10::SafeKernelFunction>& native_kernels() {
  static std::unordered_map<std::string, c10::SafeKernelFunction> m;
  return m;
}

std::string op_name(const c10::OperatorHandle& op) {
  const auto& n = op.schema().operator_name();
  std::string name = n.name.rfind("aten::", 0) == 0 ? n.name.substr(6) : n.name;
  return n.overload_name.empty() ? name : name + "." + n.overload_name;
}

// ---- zero-copy: native tensors over gems memory ----

}  // namespace

std::optional<c10::DeviceType> native_device_type() {
  switch (vendor().api.memory_kind) {
    case GEMS_MEMORY_HOST: return c10::DeviceType::CPU;
    case GEMS_MEMORY_CUDA:
      if (at::globalContext().hasCUDA()) return c10::DeviceType::CUDA;
      return std::nullopt;
    default: return std::nullopt;
  }
}

namespace {

c10::Device native_device(c10::DeviceType type, const c10::Device& gems_device) {
  return type == c10::DeviceType::CPU ? c10::Device(type) : c10::Device(type, gems_device.index());
}

// A native tensor viewing exactly the memory of gems tensor t. Its storage
// holds a reference to t's storage, and is resizable (into fresh native
// memory) so that out= ops may resize; such results are copied back after.
// `over` is the native storage of another gems tensor of the same storage, if
// any: views of one gems storage share one native storage, so that PyTorch's
// overlap checks (an out= that overlaps an input) see what they would on CPU.
at::Tensor native_alias(const at::Tensor& t, c10::DeviceType type, const c10::Storage* over = nullptr) {
  const c10::Device dev = native_device(type, t.device());
  c10::Storage cs;
  if (over) {
    cs = *over;
  } else {
    c10::Storage gs = t.storage();
    auto* keep = new c10::Storage(gs);
    c10::DataPtr ptr(gs.mutable_data(), keep, [](void* ctx) { delete static_cast<c10::Storage*>(ctx); }, dev);
    cs = c10::Storage(c10::Storage::use_byte_size_t(), gs.nbytes(), std::move(ptr), c10::GetAllocator(type), true);
  }
  at::Tensor alias = at::empty({0}, t.options().device(dev));
  alias.set_(cs, t.storage_offset(), t.sizes(), t.strides());
  alias.set_requires_grad(false);
  keep_math_bits(t, alias);
  return alias;
}

}  // namespace

at::Tensor native_view(const at::Tensor& t, c10::DeviceType type) { return native_alias(t, type); }

namespace {

struct Alias {
  at::Tensor gems;
  at::Tensor host;
  const void* data;  // the host alias's data pointer before the call
  int64_t base = 0;  // byte of gems' storage that byte 0 of host's storage copies (0: the same memory)
  bool written = false;  // an argument the op writes (schema: Tensor(a!))
};

// Where the memory of a gems tensor cannot be read by a native backend
// (device memory of an opaque vendor; CUDA memory where CUDA's kernel refused),
// the native kernel runs on host copies: one per gems storage, covering the
// bytes the call's tensors of that storage reach, so that views of one storage
// stay views of one host storage (an out= that is an input is never resized;
// overlap checks see what they would on CPU). Written copies go back after.
struct HostCopies {
  struct Span {
    int64_t lo, hi;
    c10::Storage host;
  };
  std::map<const c10::StorageImpl*, Span> spans;

  static std::pair<int64_t, int64_t> bytes_of(const at::Tensor& t) {
    const int64_t item = static_cast<int64_t>(t.itemsize());
    int64_t lo = t.storage_offset() * item, hi = lo + item;
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (t.size(d) == 0) return {lo, lo};
      const int64_t reach = (t.size(d) - 1) * t.stride(d) * item;
      (reach < 0 ? lo : hi) += reach;
    }
    return {lo, hi};
  }
  void note(const at::Tensor& t) {
    if (!t.defined() || t.device().type() != kGems || !t.has_storage()) return;
    auto [lo, hi] = bytes_of(t);
    lo = lo / 16 * 16;  // every element size divides 16: views of other dtypes stay aligned
    auto it = spans.find(t.storage().unsafeGetStorageImpl());
    if (it == spans.end()) {
      spans.emplace(t.storage().unsafeGetStorageImpl(), Span{lo, hi, c10::Storage()});
    } else {
      it->second.lo = std::min(it->second.lo, lo);
      it->second.hi = std::max(it->second.hi, hi);
    }
  }
  static at::Tensor bytes_view(const c10::Storage& s, int64_t lo, int64_t hi, c10::Device device) {
    at::Tensor b = at::empty({0}, at::TensorOptions().dtype(at::kByte).device(device));
    b.set_(s, lo, {hi - lo}, {1});
    return b;
  }
  // The host tensor of gems tensor t (its span copied at the first of its storage).
  at::Tensor host_of(const at::Tensor& t, int64_t* base) {
    Span& sp = spans.at(t.storage().unsafeGetStorageImpl());
    if (!sp.host) {
      const int64_t hi = std::max(sp.hi, sp.lo);
      at::Tensor copy = at::empty({hi - sp.lo}, at::TensorOptions().dtype(at::kByte));
      if (hi > sp.lo) copy.copy_(bytes_view(t.storage(), sp.lo, hi, t.device()));
      sp.host = copy.storage();
    }
    *base = sp.lo;
    at::Tensor h = at::empty({0}, t.options().device(c10::kCPU));
    h.set_(sp.host, t.storage_offset() - sp.lo / static_cast<int64_t>(t.itemsize()), t.sizes(), t.strides());
    h.set_requires_grad(false);
    keep_math_bits(t, h);
    return h;
  }
  // Written spans back into gems memory.
  void write_back(const std::vector<Alias>& aliases) {
    std::set<const c10::StorageImpl*> done;
    for (const Alias& a : aliases) {
      if (!a.written || a.host.data_ptr() != a.data) continue;  // resized ones go back whole, after
      const auto* impl = a.gems.storage().unsafeGetStorageImpl();
      if (!done.insert(impl).second) continue;
      const Span& sp = spans.at(impl);
      if (sp.hi <= sp.lo) continue;
      at::Tensor host = at::empty({0}, at::TensorOptions().dtype(at::kByte));
      host.set_(sp.host, 0, {sp.hi - sp.lo}, {1});
      bytes_view(a.gems.storage(), sp.lo, sp.hi, a.gems.device()).copy_(host);
    }
  }
};

c10::IValue to_native(const c10::IValue& v, c10::DeviceType type, std::vector<Alias>& aliases,
                      std::optional<c10::Device>& device, HostCopies* copies, bool written) {
  auto map_tensor = [&](const at::Tensor& t) -> at::Tensor {
    if (!t.defined() || t.device().type() != kGems) return t;
    if (!device) device = t.device();
    // One alias per gems tensor: an out= that is also an input (x.logical_and_(y) is
    // logical_and(x, y, out=x)) must be the same tensor to the native kernel;
    // and one native storage per gems storage.
    const c10::Storage* over = nullptr;
    for (Alias& a : aliases) {
      if (a.gems.is_same(t)) {
        a.written |= written;
        return a.host;
      }
      if (!over && a.gems.storage().is_alias_of(t.storage())) over = &a.host.storage();
    }
    int64_t base = 0;
    at::Tensor h = copies ? copies->host_of(t, &base) : native_alias(t, type, over);
    aliases.push_back({t, h, h.data_ptr(), base, written});
    return h;
  };
  if (v.isTensor()) return map_tensor(v.toTensor());
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorList()) out.push_back(map_tensor(t));
    return out;
  }
  if (v.isOptionalTensorList()) {
    c10::List<std::optional<at::Tensor>> out;
    for (const std::optional<at::Tensor>& t : v.toOptionalTensorList())
      out.push_back(t ? std::optional<at::Tensor>(map_tensor(*t)) : std::nullopt);
    return out;
  }
  if (v.isDevice() && v.toDevice().type() == kGems) {
    if (!device) device = v.toDevice();
    return native_device(type, v.toDevice().has_index() ? v.toDevice() : c10::Device(kGems, current_device()));
  }
  if (v.isGenerator() && v.toGenerator().device().type() == kGems) return c10::IValue();
  return v;
}

// A result: the gems tensor it aliases, a gems view of one (of another dtype
// too: view_as_real's float view of complex memory), or a fresh copy.
at::Tensor to_gems(const at::Tensor& r, c10::DeviceType type, const std::vector<Alias>& aliases, c10::Device device) {
  if (!r.defined() || r.device().type() != type) return r;
  for (const Alias& a : aliases)
    if (r.is_same(a.host)) return a.gems;
  for (const Alias& a : aliases) {
    if (!r.is_alias_of(a.host) || r.data_ptr() == nullptr) continue;
    const auto* base = static_cast<const char*>(a.host.storage().data());
    const auto bytes = static_cast<int64_t>(static_cast<const char*>(r.data_ptr()) - base) + a.base;
    const auto item = static_cast<int64_t>(r.itemsize());
    if (bytes % item != 0) continue;
    at::Tensor view;
    if (r.dtype() == a.gems.dtype()) {
      view = a.gems.as_strided(r.sizes(), r.strides(), bytes / item);
    } else {
      view = at::empty({0}, a.gems.options().dtype(r.dtype()));
      view.set_(a.gems.storage(), bytes / item, r.sizes(), r.strides());
    }
    keep_math_bits(r, view);
    return view;
  }
  return r.to(device);
}

// Runs op's native kernel for `type` on native tensors over the gems
// tensors' memory (zero-copy), or with host_copies on host copies of it.
void native_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack, c10::DeviceType type, bool host_copies) {
  const auto& schema = op.schema();
  const size_t num_args = schema.arguments().size();
  std::vector<Alias> aliases;
  std::optional<c10::Device> device;
  const size_t first_arg = stack->size() - num_args;
  HostCopies copies;
  if (host_copies) {
    for (size_t i = 0; i < num_args; ++i) {
      const c10::IValue& v = (*stack)[first_arg + i];
      if (v.isTensor()) copies.note(v.toTensor());
      if (v.isTensorList())
        for (const at::Tensor& t : v.toTensorList()) copies.note(t);
      if (v.isOptionalTensorList())
        for (const std::optional<at::Tensor>& t : v.toOptionalTensorList())
          if (t) copies.note(*t);
    }
  }
  for (size_t i = 0; i < num_args; ++i) {
    const auto* alias_info = schema.arguments()[i].alias_info();
    (*stack)[first_arg + i] = to_native((*stack)[first_arg + i], type, aliases, device, host_copies ? &copies : nullptr,
                                        alias_info && alias_info->isWrite());
  }
  const c10::DispatchKey key = type == c10::DeviceType::CPU ? c10::DispatchKey::CPU : c10::DispatchKey::CUDA;
  op.redispatchBoxed(c10::DispatchKeySet(key), stack);
  if (host_copies) copies.write_back(aliases);
  // Written arguments that the op resized into fresh native memory go back.
  for (const Alias& a : aliases) {
    keep_math_bits(a.host, a.gems);  // a kernel may leave a lazy conjugation on its out= (lu_solve's adjoint)
    if (a.host.data_ptr() == a.data && a.host.sizes().equals(a.gems.sizes()) &&
        a.host.strides().equals(a.gems.strides()))
      continue;
    // Room for the result's layout first: a column-major result with a padded
    // leading dim (lstsq's solution) spans more than its numel.
    const size_t span = at::detail::computeStorageNbytes(a.host.sizes(), a.host.strides(), a.host.itemsize(),
                                                         a.gems.storage_offset());
    if (span > a.gems.storage().nbytes())
      a.gems.resize_({static_cast<int64_t>((span + a.gems.itemsize() - 1) / a.gems.itemsize()) -
                      a.gems.storage_offset()});
    a.gems.resize_(a.host.sizes());
    if (!a.host.strides().equals(a.gems.strides()))
      a.gems.as_strided_(a.host.sizes(), a.host.strides());
    a.gems.copy_(a.host);
  }
  const c10::Device target = device.value_or(c10::Device(kGems, current_device()));
  const size_t num_returns = schema.returns().size();
  const size_t first_ret = stack->size() - num_returns;
  for (size_t i = 0; i < num_returns; ++i) {
    c10::IValue& v = (*stack)[first_ret + i];
    if (v.isTensor()) {
      v = to_gems(v.toTensor(), type, aliases, target);
    } else if (v.isTensorList()) {
      c10::List<at::Tensor> out;
      for (const at::Tensor& t : v.toTensorList()) out.push_back(to_gems(t, type, aliases, target));
      v = out;
    }
  }
}

bool has_gems_tensor(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  auto args = torch::jit::last(stack, op.schema().arguments().size());
  for (const c10::IValue& v : args) {
    if (v.isTensor() && v.toTensor().defined() && v.toTensor().device().type() == kGems) return true;
    if (v.isTensorList())
      for (const at::Tensor& t : v.toTensorList())
        if (t.defined() && t.device().type() == kGems) return true;
    if (v.isOptionalTensorList())
      for (const std::optional<at::Tensor>& t : v.toOptionalTensorList())
        if (t && t->defined() && t->device().type() == kGems) return true;
    if (v.isDevice() && v.toDevice().type() == kGems) return true;
  }
  return false;
}

}  // namespace

void keep_math_bits(const at::Tensor& from, const at::Tensor& to) {
  to._set_conj(from.is_conj());
  to._set_neg(from.is_neg());
}

void set_strict(bool on) { g_strict = on; }
bool strict() { return g_strict; }

std::map<std::string, uint64_t> fallback_counts() {
  std::lock_guard<std::mutex> g(g_mutex);
  return counts();
}
void reset_fallback_counts() {
  std::lock_guard<std::mutex> g(g_mutex);
  counts().clear();
}

void remember_native_kernel(const c10::OperatorHandle& op, c10::DispatchKey key) {
  std::lock_guard<std::mutex> g(g_mutex);
  const std::string name = op_name(op) + "@" + c10::toString(key);
  if (native_kernels().count(name)) return;
  if (!op.hasKernelForDispatchKey(key) && !op.hasComputedKernelForDispatchKey(key)) return;
  native_kernels().emplace(name, op.getComputedKernelForDispatchKey(key));
}

void fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const std::string name = op_name(op);
  if (!has_gems_tensor(op, stack)) {
    // Patch mode on the vendor's native device: hand back to the kernel gems
    // replaced for that device.
    auto args = torch::jit::last(stack, op.schema().arguments().size());
    c10::DispatchKey key = c10::DispatchKey::CPU;
    for (const c10::IValue& v : args)
      if (v.isTensor() && v.toTensor().defined()) { key = c10::computeDispatchKey(std::nullopt, std::nullopt, v.toTensor().device()); break; }
    const c10::SafeKernelFunction* native = nullptr;
    {
      std::lock_guard<std::mutex> g(g_mutex);
      auto it = native_kernels().find(name + "@" + c10::toString(key));
      if (it != native_kernels().end()) native = &it->second;
    }
    TORCH_CHECK(native, "flag_gems: no native kernel recorded for ", name, " on ", key);
    native->callBoxed(op, c10::DispatchKeySet(key), stack);
    return;
  }
  {
    std::lock_guard<std::mutex> g(g_mutex);
    ++counts()[name];
  }
  TORCH_CHECK_NOT_IMPLEMENTED(!strict(), "flag_gems strict mode: '", name, "' has no gems kernel on the ",
                              vendor().name, " vendor and would run through the fallback (GEMS_STRICT=1)");
  if (const auto type = native_device_type(); type == c10::DeviceType::CPU) {
    native_fallback(op, stack, *type, false);
  } else if (type) {
    // What CPU runs, gems runs: CUDA's kernels lack dtypes and options that
    // CPU's serve (integer matmul, half igamma, lstsq's drivers...). Where the
    // native kernel refuses, the call goes through the host; its error, if
    // any, is then CPU's. Tensors in the saved stack are shared, not copied.
    const size_t base = stack->size() - op.schema().arguments().size();
    const torch::jit::Stack saved(stack->begin() + base, stack->end());
    try {
      native_fallback(op, stack, *type, false);
    } catch (const c10::OutOfMemoryError&) {
      throw;  // the host path would need the same device memory for its results
    } catch (const c10::Error&) {
      stack->resize(base);
      stack->insert(stack->end(), saved.begin(), saved.end());
      native_fallback(op, stack, c10::DeviceType::CPU, true);
    }
  } else {
    native_fallback(op, stack, c10::DeviceType::CPU, true);
  }
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) { m.fallback(torch::CppFunction::makeFromBoxedFunction<&fallback>()); }

// Ops whose default kernel (CompositeExplicitAutograd) serves PrivateUse1 by
// calling something that throws for every out-of-tree device: the convolutions
// pick the "overrideable" backend (convolution_overrideable: "not
// implemented"); conj_physical_ calls a CPU/CUDA-only DispatchStub ("missing
// kernel for gems"). The boxed fallback never sees them unless they are sent to
// it by name. Found by the OpInfo sweep (tests/sweep); every such op is listed
// here. (convolution and convolution_backward have gems kernels in the op
// table; while those are switched off, the calls arrive here as _convolution
// or as the overrideable ops.)
const char* const kOpsDefaultKernelsRefuse[] = {"_convolution", "conj_physical_"};

// The overrideable convolutions have no native kernel anywhere: they run as
// the general op they stand for, whose CPU and CUDA kernels pick a library.
// convolution_overrideable has convolution's arguments; the backward one lacks
// bias_sizes, which only says whether a bias gradient is wanted.
void convolution_overrideable_fallback(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  static const auto general = c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution", "");
  fallback(general, stack);
}
void convolution_backward_overrideable_fallback(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  static const auto general = c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution_backward", "");
  // (grad_output, input, weight, [bias_sizes], stride, padding, dilation, transposed, output_padding, groups, mask)
  const size_t base = stack->size() - 10;
  const at::Tensor weight = (*stack)[base + 2].toTensor();
  const bool transposed = (*stack)[base + 6].toBool();
  const int64_t groups = (*stack)[base + 8].toInt();
  const int64_t out_channels = transposed ? weight.size(1) * groups : weight.size(0);
  stack->insert(stack->begin() + static_cast<std::ptrdiff_t>(base + 3), c10::IValue(std::vector<int64_t>{out_channels}));
  fallback(general, stack);
}
TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  for (const char* op : kOpsDefaultKernelsRefuse) m.impl(op, torch::CppFunction::makeFromBoxedFunction<&fallback>());
  m.impl("convolution_overrideable", torch::CppFunction::makeFromBoxedFunction<&convolution_overrideable_fallback>());
  m.impl("convolution_backward_overrideable",
         torch::CppFunction::makeFromBoxedFunction<&convolution_backward_overrideable_fallback>());
}

}  // namespace gems
