// Stands in for CUB's device/device_segmented_sort.cuh in the amd build.
#pragma once
#include "../rocprim_cub.h"
