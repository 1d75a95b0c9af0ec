// Stands in for CUB's device/device_radix_sort.cuh in the amd build.
#pragma once
#if defined(__HIP_PLATFORM_NVIDIA__)  // the test variant: CUB itself
#include_next <cub/device/device_radix_sort.cuh>
#else
#include "../rocprim_cub.h"
#endif
