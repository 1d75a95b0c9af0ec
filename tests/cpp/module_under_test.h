// The vendor module under test and small helpers for moving float data to and
// from its device memory.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gems_vendor_abi.h"

namespace gems_test {

extern std::string g_module_path;
const gems_vendor_api& api();  // loaded once; ASSERTs on failure
bool has_device();

// A device allocation filled from / read back into host vectors.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    EXPECT_EQ(api().malloc(0, bytes, &ptr_), GEMS_OK) << api().last_error();
  }
  template <typename T>
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size() * sizeof(T)) {
    EXPECT_EQ(api().memcpy(ptr_, host.data(), bytes_, GEMS_MEMCPY_HOST_TO_DEVICE), GEMS_OK);
  }
  ~DeviceBuffer() { api().free(0, ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  std::vector<T> read() const {
    std::vector<T> out(bytes_ / sizeof(T));
    EXPECT_EQ(api().memcpy(out.data(), ptr_, bytes_, GEMS_MEMCPY_DEVICE_TO_HOST), GEMS_OK);
    return out;
  }
  void* get() const { return ptr_; }

 private:
  size_t bytes_;
  void* ptr_ = nullptr;
};

// A descriptor of buf as a tensor with these sizes and strides (contiguous
// when strides is empty).
gems_tensor tensor(const DeviceBuffer& buf, int32_t dtype, std::vector<int64_t> sizes,
                   std::vector<int64_t> strides = {}, int64_t offset = 0);

// Finds a kernel in the module's table; nullptr when absent.
const gems_kernel_entry* find_kernel(const char* name);

// Runs kernel `name` and returns its status.
int run(const char* name, std::vector<gems_tensor> tensors, std::vector<gems_scalar> scalars = {});

inline gems_scalar f(double v) { return gems_scalar{v, static_cast<int64_t>(v)}; }
inline gems_scalar i(int64_t v) { return gems_scalar{static_cast<double>(v), v}; }

// Kernels that kernel_references.cpp can check, and the check itself.
bool has_reference(const std::string& kernel);
void check_against_reference(const std::string& kernel);

}  // namespace gems_test
