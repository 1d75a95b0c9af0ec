// The nvidia vendor's kernel table and entry point.
//
// STUB: the table is empty for now, so every op on an nvidia gems device
// runs through the core's fallback (a copy to the CPU and back). The CUDA
// kernels are the work of the nvidia vendor issue.
#include <cstring>

#include "runtime.h"

extern "C" GEMS_VENDOR_EXPORT int gems_vendor_init(uint32_t requested_abi, const gems_host_api* host,
                                                    gems_vendor_api* out) {
  if (!out) return GEMS_INVALID_ARGUMENT;
  std::memset(out, 0, sizeof(*out));
  out->abi_version = GEMS_VENDOR_ABI_VERSION;
  out->struct_size = sizeof(gems_vendor_api);
  if (requested_abi != GEMS_VENDOR_ABI_VERSION) return GEMS_UNSUPPORTED;
  out->name = "nvidia";
  out->memory_kind = GEMS_MEMORY_CUDA;
  gems::nvidia::fill_runtime(out);
  out->kernels = nullptr;
  out->num_kernels = 0;
  return GEMS_OK;
}
