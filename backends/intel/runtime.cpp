// The runtime shared by both back ends: the calling thread's error and
// device, and the choice between Level Zero and OpenCL.
#include "runtime.h"

#include <cstdlib>
#include <memory>
#include <mutex>

namespace gems::intel {
namespace {
thread_local std::string t_last_error;
thread_local int32_t t_device = 0;
}  // namespace

int set_error(int status, const std::string& message) {
  t_last_error = message;
  return status;
}
const char* last_error() { return t_last_error.c_str(); }

int32_t current_device() { return t_device; }
void set_current_device(int32_t device) { t_device = device; }

// Level Zero where a driver answers (Intel's GPUs), else OpenCL; the
// environment's GEMS_INTEL_RUNTIME=level_zero|opencl decides when set.
Runtime& runtime() {
  static Runtime* chosen = [] {
    const char* want = std::getenv("GEMS_INTEL_RUNTIME");
    const std::string w = want ? want : "";
    if (w == "opencl") return make_opencl_runtime();
    Runtime* ze = make_level_zero_runtime();
    if (w == "level_zero" || w == "ze") return ze ? ze : make_opencl_runtime();  // refused in device_count
    int32_t n = 0;
    if (ze && ze->device_count(&n) == GEMS_OK && n > 0) return ze;
    delete ze;
    return make_opencl_runtime();
  }();
  return *chosen;
}

}  // namespace gems::intel
