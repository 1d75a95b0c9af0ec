// Stands in for CUB's device/device_scan.cuh in the amd build.
#pragma once
#if defined(__HIP_PLATFORM_NVIDIA__)  // the test variant: CUB itself
#include_next <cub/device/device_scan.cuh>
#else
#include "../rocprim_cub.h"
#endif
