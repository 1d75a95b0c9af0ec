// Stands in for CUDA's cuda_fp16.h in the amd build (../hip_portability.h).
#pragma once
#include "../hip_portability.h"
