// The cpu vendor's device runtime: "devices" are partitions of host memory, so
// multi-device code paths (guards, gems:1, cross-device copies) run anywhere.
// Kernels execute synchronously on the calling thread (plus the thread pool),
// which makes every stream trivially complete and events plain timestamps.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "runtime.h"

namespace gems::cpu {
namespace {

thread_local std::string t_last_error;
thread_local int32_t t_current_device = 0;

std::mutex g_alloc_mutex;
std::unordered_map<const void*, int32_t>& allocations() {
  static std::unordered_map<const void*, int32_t> m;
  return m;
}

struct Stream { int32_t device; };
struct Event {
  int32_t device;
  bool timing;
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};

int fail(int status, std::string msg) {
  t_last_error = std::move(msg);
  return status;
}

int check_device(int32_t device) {
  if (device < 0 || device >= configured_device_count())
    return fail(GEMS_INVALID_ARGUMENT, "invalid device index " + std::to_string(device) +
                                           " (the cpu vendor has " +
                                           std::to_string(configured_device_count()) + " devices)");
  return GEMS_OK;
}

}  // namespace

int32_t configured_device_count() {
  static const int32_t n = [] {
    const char* env = std::getenv("GEMS_CPU_DEVICES");
    if (!env || !*env) return 1;
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    return (end && *end == '\0' && v >= 1 && v <= 64) ? static_cast<int32_t>(v) : -1;
  }();
  return n;
}

int set_error(int status, const char* msg) { return fail(status, msg); }

namespace rt {

int device_count(int32_t* count) {
  if (configured_device_count() < 0)
    return fail(GEMS_INVALID_ARGUMENT, "GEMS_CPU_DEVICES must be an integer from 1 to 64");
  *count = configured_device_count();
  return GEMS_OK;
}
int set_device(int32_t device) {
  if (int s = check_device(device)) return s;
  t_current_device = device;
  return GEMS_OK;
}
int get_device(int32_t* device) { *device = t_current_device; return GEMS_OK; }
int device_synchronize(int32_t device) { return check_device(device); }
int device_name(int32_t device, char* buf, size_t len) {
  if (int s = check_device(device)) return s;
  std::snprintf(buf, len, "gems cpu device %d (host memory)", device);
  return GEMS_OK;
}

int malloc(int32_t device, size_t bytes, void** ptr) {
  if (int s = check_device(device)) return s;
  // 64-byte alignment: full cache lines and any vector width.
  const size_t rounded = ((bytes ? bytes : 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) return fail(GEMS_OUT_OF_MEMORY, "out of host memory allocating " + std::to_string(bytes) + " bytes");
  std::lock_guard<std::mutex> g(g_alloc_mutex);
  allocations()[p] = device;
  *ptr = p;
  return GEMS_OK;
}
int free(int32_t, void* ptr) {
  if (!ptr) return GEMS_OK;
  {
    std::lock_guard<std::mutex> g(g_alloc_mutex);
    if (allocations().erase(ptr) == 0) return fail(GEMS_INVALID_ARGUMENT, "free of a pointer the cpu vendor did not allocate");
  }
  std::free(ptr);
  return GEMS_OK;
}
int host_malloc(size_t bytes, void** ptr) {
  *ptr = std::aligned_alloc(64, ((bytes ? bytes : 1) + 63) / 64 * 64);
  return *ptr ? GEMS_OK : fail(GEMS_OUT_OF_MEMORY, "out of host memory");
}
int host_free(void* ptr) { std::free(ptr); return GEMS_OK; }
int memcpy(void* dst, const void* src, size_t bytes, int32_t) {
  if (bytes) std::memmove(dst, src, bytes);
  return GEMS_OK;
}
int memcpy_async(void* dst, const void* src, size_t bytes, int32_t kind, void*) {
  return memcpy(dst, src, bytes, kind);
}
int memset(void* dst, int32_t value, size_t bytes, void*) {
  if (bytes) std::memset(dst, value, bytes);
  return GEMS_OK;
}
int pointer_device(const void* ptr, int32_t* device) {
  std::lock_guard<std::mutex> g(g_alloc_mutex);
  auto it = allocations().find(ptr);
  *device = it == allocations().end() ? -1 : it->second;
  return GEMS_OK;
}

int stream_create(int32_t device, int32_t, void** stream) {
  if (int s = check_device(device)) return s;
  *stream = new Stream{device};
  return GEMS_OK;
}
int stream_destroy(void* stream) { delete static_cast<Stream*>(stream); return GEMS_OK; }
int stream_synchronize(void*) { return GEMS_OK; }
int stream_query(void*, int32_t* done) { *done = 1; return GEMS_OK; }
int stream_wait_event(void*, void*) { return GEMS_OK; }

int event_create(int32_t device, int32_t enable_timing, void** event) {
  if (int s = check_device(device)) return s;
  *event = new Event{device, enable_timing != 0, false, {}};
  return GEMS_OK;
}
int event_destroy(void* event) { delete static_cast<Event*>(event); return GEMS_OK; }
int event_record(void* event, void*) {
  auto* e = static_cast<Event*>(event);
  e->recorded = true;
  e->when = std::chrono::steady_clock::now();
  return GEMS_OK;
}
int event_query(void*, int32_t* done) { *done = 1; return GEMS_OK; }
int event_synchronize(void*) { return GEMS_OK; }
int event_elapsed_ms(void* start, void* end, float* ms) {
  auto* a = static_cast<Event*>(start);
  auto* b = static_cast<Event*>(end);
  if (!a->timing || !b->timing)
    return fail(GEMS_INVALID_ARGUMENT, "Both events must be created with argument 'enable_timing=True'.");
  if (!a->recorded || !b->recorded)
    return fail(GEMS_INVALID_ARGUMENT, "Both events must be recorded before calculating elapsed time.");
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return GEMS_OK;
}

const char* last_error() { return t_last_error.c_str(); }

}  // namespace rt
}  // namespace gems::cpu
