// The intel vendor's runtime over Level Zero, Intel's GPU driver interface:
// device USM, immediate command lists as streams (a barrier after each command
// keeps a stream's commands in order), events from host-visible timestamp
// pools, modules created from the same SPIR-V as OpenCL's. libze_loader.so.1
// is opened at run time. Built and linked in CI; with no driver, zeInit's
// refusal is what device_count reports (tests/python/test_vendor_intel.py).
// It has not run on an Intel GPU.
#include "runtime.h"

#if defined(GEMS_INTEL_HAVE_LEVEL_ZERO)
#include <dlfcn.h>
#include <level_zero/ze_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/layout.h"

namespace gems::intel {
namespace {

struct LevelZero {
#define GI_ZE(fn) decltype(&::fn) fn = nullptr;
  GI_ZE(zeInit) GI_ZE(zeDriverGet) GI_ZE(zeDeviceGet) GI_ZE(zeDeviceGetProperties)
  GI_ZE(zeDeviceGetCommandQueueGroupProperties) GI_ZE(zeContextCreate) GI_ZE(zeMemAllocDevice) GI_ZE(zeMemAllocHost)
  GI_ZE(zeMemFree) GI_ZE(zeMemGetAllocProperties) GI_ZE(zeCommandListCreateImmediate) GI_ZE(zeCommandListDestroy)
  GI_ZE(zeCommandListAppendMemoryCopy) GI_ZE(zeCommandListAppendMemoryFill) GI_ZE(zeCommandListAppendBarrier)
  GI_ZE(zeCommandListAppendLaunchKernel) GI_ZE(zeCommandListAppendWaitOnEvents) GI_ZE(zeEventPoolCreate)
  GI_ZE(zeEventCreate) GI_ZE(zeEventDestroy) GI_ZE(zeEventHostSynchronize) GI_ZE(zeEventHostReset)
  GI_ZE(zeEventQueryStatus) GI_ZE(zeEventQueryKernelTimestamp) GI_ZE(zeModuleCreate) GI_ZE(zeModuleBuildLogGetString)
  GI_ZE(zeModuleBuildLogDestroy) GI_ZE(zeKernelCreate) GI_ZE(zeKernelSetArgumentValue) GI_ZE(zeKernelSetGroupSize)
  GI_ZE(zeKernelSuggestGroupSize)
#undef GI_ZE
};

const char* ze_name(ze_result_t r) {
  switch (r) {
    case ZE_RESULT_ERROR_UNINITIALIZED: return "ZE_RESULT_ERROR_UNINITIALIZED";
    case ZE_RESULT_ERROR_DEVICE_LOST: return "ZE_RESULT_ERROR_DEVICE_LOST";
    case ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY: return "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY";
    case ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY: return "ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY";
    case ZE_RESULT_ERROR_MODULE_BUILD_FAILURE: return "ZE_RESULT_ERROR_MODULE_BUILD_FAILURE";
    case ZE_RESULT_ERROR_INVALID_ARGUMENT: return "ZE_RESULT_ERROR_INVALID_ARGUMENT";
    case ZE_RESULT_ERROR_INVALID_KERNEL_NAME: return "ZE_RESULT_ERROR_INVALID_KERNEL_NAME";
    case ZE_RESULT_ERROR_UNSUPPORTED_FEATURE: return "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE";
    case ZE_RESULT_NOT_READY: return "ZE_RESULT_NOT_READY";
    default: return "Level Zero error";
  }
}

int ze_status(ze_result_t r, const std::string& what) {
  if (r == ZE_RESULT_SUCCESS) return GEMS_OK;
  const int status = (r == ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY || r == ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY)
                         ? GEMS_OUT_OF_MEMORY
                         : r == ZE_RESULT_ERROR_UNINITIALIZED ? GEMS_NO_DEVICE : GEMS_ERROR;
  char code[16];
  std::snprintf(code, sizeof(code), "0x%x", static_cast<unsigned>(r));
  return set_error(status, what + ": " + ze_name(r) + " (" + code + ")");
}

struct Stream {
  ze_command_list_handle_t list;
  int32_t device;
  ze_event_handle_t done;  // signalled by the barrier stream_synchronize appends
};
struct Event {
  ze_event_handle_t ev;
  int32_t device;
  bool timing;
  bool recorded;
};

class LevelZeroRuntime final : public RuntimeBase {
 public:
  const char* name() const override { return "level_zero"; }

  int device_name(int32_t d, char* buf, size_t len) override {
    if (int s = check(d)) return s;
    ze_device_properties_t p{};
    p.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
    ze_.zeDeviceGetProperties(devices_[d], &p);
    std::snprintf(buf, len, "%s (Level Zero)", p.name);
    return GEMS_OK;
  }
  int malloc(int32_t d, size_t bytes, void** ptr) override {
    if (int s = check(d)) return s;
    ze_device_mem_alloc_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC;
    return ze_status(ze_.zeMemAllocDevice(context_, &desc, bytes ? bytes : 1, 256, devices_[d], ptr), "zeMemAllocDevice");
  }
  int free(void* ptr) override {
    if (!ptr) return GEMS_OK;
    if (int s = init()) return s;
    // zeMemFree does not wait for the device: the memory's users finish first.
    if (int s = finish_all()) return s;
    return ze_status(ze_.zeMemFree(context_, ptr), "zeMemFree");
  }
  int host_malloc(size_t bytes, void** ptr) override {
    if (int s = init()) return s;
    ze_host_mem_alloc_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC;
    return ze_status(ze_.zeMemAllocHost(context_, &desc, bytes ? bytes : 1, 64, ptr), "zeMemAllocHost");
  }
  int host_free(void* ptr) override { return free(ptr); }

  int memcpy(void* dst, const void* src, size_t bytes, void* stream, bool blocking) override {
    if (!bytes) return GEMS_OK;
    if (!stream && blocking)  // follows every stream, as cudaMemcpy follows CUDA's blocking streams
      if (int s = finish_all()) return s;
    Stream* s = nullptr;
    if (int e = stream_of(stream, &s)) return e;
    // Pageable host memory may be reused once the call returns: such copies complete first.
    if (!blocking && (!is_usm(dst) || !is_usm(src))) blocking = true;
    if (int e = ze_status(ze_.zeCommandListAppendMemoryCopy(s->list, dst, src, bytes, nullptr, 0, nullptr),
                          "zeCommandListAppendMemoryCopy"))
      return e;
    if (int e = ordered(s)) return e;
    return blocking ? synchronize(s) : GEMS_OK;
  }
  int memset(void* dst, int value, size_t bytes, void* stream) override {
    if (!bytes) return GEMS_OK;
    Stream* s = nullptr;
    if (int e = stream_of(stream, &s)) return e;
    const unsigned char pattern = static_cast<unsigned char>(value);
    if (int e = ze_status(ze_.zeCommandListAppendMemoryFill(s->list, dst, &pattern, 1, bytes, nullptr, 0, nullptr),
                          "zeCommandListAppendMemoryFill"))
      return e;
    return ordered(s);
  }
  int pointer_device(const void* ptr, int32_t* device) override {
    *device = -1;
    if (int s = init()) return s;
    ze_memory_allocation_properties_t p{};
    p.stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES;
    ze_device_handle_t dev = nullptr;
    if (ze_.zeMemGetAllocProperties(context_, ptr, &p, &dev) != ZE_RESULT_SUCCESS || p.type != ZE_MEMORY_TYPE_DEVICE)
      return GEMS_OK;
    for (size_t i = 0; i < devices_.size(); ++i)
      if (devices_[i] == dev) *device = static_cast<int32_t>(i);
    return GEMS_OK;
  }

  // Every stream of a device shares its one immediate command list (a barrier
  // after each command keeps it in order): work on any stream follows all work
  // before it, as CUDA's legacy default stream gives PyTorch code. Streams do
  // not overlap each other's work here.
  int stream_create(int32_t d, void** stream) override {
    if (int s = check(d)) return s;
    *stream = new Stream{defaults_[d]->list, d, defaults_[d]->done};
    return GEMS_OK;
  }
  int stream_destroy(void* stream) override {
    if (!stream) return GEMS_OK;
    auto* s = static_cast<Stream*>(stream);
    const int e = synchronize(s);
    delete s;
    return e;
  }
  int stream_synchronize(void* stream) override {
    Stream* s = nullptr;
    if (int e = stream_of(stream, &s)) return e;
    return synchronize(s);
  }
  int stream_query(void* stream, int32_t* done) override {
    // An immediate list has no "idle" query: a marker event answers for it.
    Stream* s = nullptr;
    if (int e = stream_of(stream, &s)) return e;
    ze_.zeEventHostReset(s->done);
    if (int e = ze_status(ze_.zeCommandListAppendBarrier(s->list, s->done, 0, nullptr), "zeCommandListAppendBarrier"))
      return e;
    const ze_result_t r = ze_.zeEventQueryStatus(s->done);
    *done = r == ZE_RESULT_SUCCESS;
    return r == ZE_RESULT_SUCCESS || r == ZE_RESULT_NOT_READY ? GEMS_OK : ze_status(r, "zeEventQueryStatus");
  }
  int stream_wait_event(void* stream, void* event) override {
    Stream* s = nullptr;
    if (int e = stream_of(stream, &s)) return e;
    auto* ev = static_cast<Event*>(event);
    if (!ev || !ev->recorded) return GEMS_OK;
    return ze_status(ze_.zeCommandListAppendWaitOnEvents(s->list, 1, &ev->ev), "zeCommandListAppendWaitOnEvents");
  }

  int event_create(int32_t d, bool timing, void** event) override {
    if (int s = check(d)) return s;
    ze_event_handle_t ev;
    if (int e = new_event(&ev)) return e;
    *event = new Event{ev, d, timing, false};
    return GEMS_OK;
  }
  int event_destroy(void* event) override {
    auto* e = static_cast<Event*>(event);
    if (!e) return GEMS_OK;
    ze_.zeEventDestroy(e->ev);
    delete e;
    return GEMS_OK;
  }
  int event_record(void* event, void* stream) override {
    auto* e = static_cast<Event*>(event);
    Stream* s = nullptr;
    if (int r = stream_of(stream, &s)) return r;
    ze_.zeEventHostReset(e->ev);
    e->recorded = true;
    return ze_status(ze_.zeCommandListAppendBarrier(s->list, e->ev, 0, nullptr), "zeCommandListAppendBarrier");
  }
  int event_query(void* event, int32_t* done) override {
    auto* e = static_cast<Event*>(event);
    if (!e->recorded) { *done = 1; return GEMS_OK; }
    const ze_result_t r = ze_.zeEventQueryStatus(e->ev);
    *done = r == ZE_RESULT_SUCCESS;
    return r == ZE_RESULT_SUCCESS || r == ZE_RESULT_NOT_READY ? GEMS_OK : ze_status(r, "zeEventQueryStatus");
  }
  int event_synchronize(void* event) override {
    auto* e = static_cast<Event*>(event);
    if (!e->recorded) return GEMS_OK;
    return ze_status(ze_.zeEventHostSynchronize(e->ev, UINT64_MAX), "zeEventHostSynchronize");
  }
  int event_elapsed_ms(void* start, void* end, float* ms) override {
    auto *a = static_cast<Event*>(start), *b = static_cast<Event*>(end);
    if (!a->timing || !b->timing)
      return set_error(GEMS_INVALID_ARGUMENT, "elapsed time needs two events created with timing enabled");
    if (!a->recorded || !b->recorded) return set_error(GEMS_INVALID_ARGUMENT, "elapsed time of an event that was not recorded");
    if (int s = event_synchronize(a)) return s;
    if (int s = event_synchronize(b)) return s;
    ze_kernel_timestamp_result_t ta{}, tb{};
    if (int s = ze_status(ze_.zeEventQueryKernelTimestamp(a->ev, &ta), "zeEventQueryKernelTimestamp")) return s;
    if (int s = ze_status(ze_.zeEventQueryKernelTimestamp(b->ev, &tb), "zeEventQueryKernelTimestamp")) return s;
    const double ticks = static_cast<double>(tb.global.kernelEnd) - static_cast<double>(ta.global.kernelEnd);
    *ms = static_cast<float>(ticks * static_cast<double>(timer_ns_[a->device]) / 1e6);
    return GEMS_OK;
  }
  int device_synchronize(int32_t d) override {
    if (int s = check(d)) return s;
    return synchronize(defaults_[d]);
  }

  int launch(int32_t d, void* stream, Program program, const std::string& kernel, size_t global, size_t local,
             const KernelArg* args, int num_args) override {
    if (global == 0) return GEMS_OK;
    if (int s = check(d)) return s;
    Stream* s = nullptr;
    if (int e = stream_of(stream, &s)) return e;
    std::lock_guard<std::mutex> g(launch_mu_);  // a kernel's arguments are shared state
    ze_kernel_handle_t k = nullptr;
    if (int e = kernel_of(d, program, kernel, &k)) return e;
    for (int i = 0; i < num_args; ++i) {
      const void* value = args[i].pointer ? &args[i].data : args[i].data;
      if (int e = ze_status(ze_.zeKernelSetArgumentValue(k, static_cast<uint32_t>(i), args[i].size, value),
                            "zeKernelSetArgumentValue " + kernel))
        return e;
    }
    uint32_t group = static_cast<uint32_t>(local);
    if (!group) {  // every kernel launched without a group size checks its bound, so global may round up
      uint32_t gy = 1, gz = 1;
      if (ze_.zeKernelSuggestGroupSize(k, static_cast<uint32_t>(std::min<size_t>(global, 1u << 30)), 1, 1, &group, &gy,
                                       &gz) != ZE_RESULT_SUCCESS || !group)
        group = 64;
    }
    if (int e = ze_status(ze_.zeKernelSetGroupSize(k, group, 1, 1), "zeKernelSetGroupSize " + kernel)) return e;
    ze_group_count_t count{static_cast<uint32_t>((global + group - 1) / group), 1, 1};
    if (int e = ze_status(ze_.zeCommandListAppendLaunchKernel(s->list, k, &count, nullptr, 0, nullptr),
                          "zeCommandListAppendLaunchKernel " + kernel))
      return e;
    return ordered(s);
  }


 private:

  int32_t num_devices() const override { return static_cast<int32_t>(devices_.size()); }

  int discover() override {
    void* lib = ::dlopen("libze_loader.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return set_error(GEMS_NO_DEVICE, "no Level Zero loader (libze_loader.so.1) on this machine");
#define GI_RESOLVE(fn) ze_.fn = reinterpret_cast<decltype(ze_.fn)>(::dlsym(lib, #fn));
    GI_RESOLVE(zeInit) GI_RESOLVE(zeDriverGet) GI_RESOLVE(zeDeviceGet) GI_RESOLVE(zeDeviceGetProperties)
    GI_RESOLVE(zeDeviceGetCommandQueueGroupProperties) GI_RESOLVE(zeContextCreate) GI_RESOLVE(zeMemAllocDevice)
    GI_RESOLVE(zeMemAllocHost) GI_RESOLVE(zeMemFree) GI_RESOLVE(zeMemGetAllocProperties)
    GI_RESOLVE(zeCommandListCreateImmediate) GI_RESOLVE(zeCommandListDestroy) GI_RESOLVE(zeCommandListAppendMemoryCopy)
    GI_RESOLVE(zeCommandListAppendMemoryFill) GI_RESOLVE(zeCommandListAppendBarrier)
    GI_RESOLVE(zeCommandListAppendLaunchKernel) GI_RESOLVE(zeCommandListAppendWaitOnEvents) GI_RESOLVE(zeEventPoolCreate)
    GI_RESOLVE(zeEventCreate) GI_RESOLVE(zeEventDestroy) GI_RESOLVE(zeEventHostSynchronize) GI_RESOLVE(zeEventHostReset)
    GI_RESOLVE(zeEventQueryStatus) GI_RESOLVE(zeEventQueryKernelTimestamp) GI_RESOLVE(zeModuleCreate)
    GI_RESOLVE(zeModuleBuildLogGetString) GI_RESOLVE(zeModuleBuildLogDestroy) GI_RESOLVE(zeKernelCreate)
    GI_RESOLVE(zeKernelSetArgumentValue) GI_RESOLVE(zeKernelSetGroupSize) GI_RESOLVE(zeKernelSuggestGroupSize)
#undef GI_RESOLVE
    if (!ze_.zeInit || !ze_.zeKernelSuggestGroupSize)
      return set_error(GEMS_NO_DEVICE, "the Level Zero loader lacks entry points of Level Zero 1.4");
    if (int s = ze_status(ze_.zeInit(ZE_INIT_FLAG_GPU_ONLY), "zeInit (no Level Zero GPU driver?)")) return s;
    uint32_t nd = 0;
    if (int s = ze_status(ze_.zeDriverGet(&nd, nullptr), "zeDriverGet")) return s;
    std::vector<ze_driver_handle_t> drivers(nd);
    if (nd) ze_.zeDriverGet(&nd, drivers.data());
    for (ze_driver_handle_t drv : drivers) {
      uint32_t n = 0;
      ze_.zeDeviceGet(drv, &n, nullptr);
      std::vector<ze_device_handle_t> devs(n);
      if (n) ze_.zeDeviceGet(drv, &n, devs.data());
      for (ze_device_handle_t dev : devs) {
        ze_device_properties_t p{};
        p.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
        ze_.zeDeviceGetProperties(dev, &p);
        if (p.type != ZE_DEVICE_TYPE_GPU) continue;
        devices_.push_back(dev);
        timer_ns_.push_back(p.timerResolution ? p.timerResolution : 1);
      }
      if (devices_.empty()) continue;
      ze_context_desc_t cd{};
      cd.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC;
      if (int s = ze_status(ze_.zeContextCreate(drv, &cd, &context_), "zeContextCreate")) return s;
      ze_event_pool_desc_t pd{};
      pd.stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC;
      pd.flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP;
      pd.count = kEvents;
      if (int s = ze_status(ze_.zeEventPoolCreate(context_, &pd, 0, nullptr, &pool_), "zeEventPoolCreate")) return s;
      free_slots_.clear();
      for (uint32_t i = 0; i < kEvents; ++i) free_slots_.push_back(kEvents - 1 - i);
      defaults_.resize(devices_.size());
      for (size_t d = 0; d < devices_.size(); ++d)
        if (int s = make_stream(static_cast<int32_t>(d), &defaults_[d])) return s;
      return GEMS_OK;
    }
    return set_error(GEMS_NO_DEVICE, "Level Zero found no GPU");
  }

  int new_event(ze_event_handle_t* ev) {
    std::lock_guard<std::mutex> g(event_mu_);
    if (free_slots_.empty()) return set_error(GEMS_OUT_OF_MEMORY, "the Level Zero event pool is exhausted");
    ze_event_desc_t ed{};
    ed.stype = ZE_STRUCTURE_TYPE_EVENT_DESC;
    ed.index = free_slots_.back();
    ed.signal = ZE_EVENT_SCOPE_FLAG_HOST;
    ed.wait = ZE_EVENT_SCOPE_FLAG_HOST;
    if (int s = ze_status(ze_.zeEventCreate(pool_, &ed, ev), "zeEventCreate")) return s;
    free_slots_.pop_back();  // (slots of destroyed events are not reused: a pool of kEvents serves a process)
    return GEMS_OK;
  }

  int make_stream(int32_t d, Stream** out) {
    ze_command_queue_desc_t qd{};
    qd.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC;
    qd.ordinal = compute_ordinal(d);
    qd.mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS;
    ze_command_list_handle_t list = nullptr;
    if (int s = ze_status(ze_.zeCommandListCreateImmediate(context_, devices_[d], &qd, &list),
                          "zeCommandListCreateImmediate"))
      return s;
    ze_event_handle_t done;
    if (int s = new_event(&done)) return s;
    *out = new Stream{list, d, done};
    return GEMS_OK;
  }

  uint32_t compute_ordinal(int32_t d) {
    uint32_t n = 0;
    ze_.zeDeviceGetCommandQueueGroupProperties(devices_[d], &n, nullptr);
    std::vector<ze_command_queue_group_properties_t> groups(n);
    for (auto& g : groups) g.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES;
    if (n) ze_.zeDeviceGetCommandQueueGroupProperties(devices_[d], &n, groups.data());
    for (uint32_t i = 0; i < n; ++i)
      if (groups[i].flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE) return i;
    return 0;
  }

  // Commands of one list may overlap without a barrier between them.
  int ordered(Stream* s) {
    return ze_status(ze_.zeCommandListAppendBarrier(s->list, nullptr, 0, nullptr), "zeCommandListAppendBarrier");
  }
  int synchronize(Stream* s) {
    ze_.zeEventHostReset(s->done);
    if (int e = ze_status(ze_.zeCommandListAppendBarrier(s->list, s->done, 0, nullptr), "zeCommandListAppendBarrier"))
      return e;
    return ze_status(ze_.zeEventHostSynchronize(s->done, UINT64_MAX), "zeEventHostSynchronize");
  }

  bool is_usm(const void* p) {
    ze_memory_allocation_properties_t props{};
    props.stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES;
    return ze_.zeMemGetAllocProperties(context_, p, &props, nullptr) == ZE_RESULT_SUCCESS &&
           props.type != ZE_MEMORY_TYPE_UNKNOWN;
  }


  int stream_of(void* stream, Stream** s) {
    if (stream) { *s = static_cast<Stream*>(stream); return GEMS_OK; }
    const int32_t d = current_device();
    if (int e = check(d)) return e;
    *s = defaults_[d];
    return GEMS_OK;
  }

  // A module a device and program, created at first use from the embedded SPIR-V.
  int kernel_of(int32_t d, Program program, const std::string& name, ze_kernel_handle_t* k) {
    const std::string key = std::to_string(d) + "/" + name;
    auto it = kernels_.find(key);
    if (it != kernels_.end()) { *k = it->second; return GEMS_OK; }
    auto& module = modules_[{d, program}];
    if (!module) {
      const SpirvModule m = spirv_module(program);
      ze_module_desc_t md{};
      md.stype = ZE_STRUCTURE_TYPE_MODULE_DESC;
      md.format = ZE_MODULE_FORMAT_IL_SPIRV;
      md.inputSize = m.size;
      md.pInputModule = m.data;
      md.pBuildFlags = "";
      ze_module_build_log_handle_t log = nullptr;
      const ze_result_t r = ze_.zeModuleCreate(context_, devices_[d], &md, &module, &log);
      std::string text;
      if (r != ZE_RESULT_SUCCESS && log) {
        size_t n = 0;
        ze_.zeModuleBuildLogGetString(log, &n, nullptr);
        text.resize(n);
        if (n) ze_.zeModuleBuildLogGetString(log, &n, text.data());
      }
      if (log) ze_.zeModuleBuildLogDestroy(log);
      if (r != ZE_RESULT_SUCCESS) {
        module = nullptr;
        return ze_status(r, "zeModuleCreate of the intel vendor's SPIR-V module " + std::to_string(program) + ": " +
                                text.substr(0, 2000));
      }
    }
    ze_kernel_desc_t kd{};
    kd.stype = ZE_STRUCTURE_TYPE_KERNEL_DESC;
    kd.pKernelName = name.c_str();
    if (int s = ze_status(ze_.zeKernelCreate(module, &kd, k), "zeKernelCreate " + name)) return s;
    kernels_[key] = *k;
    return GEMS_OK;
  }

  static constexpr uint32_t kEvents = 4096;
  LevelZero ze_;
  ze_context_handle_t context_ = nullptr;
  ze_event_pool_handle_t pool_ = nullptr;
  std::vector<uint32_t> free_slots_;
  std::vector<ze_device_handle_t> devices_;
  std::vector<uint64_t> timer_ns_;
  std::vector<Stream*> defaults_;
  std::map<std::pair<int32_t, int>, ze_module_handle_t> modules_;
  std::map<std::string, ze_kernel_handle_t> kernels_;
  std::mutex launch_mu_, event_mu_;
};

}  // namespace

Runtime* make_level_zero_runtime() { return new LevelZeroRuntime(); }

}  // namespace gems::intel

#else  // built without Level Zero's headers (libze-dev)

namespace gems::intel {
Runtime* make_level_zero_runtime() { return nullptr; }
}  // namespace gems::intel

#endif
