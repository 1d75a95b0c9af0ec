// The nvidia vendor's runtime entry points (runtime.cu).
#pragma once
#include "../abi/gems_vendor_abi.h"

namespace gems::nvidia {
void fill_runtime(gems_vendor_api* out);
int set_error_string(int status, const char* msg);
}  // namespace gems::nvidia
