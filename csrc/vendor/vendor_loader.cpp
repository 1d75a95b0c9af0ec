#include "vendor_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace gems {
namespace {

const char* const kProbeOrder[] = {"nvidia", "amd", "intel", "cpu"};
const char* const kValidNames = "cpu, nvidia, amd, intel (aliases: cuda, hip, rocm, level_zero, ze)";

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// Loads and initialises a module; throws with the reason on any failure.
Vendor load_module(const std::string& name, const std::string& path, bool require_device) {
  if (!file_exists(path))
    throw std::runtime_error("flag_gems: the " + name + " vendor module was not found at " + path +
                             " (was flag_gems built with that vendor's toolchain?)");
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = ::dlerror();
    throw std::runtime_error("flag_gems: could not load the " + name + " vendor module " + path + ": " +
                             (err ? err : "unknown dlopen error"));
  }
  auto init = reinterpret_cast<gems_vendor_init_fn>(::dlsym(handle, GEMS_VENDOR_INIT_SYMBOL));
  if (!init)
    throw std::runtime_error("flag_gems: " + path + " is not a flag_gems vendor module (no " +
                             GEMS_VENDOR_INIT_SYMBOL + " symbol)");
  Vendor v;
  v.name = name;
  v.path = path;
  gems_host_api host{GEMS_VENDOR_ABI_VERSION, sizeof(gems_host_api),
                     static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()))};
  const int status = init(GEMS_VENDOR_ABI_VERSION, &host, &v.api);
  const std::string where = " (" + path + ")";
  // A module of another ABI answers GEMS_UNSUPPORTED with its own version filled in.
  const bool other_abi = v.api.abi_version != 0 && v.api.abi_version != GEMS_VENDOR_ABI_VERSION;
  if (status != GEMS_OK && !other_abi)
    throw std::runtime_error("flag_gems: the " + name + " vendor module failed to initialise (status " +
                             std::to_string(status) + ")" +
                             (v.api.last_error ? std::string(": ") + v.api.last_error() : std::string()) + where);
  if (v.api.abi_version != GEMS_VENDOR_ABI_VERSION)
    throw std::runtime_error("flag_gems: the " + name + " vendor module implements vendor ABI version " +
                             std::to_string(v.api.abi_version) + ", but this flag_gems core requires version " +
                             std::to_string(GEMS_VENDOR_ABI_VERSION) + where);
  if (v.api.struct_size < offsetof(gems_vendor_api, num_kernels) + sizeof(int32_t))
    throw std::runtime_error("flag_gems: the " + name + " vendor module's table is too small (" +
                             std::to_string(v.api.struct_size) + " bytes)" + where);
  // Appended fields a module built against an older header did not fill.
  if (v.api.struct_size < offsetof(gems_vendor_api, take_kernel_error) + sizeof(v.api.take_kernel_error))
    v.api.take_kernel_error = nullptr;
  if (!v.api.device_count || !v.api.last_error)
    throw std::runtime_error("flag_gems: the " + name + " vendor module's table lacks device_count or last_error" +
                             where);
  const int dc = v.api.device_count(&v.device_count);
  if (require_device && (dc != GEMS_OK || v.device_count <= 0))
    throw std::runtime_error("flag_gems: the " + name + " vendor module loaded but reports no usable device" +
                             (dc != GEMS_OK ? std::string(": ") + v.api.last_error() : std::string()) + where);
  // Every runtime entry is called without a check from here on: a table with a
  // hole would crash the process at its first use instead of failing here.
  const void* const runtime[] = {
      reinterpret_cast<const void*>(v.api.set_device), reinterpret_cast<const void*>(v.api.get_device),
      reinterpret_cast<const void*>(v.api.device_synchronize), reinterpret_cast<const void*>(v.api.malloc),
      reinterpret_cast<const void*>(v.api.free), reinterpret_cast<const void*>(v.api.host_malloc),
      reinterpret_cast<const void*>(v.api.host_free), reinterpret_cast<const void*>(v.api.memcpy),
      reinterpret_cast<const void*>(v.api.memcpy_async), reinterpret_cast<const void*>(v.api.stream_create),
      reinterpret_cast<const void*>(v.api.stream_destroy), reinterpret_cast<const void*>(v.api.stream_synchronize),
      reinterpret_cast<const void*>(v.api.stream_query), reinterpret_cast<const void*>(v.api.stream_wait_event),
      reinterpret_cast<const void*>(v.api.event_create), reinterpret_cast<const void*>(v.api.event_destroy),
      reinterpret_cast<const void*>(v.api.event_record), reinterpret_cast<const void*>(v.api.event_query),
      reinterpret_cast<const void*>(v.api.event_synchronize), reinterpret_cast<const void*>(v.api.event_elapsed_ms)};
  if (require_device)
    for (const void* fn : runtime)
      if (!fn)
        throw std::runtime_error("flag_gems: the " + name + " vendor module's runtime table has an empty entry" + where);
  return v;
}

Vendor choose_vendor() {
  const char* env = std::getenv("GEMS_VENDOR");
  if (env && *env) {
    const std::string name = canonical_vendor_name(env);
    return load_module(name, vendor_module_path(name), true);
  }
  std::string reasons;
  for (const char* name : kProbeOrder) {
    const std::string path = vendor_module_path(name);
    if (!file_exists(path)) continue;
    try {
      return load_module(name, path, true);
    } catch (const std::exception& e) {
      reasons += std::string("\n  ") + e.what();
    }
  }
  throw std::runtime_error("flag_gems: no vendor module could be used:" + reasons);
}

}  // namespace

std::string canonical_vendor_name(const std::string& requested) {
  std::string s = requested;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "cpu") return "cpu";
  if (s == "nvidia" || s == "cuda") return "nvidia";
  if (s == "amd" || s == "hip" || s == "rocm") return "amd";
  if (s == "intel" || s == "level_zero" || s == "ze") return "intel";
  throw std::invalid_argument("flag_gems: GEMS_VENDOR='" + requested + "' is not a vendor; valid names are " +
                              kValidNames);
}

std::string vendor_module_dir() {
  // GEMS_VENDOR_DIR: modules built elsewhere (a sanitized build, a test variant).
  if (const char* dir = std::getenv("GEMS_VENDOR_DIR"); dir && *dir) return dir;
  Dl_info info;
  if (::dladdr(reinterpret_cast<void*>(&vendor_module_dir), &info) && info.dli_fname) {
    std::string self = info.dli_fname;
    const auto slash = self.rfind('/');
    if (slash != std::string::npos) return self.substr(0, slash);
  }
  return ".";
}

std::string vendor_module_path(const std::string& canonical_name) {
  return vendor_module_dir() + "/libgems_vendor_" + canonical_name + ".so";
}

Vendor inspect_vendor_module(const std::string& path) {
  return load_module(path, path, false);
}

const Vendor& vendor() {
  // Selection happens once per process; a failure is remembered and repeated
  // so that every later use reports the same reason.
  static std::once_flag once;
  static Vendor chosen;
  static std::string error;
  std::call_once(once, [] {
    try {
      chosen = choose_vendor();
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw std::runtime_error(error);
  return chosen;
}

void vendor_check(int status, const char* what) {
  if (status == GEMS_OK) return;
  const Vendor& v = vendor();
  throw std::runtime_error(std::string(what) + " failed on the " + v.name + " vendor: " + v.api.last_error());
}

}  // namespace gems
