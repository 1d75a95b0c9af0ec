// A caching, stream-aware device allocator. Freed blocks are kept per device
// in size-ordered pools and reused without a vendor call; a block used on other
// streams (recordStream) becomes reusable only once events recorded on those
// streams have completed, as in PyTorch's CUDA caching allocator.
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "gems_device.h"

namespace gems {
namespace {

using c10::CachingDeviceAllocator::DeviceStats;

constexpr size_t kRound = 512;          // every block is a multiple of this
constexpr size_t kLargeRound = 2 << 20;  // blocks above 1 MiB round to 2 MiB

size_t round_size(size_t n) {
  if (n <= (1u << 20)) return std::max(kRound, (n + kRound - 1) / kRound * kRound);
  return (n + kLargeRound - 1) / kLargeRound * kLargeRound;
}

struct Block {
  c10::DeviceIndex device;
  size_t size;       // rounded
  size_t requested;  // asked for
  void* ptr;
  c10::StreamId stream;                 // the stream it was allocated on
  std::set<c10::StreamId> used_on;      // other streams (recordStream)
};

enum Stat { kAggregate = 0 };

class GemsCachingAllocator final : public c10::DeviceAllocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    const c10::DeviceIndex device = current_device();
    if (n == 0) return {nullptr, nullptr, &GemsCachingAllocator::deleter, c10::Device(kGems, device)};
    const c10::StreamId stream = current_stream(device).id();
    const size_t size = round_size(n);
    Block* b = nullptr;
    {
      std::lock_guard<std::mutex> g(mutex_);
      process_pending_events();
      auto& pool = free_[device];
      // Best fit among blocks of this stream; no splitting keeps it simple
      // and the rounding above bounds the waste.
      for (auto it = pool.lower_bound({size, nullptr}); it != pool.end() && it->first <= size * 2; ++it) {
        Block* cand = blocks_.at(it->second);
        if (cand->stream != stream) continue;
        b = cand;
        pool.erase(it);
        break;
      }
    }
    if (!b) {
      void* ptr = nullptr;
      int status = api().malloc(device, size, &ptr);
      if (status == GEMS_OUT_OF_MEMORY) {  // give the cache back and retry once
        empty_cache_device(device);
        std::lock_guard<std::mutex> g(mutex_);
        stats_[device].num_alloc_retries++;
        status = api().malloc(device, size, &ptr);
      }
      if (status != GEMS_OK) {
        std::lock_guard<std::mutex> g(mutex_);
        stats_[device].num_ooms++;
        TORCH_CHECK_WITH(OutOfMemoryError, false, "gems out of memory: tried to allocate ", n, " bytes on gems:",
                         static_cast<int>(device), " (", api().last_error(), ")");
      }
      b = new Block{device, size, n, ptr, stream, {}};
      std::lock_guard<std::mutex> g(mutex_);
      blocks_[ptr] = b;
      auto& st = stats_[device];
      st.segment[kAggregate].increase(1);
      st.reserved_bytes[kAggregate].increase(size);
      st.num_device_alloc++;
    }
    {
      std::lock_guard<std::mutex> g(mutex_);
      b->requested = n;
      auto& st = stats_[device];
      st.allocation[kAggregate].increase(1);
      st.active[kAggregate].increase(1);
      st.allocated_bytes[kAggregate].increase(b->size);
      st.active_bytes[kAggregate].increase(b->size);
      st.requested_bytes[kAggregate].increase(n);
    }
    return {b->ptr, b->ptr, &GemsCachingAllocator::deleter, c10::Device(kGems, device)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &GemsCachingAllocator::deleter; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    check(api().memcpy(dest, src, count, GEMS_MEMCPY_DEVICE_TO_DEVICE), "memcpy");
  }

  bool initialized() override { return true; }

  void emptyCache(c10::MempoolId_t = {0, 0}) override {
    for (c10::DeviceIndex d = 0; d < device_count(); ++d) empty_cache_device(d);
  }

  void recordStream(const c10::DataPtr& ptr, c10::Stream stream) override {
    if (!ptr.get()) return;
    std::lock_guard<std::mutex> g(mutex_);
    auto it = blocks_.find(ptr.get());
    if (it == blocks_.end() || stream.id() == it->second->stream) return;
    it->second->used_on.insert(stream.id());
  }

  DeviceStats getDeviceStats(c10::DeviceIndex device) override {
    std::lock_guard<std::mutex> g(mutex_);
    return stats_[device];
  }

  void resetAccumulatedStats(c10::DeviceIndex device) override {
    std::lock_guard<std::mutex> g(mutex_);
    auto& st = stats_[device];
    for (auto* arr : {&st.allocation, &st.segment, &st.active, &st.allocated_bytes, &st.reserved_bytes,
                      &st.active_bytes, &st.requested_bytes})
      for (auto& s : *arr) s.reset_accumulated();
    st.num_alloc_retries = st.num_ooms = 0;
  }

  void resetPeakStats(c10::DeviceIndex device) override {
    std::lock_guard<std::mutex> g(mutex_);
    auto& st = stats_[device];
    for (auto* arr : {&st.allocation, &st.segment, &st.active, &st.allocated_bytes, &st.reserved_bytes,
                      &st.active_bytes, &st.requested_bytes})
      for (auto& s : *arr) s.reset_peak();
  }

  void free_block(void* ptr) {
    std::lock_guard<std::mutex> g(mutex_);
    auto it = blocks_.find(ptr);
    TORCH_INTERNAL_ASSERT(it != blocks_.end(), "gems allocator: free of an unknown pointer");
    Block* b = it->second;
    auto& st = stats_[b->device];
    st.allocation[kAggregate].decrease(1);
    st.active[kAggregate].decrease(1);
    st.allocated_bytes[kAggregate].decrease(b->size);
    st.active_bytes[kAggregate].decrease(b->size);
    st.requested_bytes[kAggregate].decrease(b->requested);
    if (b->used_on.empty()) {
      free_[b->device].insert({b->size, b->ptr});
      return;
    }
    // Reuse must wait until the other streams are done with the block.
    for (c10::StreamId s : b->used_on) {
      void* event = nullptr;
      check(api().event_create(b->device, 0, &event), "event_create");
      check(api().event_record(event, vendor_stream(c10::Stream(c10::Stream::UNSAFE, c10::Device(kGems, b->device), s))),
            "event_record");
      pending_.push_back({event, b});
    }
    b->used_on.clear();
  }

 private:
  static void deleter(void* ptr) {
    if (ptr) static_cast<GemsCachingAllocator*>(allocator())->free_block(ptr);
  }

  // Moves blocks whose pending events all completed back into the pools.
  void process_pending_events() {
    std::unordered_map<Block*, bool> busy;
    for (auto& [event, block] : pending_) {
      int32_t done = 0;
      api().event_query(event, &done);
      busy[block] |= !done;
    }
    std::vector<std::pair<void*, Block*>> keep;
    for (auto& [event, block] : pending_) {
      if (busy[block]) { keep.push_back({event, block}); continue; }
      api().event_destroy(event);
    }
    for (auto& [block, is_busy] : busy)
      if (!is_busy) free_[block->device].insert({block->size, block->ptr});
    pending_.swap(keep);
  }

  void empty_cache_device(c10::DeviceIndex device) {
    std::lock_guard<std::mutex> g(mutex_);
    auto& pool = free_[device];
    for (auto& [size, ptr] : pool) {
      Block* b = blocks_.at(ptr);
      api().free(device, ptr);
      auto& st = stats_[device];
      st.segment[kAggregate].decrease(1);
      st.reserved_bytes[kAggregate].decrease(b->size);
      st.num_device_free++;
      blocks_.erase(ptr);
      delete b;
    }
    pool.clear();
  }

  std::mutex mutex_;
  std::unordered_map<void*, Block*> blocks_;
  std::map<c10::DeviceIndex, std::set<std::pair<size_t, void*>>> free_;
  std::map<c10::DeviceIndex, DeviceStats> stats_;
  std::vector<std::pair<void*, Block*>> pending_;
};

// Pinned host memory for fast (and, on accelerators, async) host copies. Its
// live blocks are kept by start, so that is_pinned() can tell whether any
// pointer (a slice's too) lies in one.
class GemsHostAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    void* ptr = nullptr;
    if (n) {
      check(api().host_malloc(n, &ptr), "host_malloc");
      std::lock_guard<std::mutex> g(mutex());
      blocks()[static_cast<const char*>(ptr)] = n;
    }
    return {ptr, ptr, &GemsHostAllocator::deleter, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &GemsHostAllocator::deleter; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }

  static bool owns(const void* p) {
    const char* c = static_cast<const char*>(p);
    std::lock_guard<std::mutex> g(mutex());
    auto it = blocks().upper_bound(c);  // the first block starting after p
    if (it == blocks().begin()) return false;
    --it;
    return c < it->first + it->second;
  }

 private:
  static std::mutex& mutex() {
    static auto* m = new std::mutex();
    return *m;
  }
  static std::map<const char*, size_t>& blocks() {
    static auto* b = new std::map<const char*, size_t>();
    return *b;
  }
  static void deleter(void* ptr) {
    if (!ptr) return;
    {
      std::lock_guard<std::mutex> g(mutex());
      blocks().erase(static_cast<const char*>(ptr));
    }
    api().host_free(ptr);
  }
};

}  // namespace

// Leaked on purpose: tensors may be freed during interpreter teardown, after
// static destructors would have run.
c10::DeviceAllocator* allocator() {
  static auto* a = new GemsCachingAllocator();
  return a;
}
c10::Allocator* host_allocator() {
  static auto* a = new GemsHostAllocator();
  return a;
}
bool is_pinned_host_memory(const void* ptr) { return ptr && GemsHostAllocator::owns(ptr); }

namespace {
struct RegisterAllocator {
  RegisterAllocator() { c10::SetAllocator(kGems, allocator()); }
} g_register_allocator;
}  // namespace

}  // namespace gems
