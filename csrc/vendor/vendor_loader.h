// Chooses, loads and checks the one vendor module of this process.
// Plain C++ (no torch headers): the probe and the ABI checks are testable and
// cheap to compile; errors are std::runtime_error with a message that says
// which vendor, which file and what went wrong.
#pragma once
#include <string>
#include <vector>

#include "../../backends/abi/gems_vendor_abi.h"

namespace gems {

struct Vendor {
  gems_vendor_api api{};
  std::string name;  // canonical: cpu, nvidia, amd, intel
  std::string path;  // the shared library it came from
  int32_t device_count = 0;
};

// The vendor of this process, chosen on first use: GEMS_VENDOR if set, else
// the first of nvidia, amd, intel, cpu that loads and reports a device.
const Vendor& vendor();

// Canonical vendor name for a GEMS_VENDOR value (aliases accepted), or throws
// listing the valid names.
std::string canonical_vendor_name(const std::string& requested);

// Directory that holds the vendor modules (beside the core extension).
std::string vendor_module_dir();
std::string vendor_module_path(const std::string& canonical_name);

// Loads a module by path and returns its table without selecting it; used by
// tests and by the docs generator to list any module's kernels.
Vendor inspect_vendor_module(const std::string& path);

// Throws std::runtime_error("<what>: <vendor last_error>") when status != 0.
void vendor_check(int status, const char* what);

}  // namespace gems
