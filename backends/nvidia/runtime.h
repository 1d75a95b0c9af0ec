// The nvidia vendor's runtime entry points (runtime.cu).
#pragma once
#include "../abi/gems_vendor_abi.h"

namespace gems::nvidia {
void fill_runtime(gems_vendor_api* out);
int set_error_string(int status, const char* msg);
// Stream-ordered scratch memory for a kernel's temporaries (runtime.cu).
int scratch_malloc(void** p, size_t bytes, void* stream);
void scratch_free(void* p, void* stream);
// bytes rounded up to 256, so that several arrays carved from one scratch
// allocation each start aligned (as CUB's temporaries want).
inline size_t scratch_aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }
}  // namespace gems::nvidia
