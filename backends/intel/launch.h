// Host side of a kernel launch: the kernel's name for a dtype, the merged
// layout of its operands, and its arguments.
#pragma once
#include <string>
#include <vector>

#include "../common/dtype_dispatch.h"
#include "kernels/layout.h"
#include "runtime.h"

namespace gems::intel {

constexpr uint32_t kFloating = GEMS_MASK_FLOATING;
constexpr uint32_t kIntegral = GEMS_MASK_INTEGRAL;
constexpr uint32_t kAll = GEMS_MASK_ALL;
constexpr uint32_t kNumeric = GEMS_MASK_FLOATING | GEMS_MASK_INTEGRAL;
constexpr uint32_t kBitwise = GEMS_MASK_INTEGRAL | GEMS_DTYPE_BIT(GEMS_BOOL);

// Whether mask serves dtype (a valid dtype code whose bit is set).
inline bool served(uint32_t mask, int32_t dtype) {
  return dtype >= 0 && dtype < GEMS_DTYPE_COUNT && (mask & GEMS_DTYPE_BIT(dtype));
}
// The suffix kernels of a dtype are named with (kernels/device.h): "f32", "b8", ...
const char* dtype_suffix(int32_t dtype);
// kernel + "_" + the dtype's suffix.
std::string kernel_name(const char* kernel, int32_t dtype);
int64_t numel(const gems_tensor& t);
// The address of t's first element.
void* element_ptr(const gems_tensor& t);
// A scalar in the compute type of dtype's kernels (kernels/device.h).
gi_scalar scalar_for(int32_t dtype, const gems_scalar& s);
// Operands of the shape of ops[0], dims of size 1 dropped and dims merged
// where every operand is contiguous across them; keep_last sizes are never
// merged (tril needs its last two dims). Pointers are element pointers, so
// offsets are 0.
gi_layout make_layout(const gems_tensor* const* ops, int n, int keep_last = 0);
int unsupported(const char* kernel, int32_t dtype);

// Collects a kernel's arguments in order, then launches it on the call's
// device and stream.
class Launch {
 public:
  Launch(const gems_kernel_call* call, Program program, std::string kernel)
      : call_(call), program_(program), kernel_(std::move(kernel)) {}
  Launch& ptr(const void* p) { args_.push_back({p, sizeof(void*), true}); return *this; }
  Launch& tensor(const gems_tensor& t) { return ptr(element_ptr(t)); }
  template <typename T>
  Launch& value(const T& v) {
    bytes_.emplace_back(reinterpret_cast<const char*>(&v), reinterpret_cast<const char*>(&v) + sizeof(T));
    args_.push_back({nullptr, sizeof(T), false});
    return *this;
  }
  int run(size_t global, size_t local = 0);

 private:
  const gems_kernel_call* call_;
  Program program_;
  std::string kernel_;
  std::vector<KernelArg> args_;
  std::vector<std::vector<char>> bytes_;
};

}  // namespace gems::intel
