// Declarations shared by the cpu vendor's runtime, kernels and kernel table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "../abi/gems_vendor_abi.h"

namespace gems::cpu {

// GEMS_CPU_DEVICES (default 1), or -1 when the variable is malformed.
int32_t configured_device_count();
// Records msg as the thread's last error and returns status.
int set_error(int status, const char* msg);

namespace rt {
int device_count(int32_t* count);
int set_device(int32_t device);
int get_device(int32_t* device);
int device_synchronize(int32_t device);
int device_name(int32_t device, char* buf, size_t len);
int malloc(int32_t device, size_t bytes, void** ptr);
int free(int32_t device, void* ptr);
int host_malloc(size_t bytes, void** ptr);
int host_free(void* ptr);
int memcpy(void* dst, const void* src, size_t bytes, int32_t kind);
int memcpy_async(void* dst, const void* src, size_t bytes, int32_t kind, void* stream);
int memset(void* dst, int32_t value, size_t bytes, void* stream);
int pointer_device(const void* ptr, int32_t* device);
int stream_create(int32_t device, int32_t priority, void** stream);
int stream_destroy(void* stream);
int stream_synchronize(void* stream);
int stream_query(void* stream, int32_t* done);
int stream_wait_event(void* stream, void* event);
int event_create(int32_t device, int32_t enable_timing, void** event);
int event_destroy(void* event);
int event_record(void* event, void* stream);
int event_query(void* event, int32_t* done);
int event_synchronize(void* event);
int event_elapsed_ms(void* start, void* end, float* ms);
const char* last_error();
}  // namespace rt

}  // namespace gems::cpu
