/* A vendor module that fails on purpose, for tests/python/test_vendor_faults.py.
 * Built with -DFAULT=<n>:
 *   1 WRONG_ABI   reports another ABI version
 *   2 INIT_FAILS  init returns an error
 *   3 NO_DEVICE   a valid table whose device_count is 0
 *   4 KERNEL_FAILS the cpu vendor module (loaded from CPU_MODULE) with its
 *                 "add" kernel replaced by one that returns GEMS_ERROR
 * Built without gems_vendor_init (-DNO_ENTRY) it is a shared library that is
 * not a vendor module. */
#include <dlfcn.h>
#include <string.h>

#include "gems_vendor_abi.h"

#ifndef NO_ENTRY
static int no_devices(int32_t* count) {
  *count = 0;
  return GEMS_OK;
}
static const char* fault_message(void) { return "injected fault: the add kernel failed on purpose"; }
static gems_kernel_entry kernels[512];
static int failing_add(const gems_kernel_call* call) { return GEMS_ERROR; }

GEMS_VENDOR_EXPORT int gems_vendor_init(uint32_t requested_abi, const gems_host_api* host, gems_vendor_api* out) {
#if FAULT == 1
  memset(out, 0, sizeof(*out));
  out->abi_version = requested_abi + 7;
  return GEMS_UNSUPPORTED;
#elif FAULT == 2
  return GEMS_ERROR;
#elif FAULT == 3
  memset(out, 0, sizeof(*out));
  out->abi_version = GEMS_VENDOR_ABI_VERSION;
  out->struct_size = sizeof(*out);
  out->name = "amd";
  out->device_count = no_devices;
  out->last_error = fault_message;
  return GEMS_OK;
#elif FAULT == 4
  void* cpu = dlopen(CPU_MODULE, RTLD_NOW | RTLD_LOCAL);
  if (!cpu) return GEMS_ERROR;
  gems_vendor_init_fn init = (gems_vendor_init_fn)dlsym(cpu, GEMS_VENDOR_INIT_SYMBOL);
  int status = init(requested_abi, host, out);
  if (status != GEMS_OK || out->num_kernels > 512) return GEMS_ERROR;
  memcpy(kernels, out->kernels, sizeof(gems_kernel_entry) * out->num_kernels);
  for (int i = 0; i < out->num_kernels; ++i)
    if (strcmp(kernels[i].name, "add") == 0) kernels[i].fn = failing_add;
  out->kernels = kernels;
  out->last_error = fault_message;
  return GEMS_OK;
#endif
}
#endif
