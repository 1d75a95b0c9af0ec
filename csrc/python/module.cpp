// flag_gems._C: the thin Python binding over the core. Python-facing policy
// (which ops an enable() call means, torch.gems) lives in python/flag_gems.
#include <torch/csrc/Generator.h>
#include <torch/csrc/utils/pybind.h>

#include "../device/device_checks.h"
#include "../device/gems_device.h"
#include "../dispatch/fallback.h"
#include "../dispatch/op_registry.h"
#include "../dispatch/op_table.h"

namespace py = pybind11;

namespace gems {
namespace {

py::dict memory_stats(c10::DeviceIndex device) {
  check_device_index(device);
  const auto st = allocator()->getDeviceStats(device);
  py::dict out;
  auto add = [&](const char* name, const c10::CachingAllocator::StatArray& arr) {
    const auto& s = arr[0];
    const std::string base = std::string(name) + ".all.";
    out[py::str(base + "current")] = s.current;
    out[py::str(base + "peak")] = s.peak;
    out[py::str(base + "allocated")] = s.allocated;
    out[py::str(base + "freed")] = s.freed;
  };
  add("allocation", st.allocation);
  add("segment", st.segment);
  add("active", st.active);
  add("allocated_bytes", st.allocated_bytes);
  add("reserved_bytes", st.reserved_bytes);
  add("active_bytes", st.active_bytes);
  add("requested_bytes", st.requested_bytes);
  out["num_alloc_retries"] = st.num_alloc_retries;
  out["num_ooms"] = st.num_ooms;
  out["num_device_alloc"] = st.num_device_alloc;
  out["num_device_free"] = st.num_device_free;
  return out;
}

py::object generator_object(const at::Generator& g) {
  return py::reinterpret_steal<py::object>(THPGenerator_initDefaultGenerator(g));
}

py::list kernel_list(const gems_vendor_api& a) {
  py::list out;
  for (int32_t i = 0; i < a.num_kernels; ++i) out.append(py::make_tuple(a.kernels[i].name, a.kernels[i].dtype_mask));
  return out;
}

}  // namespace
}  // namespace gems

namespace gems {
void bind_distributed(pybind11::module& m);  // ../distributed/gems_backend.cpp
}

PYBIND11_MODULE(_C, m) {
  gems::bind_distributed(m);
  using namespace gems;
  m.doc() = "flag_gems core: the gems device and its vendor modules";

  // Chooses the vendor (raising its reason when none can be used), installs
  // the hooks and switches every gems kernel on.
  m.def("_init", [] {
    vendor();
    register_hooks();
    set_enabled_ops(all_overloads(), {});
  });
  m.def("vendor_name", [] { return vendor().name; });
  m.def("vendor_path", [] { return vendor().path; });
  m.def("vendor_memory_is_host", [] { return vendor().api.memory_kind == GEMS_MEMORY_HOST; });
  m.def("canonical_vendor_name", &canonical_vendor_name);
  m.def("device_count", [] { return static_cast<int>(device_count()); });
  m.def("current_device", [] { return static_cast<int>(current_device()); });
  m.def("set_device", [](int d) { set_device(static_cast<c10::DeviceIndex>(d)); });
  m.def("synchronize", [](int d) {
    const c10::DeviceIndex dev = d < 0 ? current_device() : static_cast<c10::DeviceIndex>(d);
    check_device_index(dev);
    check(api().device_synchronize(dev), "device_synchronize");
    run_device_checks();
  });
  m.def("_set_defer_device_checks", &set_defer_device_checks);
  m.def("device_name", [](int d) {
    check_device_index(static_cast<c10::DeviceIndex>(d));
    char buf[256] = {0};
    check(api().device_name(d, buf, sizeof(buf)), "device_name");
    return std::string(buf);
  });

  // memory
  m.def("memory_stats", [](int d) { return memory_stats(static_cast<c10::DeviceIndex>(d)); });
  m.def("empty_cache", [] { allocator()->emptyCache(); });
  m.def("reset_peak_memory_stats", [](int d) { allocator()->resetPeakStats(static_cast<c10::DeviceIndex>(d)); });
  m.def("reset_accumulated_memory_stats",
        [](int d) { allocator()->resetAccumulatedStats(static_cast<c10::DeviceIndex>(d)); });

  // random
  m.def("default_generator", [](int d) { return generator_object(default_generator(static_cast<c10::DeviceIndex>(d))); });

  // ops, fallback, patch mode and the op log
  m.def("all_overloads", &all_overloads);
  m.def("set_enabled_ops", &set_enabled_ops);
  m.def("enabled_ops", &enabled_ops);
  m.def("native_key", [] { return std::string(c10::toString(native_key())); });
  m.def("op_table", [] {
    py::list out;
    for (const OpEntry& e : op_table()) out.append(py::make_tuple(e.overload, e.kernels));
    return out;
  });
  m.def("vendor_kernels", [] { return kernel_list(api()); });
  m.def("inspect_vendor_module", [](const std::string& path) {
    Vendor v = inspect_vendor_module(path);
    return py::make_tuple(v.api.name ? v.api.name : "", v.api.abi_version, kernel_list(v.api));
  });
  m.def("vendor_module_path", &vendor_module_path);
  m.def("fallback_counts", &fallback_counts);
  m.def("reset_fallback_counts", &reset_fallback_counts);
  m.def("native_counts", &native_counts);
  m.def("reset_native_counts", &reset_native_counts);
  m.def("set_strict", &set_strict);
  m.def("strict", &strict);
  m.def("set_record", &set_record);
  m.attr("ABI_VERSION") = GEMS_VENDOR_ABI_VERSION;
}
