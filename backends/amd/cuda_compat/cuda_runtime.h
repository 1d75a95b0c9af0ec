// Stands in for CUDA's cuda_runtime.h in the amd build (../hip_portability.h).
#pragma once
#if defined(__HIP_PLATFORM_NVIDIA__)  // the test variant: CUDA's own header
#include_next <cuda_runtime.h>
#else
#include "../hip_portability.h"
#endif
