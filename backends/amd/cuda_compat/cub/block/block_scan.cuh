// Stands in for CUB's block/block_scan.cuh in the amd build.
#pragma once
#include "../rocprim_cub.h"
