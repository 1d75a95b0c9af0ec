// Stands in for CUB's block/block_scan.cuh in the amd build.
#pragma once
#if defined(__HIP_PLATFORM_NVIDIA__)  // the test variant: CUB itself
#include_next <cub/block/block_scan.cuh>
#else
#include "../rocprim_cub.h"
#endif
