// Stands in for CUB's block/block_reduce.cuh in the amd build.
#pragma once
#include "../rocprim_cub.h"
