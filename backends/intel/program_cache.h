// An on-disk cache of the programs a device compiled from the intel vendor's
// SPIR-V, keyed by the SPIR-V's bytes and the device and driver that compiled
// it: $GEMS_CACHE_DIR, else $XDG_CACHE_HOME/flag_gems, else ~/.cache/flag_gems.
// GEMS_INTEL_PROGRAM_CACHE=0 turns it off.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace gems::intel {

std::string program_cache_key(const unsigned char* spirv, size_t size, const std::string& device);
bool program_cache_read(const std::string& key, std::vector<unsigned char>* binary);
void program_cache_write(const std::string& key, const std::vector<unsigned char>& binary);

}  // namespace gems::intel
