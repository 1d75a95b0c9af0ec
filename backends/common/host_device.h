// GEMS_HOST_DEVICE marks the shared helpers of backends/common that run on
// the host (cpu vendor) and in CUDA kernels (nvidia vendor) alike.
#pragma once
#if defined(__CUDACC__) || defined(__HIPCC__)
#define GEMS_HOST_DEVICE __host__ __device__
#else
#define GEMS_HOST_DEVICE
#endif
