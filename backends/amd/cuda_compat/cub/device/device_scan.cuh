// Stands in for CUB's device/device_scan.cuh in the amd build.
#pragma once
#include "../rocprim_cub.h"
