// The nvidia vendor's runtime entry points (runtime.cu).
#pragma once
#include "../abi/gems_vendor_abi.h"

namespace gems::nvidia {
void fill_runtime(gems_vendor_api* out);
int set_error_string(int status, const char* msg);
// Stream-ordered scratch memory for a kernel's temporaries (runtime.cu).
int scratch_malloc(void** p, size_t bytes, void* stream);
void scratch_free(void* p, void* stream);
// The first error kernels found on the device since the core last asked (an
// index out of range), in mapped pinned memory: a kernel cannot return it, so
// it records it (record_kernel_error, cuda_common.cuh) and goes on, and the
// core takes it after its next wait (gems_vendor_api.take_kernel_error).
struct KernelErrors {
  int claimed;  // the first recording thread sets it; the rest leave the record alone
  int kind;     // gems_kernel_error_kind, written last
  long long values[3];
};
// Device-visible (and host-visible) record, made on first use.
KernelErrors* kernel_errors();
// bytes rounded up to 256, so that several arrays carved from one scratch
// allocation each start aligned (as CUB's temporaries want).
inline size_t scratch_aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }
}  // namespace gems::nvidia
