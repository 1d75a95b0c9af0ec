// The runtime shared by both back ends: the calling thread's error and
// device, and the choice between Level Zero and OpenCL.
#include "runtime.h"

#include "kernels/layout.h"

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

int RuntimeBase::init() {
  std::call_once(once_, [this] {
    init_status_ = discover();
    init_error_ = last_error();
  });
  return init_status_ == GEMS_OK ? GEMS_OK : set_error(init_status_, init_error_);
}

int RuntimeBase::check(int32_t d) {
  if (int s = init()) return s;
  if (d < 0 || d >= num_devices())
    return set_error(GEMS_INVALID_ARGUMENT, "intel device " + std::to_string(d) + " does not exist (" +
                                                std::to_string(num_devices()) + " devices)");
  return GEMS_OK;
}

int RuntimeBase::device_count(int32_t* count) {
  *count = 0;
  if (int s = init()) return s;
  *count = num_devices();
  return GEMS_OK;
}

int RuntimeBase::finish_all() {
  for (int32_t d = 0; d < num_devices(); ++d)
    if (int s = device_synchronize(d)) return s;
  return GEMS_OK;
}

int RuntimeBase::error_record(int32_t d, void** record) {
  if (int s = check(d)) return s;
  std::lock_guard<std::mutex> g(records_mu_);
  error_records_.resize(static_cast<size_t>(num_devices()), nullptr);
  if (!error_records_[d]) {
    void* p = nullptr;
    if (int s = malloc(d, sizeof(gi_error_record), &p)) return s;
    if (int s = memset(p, 0, sizeof(gi_error_record), nullptr)) return s;
    error_records_[d] = p;
  }
  *record = error_records_[d];
  return GEMS_OK;
}

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
