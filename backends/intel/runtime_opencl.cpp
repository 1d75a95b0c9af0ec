// The intel vendor's runtime over OpenCL 3.0 with Intel's unified shared
// memory extension (cl_intel_unified_shared_memory): device memory is USM,
// so kernels take plain pointers as they do under Level Zero. OpenCL is
// loaded at run time (libOpenCL.so.1, the ICD loader), so the module loads,
// and lists its kernels, on machines without it.
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <CL/cl_ext.h>
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/layout.h"
#include "program_cache.h"
#include "runtime.h"

namespace gems::intel {
namespace {

// The OpenCL entry points used, resolved from the ICD loader.
struct OpenCL {
#define GI_CL(fn) decltype(&::fn) fn = nullptr;
  GI_CL(clGetPlatformIDs) GI_CL(clGetPlatformInfo) GI_CL(clGetDeviceIDs) GI_CL(clGetDeviceInfo)
  GI_CL(clCreateContext) GI_CL(clCreateCommandQueueWithProperties) GI_CL(clReleaseCommandQueue)
  GI_CL(clCreateProgramWithIL) GI_CL(clCreateProgramWithBinary) GI_CL(clGetProgramInfo) GI_CL(clBuildProgram) GI_CL(clGetProgramBuildInfo) GI_CL(clReleaseProgram)
  GI_CL(clCreateKernel) GI_CL(clSetKernelArg) GI_CL(clEnqueueNDRangeKernel) GI_CL(clFinish) GI_CL(clFlush)
  GI_CL(clEnqueueMarkerWithWaitList) GI_CL(clEnqueueBarrierWithWaitList) GI_CL(clWaitForEvents)
  GI_CL(clGetEventInfo) GI_CL(clGetEventProfilingInfo) GI_CL(clReleaseEvent)
  GI_CL(clGetExtensionFunctionAddressForPlatform)
#undef GI_CL
  clHostMemAllocINTEL_fn clHostMemAllocINTEL = nullptr;
  clDeviceMemAllocINTEL_fn clDeviceMemAllocINTEL = nullptr;
  clMemBlockingFreeINTEL_fn clMemBlockingFreeINTEL = nullptr;
  clGetMemAllocInfoINTEL_fn clGetMemAllocInfoINTEL = nullptr;
  clSetKernelArgMemPointerINTEL_fn clSetKernelArgMemPointerINTEL = nullptr;
  clEnqueueMemcpyINTEL_fn clEnqueueMemcpyINTEL = nullptr;
  clEnqueueMemFillINTEL_fn clEnqueueMemFillINTEL = nullptr;
};

const char* cl_error_name(cl_int e) {
  switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_PLATFORM_NOT_FOUND_KHR: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "OpenCL error";
  }
}

int cl_status(cl_int e, const char* what) {
  if (e == CL_SUCCESS) return GEMS_OK;
  const int status = (e == CL_OUT_OF_RESOURCES || e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_HOST_MEMORY ||
                      e == CL_INVALID_BUFFER_SIZE)
                         ? GEMS_OUT_OF_MEMORY
                         : GEMS_ERROR;
  return set_error(status, std::string(what) + ": " + cl_error_name(e) + " (" + std::to_string(e) + ")");
}

struct Queue {
  cl_command_queue q;
  int32_t device;
};
struct Event {
  cl_event ev = nullptr;
  int32_t device;
  bool timing;
};

class OpenCLRuntime final : public RuntimeBase {
 public:
  const char* name() const override { return "opencl"; }

  int device_name(int32_t d, char* buf, size_t len) override {
    if (int s = check(d)) return s;
    char name[256] = {0};
    cl_.clGetDeviceInfo(devices_[d], CL_DEVICE_NAME, sizeof(name) - 1, name, nullptr);
    std::snprintf(buf, len, "%s (OpenCL)", name);
    return GEMS_OK;
  }

  int malloc(int32_t d, size_t bytes, void** ptr) override {
    if (int s = check(d)) return s;
    cl_int e = CL_SUCCESS;
    *ptr = cl_.clDeviceMemAllocINTEL(context_, devices_[d], nullptr, bytes ? bytes : 1, 0, &e);
    if (e == CL_SUCCESS && !*ptr) e = CL_OUT_OF_RESOURCES;
    return cl_status(e, "clDeviceMemAllocINTEL");
  }
  int free(void* ptr) override {
    if (!ptr) return GEMS_OK;
    if (int s = init()) return s;
    return cl_status(cl_.clMemBlockingFreeINTEL(context_, ptr), "clMemBlockingFreeINTEL");
  }
  int host_malloc(size_t bytes, void** ptr) override {
    if (int s = init()) return s;
    cl_int e = CL_SUCCESS;
    *ptr = cl_.clHostMemAllocINTEL(context_, nullptr, bytes ? bytes : 1, 0, &e);
    if (e == CL_SUCCESS && !*ptr) e = CL_OUT_OF_HOST_MEMORY;
    return cl_status(e, "clHostMemAllocINTEL");
  }
  int host_free(void* ptr) override { return free(ptr); }

  int memcpy(void* dst, const void* src, size_t bytes, void* stream, bool blocking) override {
    if (!bytes) return GEMS_OK;
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    // A copy on no stream in particular follows all work on every stream, as
    // cudaMemcpy follows CUDA's blocking streams.
    if (!stream && blocking)
      if (int s = finish_all()) return s;
    // Pageable host memory may be freed or reused once the call returns: a
    // copy from or to it completes before returning, as CUDA's does.
    if (!blocking && (!is_usm(dst) || !is_usm(src))) blocking = true;
    return cl_status(cl_.clEnqueueMemcpyINTEL(q, blocking ? CL_TRUE : CL_FALSE, dst, src, bytes, 0, nullptr, nullptr),
                     "clEnqueueMemcpyINTEL");
  }
  int memset(void* dst, int value, size_t bytes, void* stream) override {
    if (!bytes) return GEMS_OK;
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    const unsigned char pattern = static_cast<unsigned char>(value);
    return cl_status(cl_.clEnqueueMemFillINTEL(q, dst, &pattern, 1, bytes, 0, nullptr, nullptr), "clEnqueueMemFillINTEL");
  }
  int pointer_device(const void* ptr, int32_t* device) override {
    *device = -1;
    if (int s = init()) return s;
    cl_unified_shared_memory_type_intel type = CL_MEM_TYPE_UNKNOWN_INTEL;
    cl_.clGetMemAllocInfoINTEL(context_, ptr, CL_MEM_ALLOC_TYPE_INTEL, sizeof(type), &type, nullptr);
    if (type != CL_MEM_TYPE_DEVICE_INTEL) return GEMS_OK;
    cl_device_id dev = nullptr;
    cl_.clGetMemAllocInfoINTEL(context_, ptr, CL_MEM_ALLOC_DEVICE_INTEL, sizeof(dev), &dev, nullptr);
    for (size_t i = 0; i < devices_.size(); ++i)
      if (devices_[i] == dev) *device = static_cast<int32_t>(i);
    return GEMS_OK;
  }

  // Every stream of a device is its one in-order queue: work on any stream
  // follows all work before it, which is what CUDA's legacy default stream
  // gives PyTorch code (x made on a side stream, read on the default one with
  // no wait). Streams do not overlap each other's work here.
  int stream_create(int32_t d, void** stream) override {
    if (int s = check(d)) return s;
    *stream = new Queue{default_queues_[d], d};
    return GEMS_OK;
  }
  int stream_destroy(void* stream) override {
    if (!stream) return GEMS_OK;
    auto* q = static_cast<Queue*>(stream);
    const cl_int e = cl_.clFinish(q->q);
    delete q;
    return cl_status(e, "clFinish");
  }
  int stream_synchronize(void* stream) override {
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    return cl_status(cl_.clFinish(q), "clFinish");
  }
  int stream_query(void* stream, int32_t* done) override {
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    cl_event ev;
    if (int s = cl_status(cl_.clEnqueueMarkerWithWaitList(q, 0, nullptr, &ev), "clEnqueueMarkerWithWaitList")) return s;
    cl_.clFlush(q);
    int s = status_done(ev, done);
    cl_.clReleaseEvent(ev);
    return s;
  }
  int stream_wait_event(void* stream, void* event) override {
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    auto* e = static_cast<Event*>(event);
    if (!e || !e->ev) return GEMS_OK;
    return cl_status(cl_.clEnqueueBarrierWithWaitList(q, 1, &e->ev, nullptr), "clEnqueueBarrierWithWaitList");
  }

  int event_create(int32_t d, bool timing, void** event) override {
    if (int s = init()) return s;
    *event = new Event{nullptr, d, timing};
    return GEMS_OK;
  }
  int event_destroy(void* event) override {
    auto* e = static_cast<Event*>(event);
    if (!e) return GEMS_OK;
    if (e->ev) cl_.clReleaseEvent(e->ev);
    delete e;
    return GEMS_OK;
  }
  int event_record(void* event, void* stream) override {
    auto* e = static_cast<Event*>(event);
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    cl_event ev;
    if (int s = cl_status(cl_.clEnqueueMarkerWithWaitList(q, 0, nullptr, &ev), "clEnqueueMarkerWithWaitList")) return s;
    cl_.clFlush(q);
    if (e->ev) cl_.clReleaseEvent(e->ev);
    e->ev = ev;
    return GEMS_OK;
  }
  int event_query(void* event, int32_t* done) override {
    auto* e = static_cast<Event*>(event);
    if (!e->ev) { *done = 1; return GEMS_OK; }
    return status_done(e->ev, done);
  }
  int event_synchronize(void* event) override {
    auto* e = static_cast<Event*>(event);
    if (!e->ev) return GEMS_OK;
    return cl_status(cl_.clWaitForEvents(1, &e->ev), "clWaitForEvents");
  }
  int event_elapsed_ms(void* start, void* end, float* ms) override {
    auto *a = static_cast<Event*>(start), *b = static_cast<Event*>(end);
    if (!a->timing || !b->timing)
      return set_error(GEMS_INVALID_ARGUMENT, "elapsed time needs two events created with timing enabled");
    if (!a->ev || !b->ev) return set_error(GEMS_INVALID_ARGUMENT, "elapsed time of an event that was not recorded");
    cl_ulong ta = 0, tb = 0;
    cl_event both[2] = {a->ev, b->ev};
    if (int s = cl_status(cl_.clWaitForEvents(2, both), "clWaitForEvents")) return s;
    if (int s = cl_status(cl_.clGetEventProfilingInfo(a->ev, CL_PROFILING_COMMAND_END, sizeof(ta), &ta, nullptr),
                          "clGetEventProfilingInfo"))
      return s;
    if (int s = cl_status(cl_.clGetEventProfilingInfo(b->ev, CL_PROFILING_COMMAND_END, sizeof(tb), &tb, nullptr),
                          "clGetEventProfilingInfo"))
      return s;
    *ms = static_cast<float>((static_cast<double>(tb) - static_cast<double>(ta)) / 1e6);
    return GEMS_OK;
  }
  bool is_usm(const void* p) {
    cl_unified_shared_memory_type_intel type = CL_MEM_TYPE_UNKNOWN_INTEL;
    cl_.clGetMemAllocInfoINTEL(context_, p, CL_MEM_ALLOC_TYPE_INTEL, sizeof(type), &type, nullptr);
    return type != CL_MEM_TYPE_UNKNOWN_INTEL;
  }
  int device_synchronize(int32_t d) override {
    if (int s = check(d)) return s;
    return cl_status(cl_.clFinish(default_queues_[d]), "clFinish");
  }

  int launch(int32_t d, void* stream, Program program, const std::string& kernel, size_t global, size_t local,
             const KernelArg* args, int num_args) override {
    if (global == 0) return GEMS_OK;
    if (int s = check(d)) return s;
    cl_command_queue q;
    if (int s = queue_of(stream, &q)) return s;
    std::lock_guard<std::mutex> g(launch_mu_);  // a cl_kernel's arguments are shared state
    cl_kernel k = nullptr;
    if (int s = kernel_of(program, kernel, &k)) return s;
    for (int i = 0; i < num_args; ++i) {
      const cl_int e = args[i].pointer ? cl_.clSetKernelArgMemPointerINTEL(k, i, args[i].data)
                                       : cl_.clSetKernelArg(k, i, args[i].size, args[i].data);
      if (e != CL_SUCCESS) return cl_status(e, ("clSetKernelArg " + kernel + " #" + std::to_string(i)).c_str());
    }
    const size_t* lsz = local ? &local : nullptr;
    return cl_status(cl_.clEnqueueNDRangeKernel(q, k, 1, nullptr, &global, lsz, 0, nullptr, nullptr),
                     ("clEnqueueNDRangeKernel " + kernel).c_str());
  }


 private:

  // Finds the Intel platform with devices of the kinds GEMS_INTEL_DEVICES
  // admits: gpu (the default), cpu or all. Intel's OpenCL CPU runtime is a
  // test vehicle, never picked by the automatic vendor probe on its own.
  int32_t num_devices() const override { return static_cast<int32_t>(devices_.size()); }

  int discover() override {
    void* lib = ::dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return set_error(GEMS_NO_DEVICE, "no OpenCL ICD loader (libOpenCL.so.1) on this machine");
#define GI_RESOLVE(fn) cl_.fn = reinterpret_cast<decltype(cl_.fn)>(::dlsym(lib, #fn));
    GI_RESOLVE(clGetPlatformIDs) GI_RESOLVE(clGetPlatformInfo) GI_RESOLVE(clGetDeviceIDs) GI_RESOLVE(clGetDeviceInfo)
    GI_RESOLVE(clCreateContext) GI_RESOLVE(clCreateCommandQueueWithProperties) GI_RESOLVE(clReleaseCommandQueue)
    GI_RESOLVE(clCreateProgramWithIL) GI_RESOLVE(clCreateProgramWithBinary) GI_RESOLVE(clGetProgramInfo)
    GI_RESOLVE(clBuildProgram) GI_RESOLVE(clGetProgramBuildInfo)
    GI_RESOLVE(clReleaseProgram) GI_RESOLVE(clCreateKernel) GI_RESOLVE(clSetKernelArg)
    GI_RESOLVE(clEnqueueNDRangeKernel) GI_RESOLVE(clFinish) GI_RESOLVE(clFlush)
    GI_RESOLVE(clEnqueueMarkerWithWaitList) GI_RESOLVE(clEnqueueBarrierWithWaitList) GI_RESOLVE(clWaitForEvents)
    GI_RESOLVE(clGetEventInfo) GI_RESOLVE(clGetEventProfilingInfo) GI_RESOLVE(clReleaseEvent)
    GI_RESOLVE(clGetExtensionFunctionAddressForPlatform)
#undef GI_RESOLVE
    if (!cl_.clGetPlatformIDs || !cl_.clCreateProgramWithIL || !cl_.clGetExtensionFunctionAddressForPlatform)
      return set_error(GEMS_NO_DEVICE, "the OpenCL ICD loader lacks OpenCL 2.1 entry points (clCreateProgramWithIL)");
    const char* want = std::getenv("GEMS_INTEL_DEVICES");
    const std::string kinds = want && *want ? want : "gpu";
    cl_device_type type = CL_DEVICE_TYPE_GPU;
    if (kinds == "cpu") type = CL_DEVICE_TYPE_CPU;
    else if (kinds == "all") type = CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_CPU | CL_DEVICE_TYPE_ACCELERATOR;
    else if (kinds != "gpu")
      return set_error(GEMS_INVALID_ARGUMENT, "GEMS_INTEL_DEVICES='" + kinds + "' is not gpu, cpu or all");
    cl_uint np = 0;
    cl_.clGetPlatformIDs(0, nullptr, &np);
    std::vector<cl_platform_id> platforms(np);
    if (np) cl_.clGetPlatformIDs(np, platforms.data(), nullptr);
    std::string seen;
    for (cl_platform_id p : platforms) {
      char vendor[256] = {0};
      cl_.clGetPlatformInfo(p, CL_PLATFORM_VENDOR, sizeof(vendor) - 1, vendor, nullptr);
      seen += std::string(seen.empty() ? "" : ", ") + vendor;
      if (!std::strstr(vendor, "Intel")) continue;
      cl_uint nd = 0;
      if (cl_.clGetDeviceIDs(p, type, 0, nullptr, &nd) != CL_SUCCESS || !nd) continue;
      std::vector<cl_device_id> devs(nd);
      cl_.clGetDeviceIDs(p, type, nd, devs.data(), nullptr);
      std::vector<cl_device_id> usable;
      for (cl_device_id d : devs) {
        char ext[8192] = {0};
        cl_.clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, sizeof(ext) - 1, ext, nullptr);
        if (std::strstr(ext, "cl_intel_unified_shared_memory")) usable.push_back(d);
      }
      if (usable.empty()) continue;
      if (!resolve_usm(p)) return set_error(GEMS_NO_DEVICE, "the Intel OpenCL platform does not export the USM functions");
      cl_int e = CL_SUCCESS;
      context_ = cl_.clCreateContext(nullptr, static_cast<cl_uint>(usable.size()), usable.data(), nullptr, nullptr, &e);
      if (int s = cl_status(e, "clCreateContext")) return s;
      devices_ = usable;
      default_queues_.resize(devices_.size());
      for (size_t i = 0; i < devices_.size(); ++i)
        if (int s = create_queue(static_cast<int32_t>(i), &default_queues_[i])) return s;
      return GEMS_OK;
    }
    return set_error(GEMS_NO_DEVICE, "no Intel OpenCL " + kinds + " device with unified shared memory (platforms: " +
                                         (seen.empty() ? std::string("none") : seen) +
                                         "; GEMS_INTEL_DEVICES=cpu admits Intel's OpenCL CPU runtime)");
  }

  bool resolve_usm(cl_platform_id p) {
#define GI_USM(fn) cl_.fn = reinterpret_cast<fn##_fn>(cl_.clGetExtensionFunctionAddressForPlatform(p, #fn));
    GI_USM(clHostMemAllocINTEL) GI_USM(clDeviceMemAllocINTEL) GI_USM(clMemBlockingFreeINTEL)
    GI_USM(clGetMemAllocInfoINTEL) GI_USM(clSetKernelArgMemPointerINTEL) GI_USM(clEnqueueMemcpyINTEL)
    GI_USM(clEnqueueMemFillINTEL)
#undef GI_USM
    return cl_.clHostMemAllocINTEL && cl_.clDeviceMemAllocINTEL && cl_.clMemBlockingFreeINTEL &&
           cl_.clGetMemAllocInfoINTEL && cl_.clSetKernelArgMemPointerINTEL && cl_.clEnqueueMemcpyINTEL &&
           cl_.clEnqueueMemFillINTEL;
  }

  // An in-order queue with profiling (events' elapsed times need it).
  int create_queue(int32_t d, cl_command_queue* q) {
    const cl_queue_properties props[] = {CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0};
    cl_int e = CL_SUCCESS;
    *q = cl_.clCreateCommandQueueWithProperties(context_, devices_[d], props, &e);
    return cl_status(e, "clCreateCommandQueueWithProperties");
  }


  int queue_of(void* stream, cl_command_queue* q) {
    if (stream) { *q = static_cast<Queue*>(stream)->q; return GEMS_OK; }
    const int32_t d = current_device();
    if (int s = check(d)) return s;
    *q = default_queues_[d];
    return GEMS_OK;
  }

  int status_done(cl_event ev, int32_t* done) {
    cl_int st = CL_COMPLETE;
    if (int s = cl_status(cl_.clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(st), &st, nullptr),
                          "clGetEventInfo"))
      return s;
    if (st < 0) return cl_status(st, "a command on the queue failed");
    *done = st == CL_COMPLETE;
    return GEMS_OK;
  }

  // Builds a program at its first use (for every device of the context) and
  // keeps its kernels; the build log is the error when it fails. A device's
  // compiled program is kept on disk (program_cache.h), as CUDA keeps PTX it
  // compiled: the CPU runtime's compile of the pointwise module takes seconds.
  int kernel_of(Program program, const std::string& name, cl_kernel* k) {
    auto it = kernels_.find(name);
    if (it != kernels_.end()) { *k = it->second; return GEMS_OK; }
    if (!programs_[program])
      if (int s = build_program(program)) return s;
    cl_int e = CL_SUCCESS;
    *k = cl_.clCreateKernel(programs_[program], name.c_str(), &e);
    if (int s = cl_status(e, ("clCreateKernel " + name).c_str())) return s;
    kernels_[name] = *k;
    return GEMS_OK;
  }

  int build_program(Program program) {
    const SpirvModule m = spirv_module(program);
    // The cache serves one-device contexts (a binary is per device).
    std::string key;
    if (devices_.size() == 1) {
      char device[256] = {0}, driver[256] = {0};
      cl_.clGetDeviceInfo(devices_[0], CL_DEVICE_NAME, sizeof(device) - 1, device, nullptr);
      cl_.clGetDeviceInfo(devices_[0], CL_DRIVER_VERSION, sizeof(driver) - 1, driver, nullptr);
      key = program_cache_key(m.data, m.size, std::string(device) + "|" + driver);
      std::vector<unsigned char> binary;
      if (program_cache_read(key, &binary)) {
        const unsigned char* bin = binary.data();
        const size_t len = binary.size();
        cl_int e = CL_SUCCESS, bs = CL_SUCCESS;
        cl_program p = cl_.clCreateProgramWithBinary(context_, 1, devices_.data(), &len, &bin, &bs, &e);
        if (e == CL_SUCCESS && bs == CL_SUCCESS && cl_.clBuildProgram(p, 0, nullptr, "", nullptr, nullptr) == CL_SUCCESS) {
          programs_[program] = p;
          return GEMS_OK;
        }
        if (p) cl_.clReleaseProgram(p);  // a stale or damaged entry: compile again
      }
    }
    cl_int e = CL_SUCCESS;
    cl_program p = cl_.clCreateProgramWithIL(context_, m.data, m.size, &e);
    if (int s = cl_status(e, "clCreateProgramWithIL")) return s;
    e = cl_.clBuildProgram(p, 0, nullptr, "", nullptr, nullptr);
    if (e != CL_SUCCESS) {
      std::string log(16384, '\0');
      size_t n = 0;
      cl_.clGetProgramBuildInfo(p, devices_[0], CL_PROGRAM_BUILD_LOG, log.size() - 1, log.data(), &n);
      log.resize(n ? n - 1 : 0);
      cl_.clReleaseProgram(p);
      return set_error(GEMS_ERROR, "clBuildProgram of the intel vendor's SPIR-V module " + std::to_string(program) +
                                       " failed: " + log.substr(0, 2000));
    }
    programs_[program] = p;
    if (!key.empty()) {
      size_t len = 0;
      if (cl_.clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(len), &len, nullptr) == CL_SUCCESS && len) {
        std::vector<unsigned char> binary(len);
        unsigned char* dst = binary.data();
        if (cl_.clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(dst), &dst, nullptr) == CL_SUCCESS)
          program_cache_write(key, binary);
      }
    }
    return GEMS_OK;
  }

  OpenCL cl_;
  cl_context context_ = nullptr;
  std::vector<cl_device_id> devices_;
  std::vector<cl_command_queue> default_queues_;
  std::mutex launch_mu_;
  cl_program programs_[kProgramCount] = {};
  std::map<std::string, cl_kernel> kernels_;
};

}  // namespace

Runtime* make_opencl_runtime() { return new OpenCLRuntime(); }

}  // namespace gems::intel
