// cuDNN graphs (through cuDNN's C++ frontend) built once per call signature
// and cached for the life of the process: fused attention and convolutions
// share the handles, the cache, the plan choice and the launch.
//
// A caller declares its graph's tensors and operation (declare), names the
// cache key (every property the graph depends on except data pointers) and
// passes the call's pointers (pack). The first call with a key builds the
// graph; of the plans cuDNN's heuristics offer, cuDNN's first runs, or, under
// GEMS_AUTOTUNE=1, the fastest on the first call's own operands (autotune.h).
// A key cuDNN cannot serve is remembered and answered with GEMS_UNSUPPORTED,
// so that the core composes the result another way.
#pragma once
#include <cudnn_frontend.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "../abi/gems_vendor_abi.h"

namespace gems::nvidia::cudnn {
namespace fe = cudnn_frontend;

using Pack = std::unordered_map<int64_t, void*>;
using Declare = std::function<std::shared_ptr<fe::graph::Graph>()>;

// Which plans may run: numeric notes excluded (float32 without TF32 excludes
// TENSOR_CORE and DOWN_CONVERT_INPUTS, deterministic runs NONDETERMINISTIC).
struct PlanFilter {
  std::vector<fe::NumericalNote_t> excluded;
};

// Finds or builds the graph of `key` and runs it on the call's stream.
// `what` names the operation in error messages ("attention", "convolution").
int run_graph(const char* what, const std::vector<int64_t>& key, const gems_kernel_call* c, const Declare& declare,
              const PlanFilter& filter, const Pack& pack);

// The frontend's data type of a gems dtype (float16, bfloat16, float32, float64).
fe::DataType_t data_type(int32_t dtype);
int64_t element_bytes(int32_t dtype);
// The address of t's first element.
void* address(const gems_tensor& t);

}  // namespace gems::nvidia::cudnn
