// Stands in for CUDA's cuda_bf16.h in the amd build (../hip_portability.h).
#pragma once
#if defined(__HIP_PLATFORM_NVIDIA__)  // the test variant: CUDA's own header
#include_next <cuda_bf16.h>
#else
#include "../hip_portability.h"
#endif
