// The Level Zero back end of the intel runtime is not written yet: the module
// runs over OpenCL (runtime_opencl.cpp), which Intel's GPU drivers also serve.
#include "runtime.h"

namespace gems::intel {
Runtime* make_level_zero_runtime() { return nullptr; }
}  // namespace gems::intel
