/*
 * The whole contract between the flag_gems core and a vendor module.
 *
 * Plain C: no libtorch, no C++ types. A vendor module exports exactly one
 * symbol, gems_vendor_init, which fills a gems_vendor_api table. The table
 * starts with abi_version and struct_size so that it can grow: fields are only
 * ever appended, and the core reads a field only if struct_size covers it.
 *
 * Conventions
 *  - Every function returns GEMS_OK (0) on success; on failure it returns a
 *    non-zero gems_status and last_error() describes the failure.
 *  - Devices are numbered 0..device_count-1. Streams and events are opaque
 *    handles owned by the vendor. A NULL stream means the device's default
 *    stream.
 *  - Kernels receive tensor descriptors whose shapes, dtypes, broadcasting
 *    (stride 0) and output allocation were settled by the core. A kernel must
 *    honour arbitrary strides (including negative ones and zero) and must not
 *    assume outputs are contiguous.
 */
#ifndef GEMS_VENDOR_ABI_H
#define GEMS_VENDOR_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GEMS_VENDOR_ABI_VERSION 1u
#define GEMS_MAX_DIMS 12

typedef enum gems_status {
  GEMS_OK = 0,
  GEMS_ERROR = 1,            /* generic failure; see last_error() */
  GEMS_OUT_OF_MEMORY = 2,
  GEMS_INVALID_ARGUMENT = 3,
  GEMS_UNSUPPORTED = 4,      /* e.g. dtype or rank a kernel does not serve */
  GEMS_NO_DEVICE = 5
} gems_status;

/* Element types. The numbering is part of the ABI. */
typedef enum gems_dtype {
  GEMS_BOOL = 0,
  GEMS_UINT8 = 1,
  GEMS_INT8 = 2,
  GEMS_INT16 = 3,
  GEMS_INT32 = 4,
  GEMS_INT64 = 5,
  GEMS_FLOAT16 = 6,
  GEMS_BFLOAT16 = 7,
  GEMS_FLOAT32 = 8,
  GEMS_FLOAT64 = 9,
  GEMS_DTYPE_COUNT = 10
} gems_dtype;

#define GEMS_DTYPE_BIT(d) (1u << (unsigned)(d))
#define GEMS_MASK_FLOATING                                              \
  (GEMS_DTYPE_BIT(GEMS_FLOAT16) | GEMS_DTYPE_BIT(GEMS_BFLOAT16) |       \
   GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64))
#define GEMS_MASK_INTEGRAL                                              \
  (GEMS_DTYPE_BIT(GEMS_UINT8) | GEMS_DTYPE_BIT(GEMS_INT8) |             \
   GEMS_DTYPE_BIT(GEMS_INT16) | GEMS_DTYPE_BIT(GEMS_INT32) |            \
   GEMS_DTYPE_BIT(GEMS_INT64))
#define GEMS_MASK_ALL \
  (GEMS_MASK_FLOATING | GEMS_MASK_INTEGRAL | GEMS_DTYPE_BIT(GEMS_BOOL))

/* A strided view of device memory. Element (i0, ..., in-1) lives at
 * (char*)data + (offset + sum_k ik * strides[k]) * element_size(dtype). */
typedef struct gems_tensor {
  void* data;
  int64_t offset;  /* storage offset, in elements */
  int32_t dtype;   /* gems_dtype */
  int32_t ndim;    /* 0 .. GEMS_MAX_DIMS; 0 is a scalar of one element */
  int64_t sizes[GEMS_MAX_DIMS];
  int64_t strides[GEMS_MAX_DIMS]; /* in elements */
} gems_tensor;

/* A scalar argument: the core fills both fields, so a kernel reads whichever
 * its compute type needs (integers beyond 2^53 stay exact in i). */
typedef struct gems_scalar {
  double f;
  int64_t i;
} gems_scalar;

/* One kernel launch. Tensors are ordered as the kernel's entry documents
 * (outputs first, then inputs); see backends/cpu/kernel_table.cpp for the
 * reference meaning of every kernel name. */
typedef struct gems_kernel_call {
  const gems_tensor* tensors;
  int32_t num_tensors;
  const gems_scalar* scalars;
  int32_t num_scalars;
  void* stream;
  int32_t device;
} gems_kernel_call;

typedef int (*gems_kernel_fn)(const gems_kernel_call* call);

typedef struct gems_kernel_entry {
  const char* name;    /* e.g. "add", "reduce_sum", "softmax" */
  uint32_t dtype_mask; /* GEMS_DTYPE_BIT of every dtype the kernel serves */
  gems_kernel_fn fn;
} gems_kernel_entry;

typedef enum gems_memcpy_kind {
  GEMS_MEMCPY_HOST_TO_HOST = 0,
  GEMS_MEMCPY_HOST_TO_DEVICE = 1,
  GEMS_MEMCPY_DEVICE_TO_HOST = 2,
  GEMS_MEMCPY_DEVICE_TO_DEVICE = 3
} gems_memcpy_kind;

/* What the memory of a vendor's devices is reachable by, so that the core can
 * run native PyTorch kernels on it in place (the zero-copy fallback). */
typedef enum gems_memory_kind {
  GEMS_MEMORY_OPAQUE = 0, /* only through memcpy: the fallback copies */
  GEMS_MEMORY_HOST = 1,   /* plain host memory: torch's CPU kernels work on it */
  GEMS_MEMORY_CUDA = 2,   /* CUDA device memory of the primary context */
  GEMS_MEMORY_HIP = 3
} gems_memory_kind;

/* An error a kernel found on the device after its launch had returned (an
 * index out of range): kernels of a vendor whose launches are asynchronous
 * cannot return it, so they record it and the core takes it at its next wait
 * for the device. values: for GEMS_KERNEL_ERROR_INDEX the index, the dim (-1
 * when the kernel does not know it) and the dim's size; for
 * GEMS_KERNEL_ERROR_TARGET the target. */
typedef enum gems_kernel_error_kind {
  GEMS_KERNEL_ERROR_NONE = 0,
  GEMS_KERNEL_ERROR_INDEX = 1,  /* "index i is out of bounds for dimension d with size s" */
  GEMS_KERNEL_ERROR_TARGET = 2  /* "Target t is out of bounds." (nll_loss, cross_entropy) */
} gems_kernel_error_kind;

typedef struct gems_kernel_error {
  int32_t kind; /* gems_kernel_error_kind */
  int32_t reserved;
  int64_t values[3];
} gems_kernel_error;

/* Services the core offers to a vendor module. */
typedef struct gems_host_api {
  uint32_t abi_version;
  uint32_t struct_size;
  /* Number of worker threads the vendor may use for host-side work. */
  int32_t num_threads;
} gems_host_api;

typedef struct gems_vendor_api {
  uint32_t abi_version; /* GEMS_VENDOR_ABI_VERSION the module was built with */
  uint32_t struct_size; /* sizeof(gems_vendor_api) of the module */
  const char* name;     /* "cpu", "nvidia", "amd", "intel" */
  int32_t memory_kind;  /* gems_memory_kind */

  /* ---- runtime: devices ---- */
  int (*device_count)(int32_t* count);
  int (*set_device)(int32_t device);
  int (*get_device)(int32_t* device);
  int (*device_synchronize)(int32_t device);
  int (*device_name)(int32_t device, char* buf, size_t len);

  /* ---- runtime: memory ---- */
  int (*malloc)(int32_t device, size_t bytes, void** ptr);
  int (*free)(int32_t device, void* ptr);
  int (*host_malloc)(size_t bytes, void** ptr); /* pinned where meaningful */
  int (*host_free)(void* ptr);
  int (*memcpy)(void* dst, const void* src, size_t bytes, int32_t kind);
  int (*memcpy_async)(void* dst, const void* src, size_t bytes, int32_t kind,
                      void* stream);
  int (*memset)(void* dst, int32_t value, size_t bytes, void* stream);
  /* Which device owns ptr; -1 when ptr is not device memory of this vendor. */
  int (*pointer_device)(const void* ptr, int32_t* device);

  /* ---- runtime: streams ---- */
  int (*stream_create)(int32_t device, int32_t priority, void** stream);
  int (*stream_destroy)(void* stream);
  int (*stream_synchronize)(void* stream);
  /* GEMS_OK with *done = 1 when all work on the stream has finished. */
  int (*stream_query)(void* stream, int32_t* done);
  int (*stream_wait_event)(void* stream, void* event);

  /* ---- runtime: events ---- */
  int (*event_create)(int32_t device, int32_t enable_timing, void** event);
  int (*event_destroy)(void* event);
  int (*event_record)(void* event, void* stream);
  int (*event_query)(void* event, int32_t* done);
  int (*event_synchronize)(void* event);
  int (*event_elapsed_ms)(void* start, void* end, float* ms);

  /* ---- errors ---- */
  const char* (*last_error)(void);

  /* ---- kernel table ---- */
  const gems_kernel_entry* kernels;
  int32_t num_kernels;

  /* ---- appended fields (read only when struct_size covers them) ---- */
  /* The first error kernels recorded since the last call (kind NONE when
   * none), which it clears; called after the host waited for a device, so
   * the kernels it waited for have recorded theirs. NULL for a vendor whose
   * kernels return their errors (cpu). */
  int (*take_kernel_error)(gems_kernel_error* out);
} gems_vendor_api;

/* The one exported entry point. requested_abi is the core's
 * GEMS_VENDOR_ABI_VERSION; a module that cannot serve it returns
 * GEMS_UNSUPPORTED after filling out->abi_version with its own. The table is
 * filled even when the machine has no device (device_count reports 0), so
 * tools can list a module's kernels anywhere. */
#define GEMS_VENDOR_INIT_SYMBOL "gems_vendor_init"
typedef int (*gems_vendor_init_fn)(uint32_t requested_abi,
                                   const gems_host_api* host,
                                   gems_vendor_api* out);

#if defined(_WIN32)
#define GEMS_VENDOR_EXPORT __declspec(dllexport)
#else
#define GEMS_VENDOR_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
}
#endif

#endif /* GEMS_VENDOR_ABI_H */
