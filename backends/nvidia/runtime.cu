// The nvidia vendor's device runtime: a thin map of the ABI onto the CUDA
// runtime. Streams and events are CUDA's own handles, so a gems stream can
// be waited on from torch's CUDA streams through events.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>

#include "runtime.h"

// The runtime call named in an error message: cudaMalloc, or hipMalloc in the
// amd build of these sources.
#if defined(GEMS_HIP)
#define GEMS_RT_CALL(name) "hip" name
#else
#define GEMS_RT_CALL(name) "cuda" name
#endif

namespace gems::nvidia {
namespace {

thread_local std::string t_last_error;

int status_of(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return GEMS_OK;
  t_last_error = std::string(what) + ": " + cudaGetErrorString(e);
  cudaGetLastError();  // clear the sticky non-fatal error
  if (e == cudaErrorMemoryAllocation) return GEMS_OUT_OF_MEMORY;
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) return GEMS_NO_DEVICE;
  return GEMS_ERROR;
}

cudaMemcpyKind kind_of(int32_t k) {
  switch (k) {
    case GEMS_MEMCPY_HOST_TO_HOST: return cudaMemcpyHostToHost;
    case GEMS_MEMCPY_HOST_TO_DEVICE: return cudaMemcpyHostToDevice;
    case GEMS_MEMCPY_DEVICE_TO_HOST: return cudaMemcpyDeviceToHost;
    default: return cudaMemcpyDeviceToDevice;
  }
}

int device_count(int32_t* count) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) { *count = 0; return status_of(e, GEMS_RT_CALL("GetDeviceCount")); }
  *count = n;
  return GEMS_OK;
}
int set_device(int32_t d) { return status_of(cudaSetDevice(d), GEMS_RT_CALL("SetDevice")); }
int get_device(int32_t* d) { int v = 0; int s = status_of(cudaGetDevice(&v), GEMS_RT_CALL("GetDevice")); *d = v; return s; }
int device_synchronize(int32_t d) {
  int prev = 0;
  cudaGetDevice(&prev);
  if (int s = status_of(cudaSetDevice(d), GEMS_RT_CALL("SetDevice"))) return s;
  int s = status_of(cudaDeviceSynchronize(), GEMS_RT_CALL("DeviceSynchronize"));
  cudaSetDevice(prev);
  return s;
}
int device_name(int32_t d, char* buf, size_t len) {
  cudaDeviceProp p;
  if (int s = status_of(cudaGetDeviceProperties(&p, d), GEMS_RT_CALL("GetDeviceProperties"))) return s;
  std::snprintf(buf, len, "%s", p.name);
  return GEMS_OK;
}
int malloc_(int32_t d, size_t bytes, void** ptr) {
  int prev = 0;
  cudaGetDevice(&prev);
  if (prev != d) cudaSetDevice(d);
  int s = status_of(cudaMalloc(ptr, bytes ? bytes : 1), GEMS_RT_CALL("Malloc"));
  if (prev != d) cudaSetDevice(prev);
  return s;
}
int free_(int32_t, void* ptr) { return status_of(cudaFree(ptr), GEMS_RT_CALL("Free")); }
int host_malloc(size_t bytes, void** ptr) { return status_of(cudaMallocHost(ptr, bytes ? bytes : 1), GEMS_RT_CALL("MallocHost")); }
int host_free(void* ptr) { return status_of(cudaFreeHost(ptr), GEMS_RT_CALL("FreeHost")); }
int memcpy_(void* dst, const void* src, size_t bytes, int32_t kind) {
  return status_of(cudaMemcpy(dst, src, bytes, kind_of(kind)), GEMS_RT_CALL("Memcpy"));
}
int memcpy_async(void* dst, const void* src, size_t bytes, int32_t kind, void* stream) {
  return status_of(cudaMemcpyAsync(dst, src, bytes, kind_of(kind), static_cast<cudaStream_t>(stream)),
                   GEMS_RT_CALL("MemcpyAsync"));
}
int memset_(void* dst, int32_t value, size_t bytes, void* stream) {
  return status_of(cudaMemsetAsync(dst, value, bytes, static_cast<cudaStream_t>(stream)), GEMS_RT_CALL("MemsetAsync"));
}
int pointer_device(const void* ptr, int32_t* device) {
  cudaPointerAttributes a;
  cudaError_t e = cudaPointerGetAttributes(&a, ptr);
  if (e != cudaSuccess) { cudaGetLastError(); *device = -1; return GEMS_OK; }
#if defined(GEMS_HIP)
  *device = a.memoryType == hipMemoryTypeDevice || a.isManaged ? a.device : -1;
#else
  *device = a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged ? a.device : -1;
#endif
  return GEMS_OK;
}
int stream_create(int32_t d, int32_t priority, void** stream) {
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(d);
  cudaStream_t s = nullptr;
  int st = status_of(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, priority), GEMS_RT_CALL("StreamCreate"));
  cudaSetDevice(prev);
  *stream = s;
  return st;
}
int stream_destroy(void* s) { return status_of(cudaStreamDestroy(static_cast<cudaStream_t>(s)), GEMS_RT_CALL("StreamDestroy")); }
int stream_synchronize(void* s) {
  return status_of(cudaStreamSynchronize(static_cast<cudaStream_t>(s)), GEMS_RT_CALL("StreamSynchronize"));
}
int stream_query(void* s, int32_t* done) {
  cudaError_t e = cudaStreamQuery(static_cast<cudaStream_t>(s));
  if (e == cudaErrorNotReady) { cudaGetLastError(); *done = 0; return GEMS_OK; }
  *done = 1;
  return status_of(e, GEMS_RT_CALL("StreamQuery"));
}
int stream_wait_event(void* s, void* e) {
  return status_of(cudaStreamWaitEvent(static_cast<cudaStream_t>(s), static_cast<cudaEvent_t>(e), 0),
                   GEMS_RT_CALL("StreamWaitEvent"));
}
int event_create(int32_t d, int32_t timing, void** event) {
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(d);
  cudaEvent_t e = nullptr;
  int st = status_of(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming),
                     GEMS_RT_CALL("EventCreate"));
  cudaSetDevice(prev);
  *event = e;
  return st;
}
int event_destroy(void* e) { return status_of(cudaEventDestroy(static_cast<cudaEvent_t>(e)), GEMS_RT_CALL("EventDestroy")); }
int event_record(void* e, void* s) {
  return status_of(cudaEventRecord(static_cast<cudaEvent_t>(e), static_cast<cudaStream_t>(s)), GEMS_RT_CALL("EventRecord"));
}
int event_query(void* e, int32_t* done) {
  cudaError_t r = cudaEventQuery(static_cast<cudaEvent_t>(e));
  if (r == cudaErrorNotReady) { cudaGetLastError(); *done = 0; return GEMS_OK; }
  *done = 1;
  return status_of(r, GEMS_RT_CALL("EventQuery"));
}
int event_synchronize(void* e) {
  return status_of(cudaEventSynchronize(static_cast<cudaEvent_t>(e)), GEMS_RT_CALL("EventSynchronize"));
}
int event_elapsed_ms(void* a, void* b, float* ms) {
  return status_of(cudaEventElapsedTime(ms, static_cast<cudaEvent_t>(a), static_cast<cudaEvent_t>(b)),
                   GEMS_RT_CALL("EventElapsedTime"));
}
const char* last_error() { return t_last_error.c_str(); }

int take_kernel_error(gems_kernel_error* out) {
  *out = gems_kernel_error{};
  volatile KernelErrors* e = kernel_errors();
  if (!e || e->kind == GEMS_KERNEL_ERROR_NONE) return GEMS_OK;
  out->kind = e->kind;
  for (int i = 0; i < 3; ++i) out->values[i] = e->values[i];
  e->kind = GEMS_KERNEL_ERROR_NONE;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  e->claimed = 0;  // the next error may be recorded
  return GEMS_OK;
}

}  // namespace

KernelErrors* kernel_errors() {
  // Portable (every device sees it) and mapped; with unified addressing the
  // host pointer is the device pointer. Kept for the process's life.
  static KernelErrors* record = [] {
    void* p = nullptr;
    if (cudaHostAlloc(&p, sizeof(KernelErrors), cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      return static_cast<KernelErrors*>(nullptr);
    }
    *static_cast<KernelErrors*>(p) = KernelErrors{};
    return static_cast<KernelErrors*>(p);
  }();
  return record;
}

int set_error_string(int status, const char* msg) {
  t_last_error = msg;
  return status;
}

void fill_runtime(gems_vendor_api* out) {
  out->device_count = device_count;
  out->set_device = set_device;
  out->get_device = get_device;
  out->device_synchronize = device_synchronize;
  out->device_name = device_name;
  out->malloc = malloc_;
  out->free = free_;
  out->host_malloc = host_malloc;
  out->host_free = host_free;
  out->memcpy = memcpy_;
  out->memcpy_async = memcpy_async;
  out->memset = memset_;
  out->pointer_device = pointer_device;
  out->stream_create = stream_create;
  out->stream_destroy = stream_destroy;
  out->stream_synchronize = stream_synchronize;
  out->stream_query = stream_query;
  out->stream_wait_event = stream_wait_event;
  out->event_create = event_create;
  out->event_destroy = event_destroy;
  out->event_record = event_record;
  out->event_query = event_query;
  out->event_synchronize = event_synchronize;
  out->event_elapsed_ms = event_elapsed_ms;
  out->last_error = last_error;
  out->take_kernel_error = take_kernel_error;
}

// Stream-ordered scratch memory for kernels (cuDNN workspaces, split-K
// partials) from the device's default pool. By default that pool returns
// freed memory at every synchronisation, so the next allocation maps it
// again (about 0.1 ms); keeping it reserved makes scratch nearly free.
int scratch_malloc(void** p, size_t bytes, void* stream) {
  int device = 0;
  cudaGetDevice(&device);
  {
    static std::mutex m;
    static std::set<int> configured;
    std::lock_guard<std::mutex> g(m);
    if (configured.insert(device).second) {
      cudaMemPool_t pool;
      if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
        uint64_t keep = UINT64_MAX;
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
      }
    }
  }
  *p = nullptr;
  if (bytes == 0) return GEMS_OK;
  return status_of(cudaMallocAsync(p, bytes, static_cast<cudaStream_t>(stream)), "scratch memory");
}

void scratch_free(void* p, void* stream) {
  if (p) cudaFreeAsync(p, static_cast<cudaStream_t>(stream));
}

}  // namespace gems::nvidia
