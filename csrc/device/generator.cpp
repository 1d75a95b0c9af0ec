// Per-device random generators and the PrivateUse1 hooks that expose them (and
// device facts) to PyTorch. A generator is a (seed, offset) pair: vendor RNG
// kernels are counter-based, so element i of a draw is a pure function of
// (seed, offset + i) and results are reproducible from torch.gems.manual_seed.
#include <ATen/Utils.h>
#include <ATen/core/GeneratorForPrivateuseone.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/GeneratorImpl.h>
#include <c10/core/TensorImpl.h>
#include <c10/util/CallOnce.h>

#include <ATen/ops/empty.h>

#include <deque>
#include <mutex>
#include <random>

#include "gems_device.h"

namespace gems {
namespace {

constexpr uint64_t kDefaultSeed = 67280421310721ull;  // PyTorch's default

class GemsGenerator final : public c10::GeneratorImpl {
 public:
  explicit GemsGenerator(c10::DeviceIndex device, uint64_t seed = kDefaultSeed)
      : c10::GeneratorImpl(c10::Device(kGems, device), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1)),
        seed_(seed) {}

  void set_current_seed(uint64_t seed) override { seed_ = seed; offset_ = 0; }
  uint64_t current_seed() const override { return seed_; }
  void set_offset(uint64_t offset) override { offset_ = offset; }
  uint64_t get_offset() const override { return offset_; }
  uint64_t seed() override {
    const uint64_t s = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
    set_current_seed(s);
    return s;
  }
  // State: 16 bytes, seed then offset, as a CPU uint8 tensor.
  c10::intrusive_ptr<c10::TensorImpl> get_state() const override {
    at::Tensor state = at::empty({16}, at::TensorOptions().dtype(at::kByte));
    uint64_t* p = reinterpret_cast<uint64_t*>(state.data_ptr<uint8_t>());
    p[0] = seed_;
    p[1] = offset_;
    return state.getIntrusivePtr();
  }
  void set_state(const c10::TensorImpl& state) override {
    TORCH_CHECK(state.numel() == 16 && state.dtype() == at::kByte,
                "RNG state must be a torch.ByteTensor of 16 bytes, got ", state.numel(), " elements");
    const uint64_t* p = static_cast<const uint64_t*>(state.data());
    seed_ = p[0];
    offset_ = p[1];
  }
  // Reserves count numbers; callers hold the generator's mutex.
  std::pair<uint64_t, uint64_t> reserve(uint64_t count) {
    const uint64_t off = offset_;
    offset_ += count;
    return {seed_, off};
  }
  static c10::DeviceType device_type() { return kGems; }

 private:
  GemsGenerator* clone_impl() const override {
    auto* g = new GemsGenerator(device().index(), seed_);
    g->offset_ = offset_;
    return g;
  }
  uint64_t seed_;
  uint64_t offset_ = 0;
};

std::deque<at::Generator>& default_generators() {
  static std::deque<at::Generator> gens;
  static c10::once_flag once;
  c10::call_once(once, [] {
    for (c10::DeviceIndex d = 0; d < device_count(); ++d) gens.push_back(at::make_generator<GemsGenerator>(d));
  });
  return gens;
}

}  // namespace

const at::Generator& default_generator(c10::DeviceIndex device) {
  if (device < 0) device = current_device();
  check_device_index(device);
  return default_generators()[device];
}

at::Generator make_generator(c10::DeviceIndex device) {
  if (device < 0) device = current_device();
  return at::make_generator<GemsGenerator>(device);
}

std::pair<uint64_t, uint64_t> reserve_random(const std::optional<at::Generator>& gen, c10::DeviceIndex device,
                                             uint64_t count) {
  auto* g = at::get_generator_or_default<GemsGenerator>(gen, default_generator(device));
  std::lock_guard<std::mutex> lock(g->mutex_);
  return g->reserve(count);
}

namespace {

struct GemsHooks final : public at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return device_count() > 0; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex device) const override {
    return default_generator(device);
  }
  at::Generator getNewGenerator(c10::DeviceIndex device) const override { return make_generator(device); }
  at::Device getDeviceFromPtr(void* data) const override {
    int32_t dev = -1;
    check(api().pointer_device(data, &dev), "pointer_device");
    TORCH_CHECK(dev >= 0, "gems: pointer ", data, " is not gems device memory");
    return at::Device(kGems, static_cast<c10::DeviceIndex>(dev));
  }
  bool isPinnedPtr(const void* ptr) const override { return is_pinned_host_memory(ptr); }
  at::Allocator* getPinnedMemoryAllocator() const override { return host_allocator(); }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  c10::DeviceIndex deviceCount() const override { return device_count(); }
  void setCurrentDevice(c10::DeviceIndex device) const override { set_device(device); }
  c10::DeviceIndex getCurrentDevice() const override { return current_device(); }
  c10::DeviceIndex exchangeDevice(c10::DeviceIndex device) const override {
    const c10::DeviceIndex old = current_device();
    set_device(device);
    return old;
  }
  c10::DeviceIndex maybeExchangeDevice(c10::DeviceIndex device) const override { return exchangeDevice(device); }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const override;
};

}  // namespace

void register_hooks() {
  static GemsHooks hooks;
  at::RegisterPrivateUse1HooksInterface(&hooks);
}

}  // namespace gems

namespace gems {
namespace {
// Storage.resize_() from Python: new memory, old bytes kept, as CUDA does.
void GemsHooks::resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const {
  c10::StorageImpl* impl = storage.unsafeGetStorageImpl();
  TORCH_CHECK(impl->resizable(), "Trying to resize storage that is not resizable");
  const size_t old = impl->nbytes();
  c10::DataPtr fresh = allocator()->allocate(newsize);
  const size_t keep = std::min(old, newsize);
  if (keep) check(api().memcpy(fresh.get(), impl->data(), keep, GEMS_MEMCPY_DEVICE_TO_DEVICE), "memcpy");
  impl->set_data_ptr_noswap(std::move(fresh));
  impl->set_nbytes(newsize);
}
}  // namespace
}  // namespace gems
