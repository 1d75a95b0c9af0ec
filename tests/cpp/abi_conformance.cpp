// ABI conformance of a vendor module: the entry point, the runtime (memory,
// copies, streams, events, errors) and every kernel in its table.
#include <dlfcn.h>

#include <set>

#include "module_under_test.h"

namespace gems_test {

std::string g_module_path;

namespace {
gems_vendor_init_fn load_init() {
  void* handle = dlopen(g_module_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return nullptr;
  return reinterpret_cast<gems_vendor_init_fn>(dlsym(handle, GEMS_VENDOR_INIT_SYMBOL));
}
}  // namespace

const gems_vendor_api& api() {
  static gems_vendor_api table = [] {
    gems_vendor_api t{};
    gems_vendor_init_fn init = load_init();
    if (!init) ADD_FAILURE() << "cannot load " << g_module_path << ": " << dlerror();
    else EXPECT_EQ(init(GEMS_VENDOR_ABI_VERSION, nullptr, &t), GEMS_OK);
    return t;
  }();
  return table;
}

bool has_device() {
  int32_t n = 0;
  return api().device_count && api().device_count(&n) == GEMS_OK && n > 0;
}

gems_tensor tensor(const DeviceBuffer& buf, int32_t dtype, std::vector<int64_t> sizes, std::vector<int64_t> strides,
                   int64_t offset) {
  gems_tensor t{};
  t.data = buf.get();
  t.offset = offset;
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(sizes.size());
  int64_t s = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.sizes[d] = sizes[d];
    t.strides[d] = strides.empty() ? s : strides[d];
    s *= sizes[d];
  }
  return t;
}

const gems_kernel_entry* find_kernel(const char* name) {
  for (int32_t k = 0; k < api().num_kernels; ++k)
    if (std::strcmp(api().kernels[k].name, name) == 0) return &api().kernels[k];
  return nullptr;
}

int run(const char* name, std::vector<gems_tensor> tensors, std::vector<gems_scalar> scalars) {
  const gems_kernel_entry* k = find_kernel(name);
  if (!k) return GEMS_UNSUPPORTED;
  gems_kernel_call call{tensors.data(), static_cast<int32_t>(tensors.size()), scalars.data(),
                        static_cast<int32_t>(scalars.size()), nullptr, 0};
  return k->fn(&call);
}

namespace {

#define REQUIRE_DEVICE() \
  if (!has_device()) GTEST_SKIP() << "the module reports no device on this machine"

TEST(Entry, FillsAVersionedTable) {
  const gems_vendor_api& a = api();
  EXPECT_EQ(a.abi_version, GEMS_VENDOR_ABI_VERSION);
  EXPECT_GE(a.struct_size, sizeof(gems_vendor_api));
  ASSERT_NE(a.name, nullptr);
  EXPECT_TRUE(std::set<std::string>({"cpu", "nvidia", "amd", "intel"}).count(a.name)) << a.name;
  const void* const fns[] = {
      (void*)a.device_count, (void*)a.set_device, (void*)a.get_device, (void*)a.device_synchronize,
      (void*)a.device_name, (void*)a.malloc, (void*)a.free, (void*)a.host_malloc, (void*)a.host_free,
      (void*)a.memcpy, (void*)a.memcpy_async, (void*)a.memset, (void*)a.pointer_device, (void*)a.stream_create,
      (void*)a.stream_destroy, (void*)a.stream_synchronize, (void*)a.stream_query, (void*)a.stream_wait_event,
      (void*)a.event_create, (void*)a.event_destroy, (void*)a.event_record, (void*)a.event_query,
      (void*)a.event_synchronize, (void*)a.event_elapsed_ms, (void*)a.last_error};
  for (const void* fn : fns) EXPECT_NE(fn, nullptr);
}

TEST(Entry, RefusesAnotherAbiVersionAndReportsItsOwn) {
  gems_vendor_init_fn init = load_init();
  ASSERT_NE(init, nullptr);
  gems_vendor_api t{};
  EXPECT_EQ(init(GEMS_VENDOR_ABI_VERSION + 100, nullptr, &t), GEMS_UNSUPPORTED);
  EXPECT_EQ(t.abi_version, GEMS_VENDOR_ABI_VERSION);
}

TEST(Entry, KernelTableIsWellFormed) {
  std::set<std::string> names;
  for (int32_t k = 0; k < api().num_kernels; ++k) {
    const gems_kernel_entry& e = api().kernels[k];
    ASSERT_NE(e.name, nullptr);
    EXPECT_NE(e.fn, nullptr) << e.name;
    EXPECT_NE(e.dtype_mask, 0u) << e.name;
    EXPECT_EQ(e.dtype_mask & ~((1u << GEMS_DTYPE_COUNT) - 1), 0u) << e.name;
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate kernel " << e.name;
  }
}

TEST(Runtime, DevicesAndErrors) {
  REQUIRE_DEVICE();
  int32_t n = 0, d = -1;
  ASSERT_EQ(api().device_count(&n), GEMS_OK);
  ASSERT_EQ(api().set_device(0), GEMS_OK);
  ASSERT_EQ(api().get_device(&d), GEMS_OK);
  EXPECT_EQ(d, 0);
  EXPECT_NE(api().set_device(n + 5), GEMS_OK);
  EXPECT_GT(std::strlen(api().last_error()), 0u);
  char name[128] = {0};
  EXPECT_EQ(api().device_name(0, name, sizeof(name)), GEMS_OK);
  EXPECT_GT(std::strlen(name), 0u);
}

TEST(Runtime, MemoryRoundTripInEveryDirection) {
  REQUIRE_DEVICE();
  std::vector<float> host(1000);
  for (size_t k = 0; k < host.size(); ++k) host[k] = static_cast<float>(k) * 0.5f;
  DeviceBuffer a(host), b(host.size() * sizeof(float));
  ASSERT_EQ(api().memcpy(b.get(), a.get(), 4000, GEMS_MEMCPY_DEVICE_TO_DEVICE), GEMS_OK);
  EXPECT_EQ(b.read<float>(), host);
  ASSERT_EQ(api().memset(b.get(), 0, 4000, nullptr), GEMS_OK);
  ASSERT_EQ(api().device_synchronize(0), GEMS_OK);
  EXPECT_EQ(b.read<float>(), std::vector<float>(1000, 0.0f));
  int32_t dev = -2;
  ASSERT_EQ(api().pointer_device(a.get(), &dev), GEMS_OK);
  EXPECT_EQ(dev, 0);
  ASSERT_EQ(api().pointer_device(host.data(), &dev), GEMS_OK);
  EXPECT_EQ(dev, -1);
  void* pinned = nullptr;
  ASSERT_EQ(api().host_malloc(4000, &pinned), GEMS_OK);
  void* stream = nullptr;
  ASSERT_EQ(api().stream_create(0, 0, &stream), GEMS_OK);
  ASSERT_EQ(api().memcpy_async(pinned, a.get(), 4000, GEMS_MEMCPY_DEVICE_TO_HOST, stream), GEMS_OK);
  ASSERT_EQ(api().stream_synchronize(stream), GEMS_OK);
  EXPECT_EQ(std::memcmp(pinned, host.data(), 4000), 0);
  EXPECT_EQ(api().stream_destroy(stream), GEMS_OK);
  EXPECT_EQ(api().host_free(pinned), GEMS_OK);
}

TEST(Runtime, OutOfMemoryIsReportedNotFatal) {
  REQUIRE_DEVICE();
  void* p = nullptr;
  EXPECT_EQ(api().malloc(0, size_t{1} << 62, &p), GEMS_OUT_OF_MEMORY);
  EXPECT_GT(std::strlen(api().last_error()), 0u);
}

TEST(Runtime, StreamsAndEvents) {
  REQUIRE_DEVICE();
  void *s = nullptr, *e0 = nullptr, *e1 = nullptr, *plain = nullptr;
  ASSERT_EQ(api().stream_create(0, 0, &s), GEMS_OK);
  ASSERT_EQ(api().event_create(0, 1, &e0), GEMS_OK);
  ASSERT_EQ(api().event_create(0, 1, &e1), GEMS_OK);
  ASSERT_EQ(api().event_create(0, 0, &plain), GEMS_OK);
  ASSERT_EQ(api().event_record(e0, s), GEMS_OK);
  ASSERT_EQ(api().event_record(e1, s), GEMS_OK);
  ASSERT_EQ(api().event_record(plain, s), GEMS_OK);
  ASSERT_EQ(api().stream_wait_event(nullptr, e1), GEMS_OK);
  ASSERT_EQ(api().event_synchronize(e1), GEMS_OK);
  int32_t done = 0;
  ASSERT_EQ(api().event_query(e1, &done), GEMS_OK);
  EXPECT_EQ(done, 1);
  ASSERT_EQ(api().stream_query(s, &done), GEMS_OK);
  EXPECT_EQ(done, 1);
  float ms = -1;
  ASSERT_EQ(api().event_elapsed_ms(e0, e1, &ms), GEMS_OK);
  EXPECT_GE(ms, 0.0f);
  EXPECT_NE(api().event_elapsed_ms(e0, plain, &ms), GEMS_OK);  // no timing on `plain`
  for (void* e : {e0, e1, plain}) EXPECT_EQ(api().event_destroy(e), GEMS_OK);
  EXPECT_EQ(api().stream_destroy(s), GEMS_OK);
}

// One test per kernel of the module's table, each against a host reference.
class KernelConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelConformance, MatchesReference) {
  if (GetParam() == "<none>") GTEST_SKIP() << "the module's kernel table is empty";
  REQUIRE_DEVICE();
  ASSERT_TRUE(has_reference(GetParam())) << "the suite has no reference for kernel '" << GetParam()
                                         << "': add one to tests/cpp/kernel_references.cpp";
  check_against_reference(GetParam());
}

std::vector<std::string> kernel_names() {
  std::vector<std::string> names;
  for (int32_t k = 0; k < api().num_kernels; ++k) names.push_back(api().kernels[k].name);
  if (names.empty()) names.push_back("<none>");
  return names;
}

INSTANTIATE_TEST_SUITE_P(Table, KernelConformance, ::testing::ValuesIn(kernel_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param == "<none>" ? std::string("empty_table") : p.param;
                         });

}  // namespace
}  // namespace gems_test

int main(int argc, char** argv) {
  // The module path must be known before InitGoogleTest, which instantiates
  // the per-kernel tests from the module's table.
  for (int a = 1; a < argc; ++a)
    if (argv[a][0] != '-') { gems_test::g_module_path = argv[a]; break; }
  if (gems_test::g_module_path.empty()) {
    std::fprintf(stderr, "usage: %s path/to/libgems_vendor_X.so [gtest flags]\n", argv[0]);
    return 2;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
