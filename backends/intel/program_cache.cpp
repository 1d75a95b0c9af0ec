#include "program_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace gems::intel {
namespace {

uint64_t fnv1a(const unsigned char* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string cache_dir() {
  const char* off = std::getenv("GEMS_INTEL_PROGRAM_CACHE");
  if (off && std::string(off) == "0") return "";
  if (const char* d = std::getenv("GEMS_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/flag_gems";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/flag_gems";
  return "";
}

// mkdir -p; failures only mean no cache.
bool make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i)
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string program_cache_key(const unsigned char* spirv, size_t size, const std::string& device) {
  const uint64_t h = fnv1a(reinterpret_cast<const unsigned char*>(device.data()), device.size(), fnv1a(spirv, size));
  char buf[40];
  std::snprintf(buf, sizeof(buf), "intel-%016llx-%zu.bin", static_cast<unsigned long long>(h), size);
  return buf;
}

bool program_cache_read(const std::string& key, std::vector<unsigned char>* binary) {
  const std::string dir = cache_dir();
  if (dir.empty()) return false;
  std::ifstream f(dir + "/" + key, std::ios::binary);
  if (!f) return false;
  binary->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !binary->empty();
}

void program_cache_write(const std::string& key, const std::vector<unsigned char>& binary) {
  const std::string dir = cache_dir();
  if (dir.empty() || !make_dirs(dir)) return;
  // Written aside and renamed: a reader never sees half a file.
  const std::string tmp = dir + "/" + key + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(reinterpret_cast<const char*>(binary.data()), static_cast<std::streamsize>(binary.size()));
    if (!f) { std::remove(tmp.c_str()); return; }
  }
  if (std::rename(tmp.c_str(), (dir + "/" + key).c_str()) != 0) std::remove(tmp.c_str());
}

}  // namespace gems::intel
