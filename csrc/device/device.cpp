// Device indices, streams, events and the DeviceGuardImplInterface that lets
// PyTorch's generic code (guards, torch.accelerator, Stream/Event) drive them.
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/Exception.h>

#include <mutex>
#include <vector>

#include "device_checks.h"
#include "gems_device.h"

namespace gems {

void check(int status, const char* what) {
  if (status == GEMS_OK) return;
  TORCH_CHECK(false, "gems ", what, " failed on the ", vendor().name, " vendor: ", api().last_error());
}

c10::DeviceIndex device_count() { return static_cast<c10::DeviceIndex>(vendor().device_count); }

void check_device_index(c10::DeviceIndex index) {
  TORCH_CHECK(index >= 0 && index < device_count(), "Invalid device index ", static_cast<int>(index),
              ": the gems device count is ", static_cast<int>(device_count()));
}

namespace {
thread_local c10::DeviceIndex t_device = 0;

// Streams created through the vendor, per device; the index + 1 is the
// StreamId (0 is the default stream). Never destroyed: c10::Stream is a
// plain value and may outlive any owner.
std::mutex g_stream_mutex;
std::vector<std::vector<void*>>& streams() {
  static std::vector<std::vector<void*>> s;
  return s;
}
thread_local std::vector<c10::StreamId> t_current_streams;

c10::StreamId& current_stream_id(c10::DeviceIndex d) {
  check_device_index(d);
  if (t_current_streams.size() <= static_cast<size_t>(d)) t_current_streams.resize(device_count(), 0);
  return t_current_streams[d];
}
}  // namespace

c10::DeviceIndex current_device() { return t_device; }

void set_device(c10::DeviceIndex index) {
  check_device_index(index);
  if (index == t_device) return;
  check(api().set_device(index), "set_device");
  t_device = index;
}

c10::Stream default_stream(c10::DeviceIndex device) {
  return c10::Stream(c10::Stream::UNSAFE, c10::Device(kGems, device), 0);
}

c10::Stream current_stream(c10::DeviceIndex device) {
  if (device < 0) device = current_device();
  return c10::Stream(c10::Stream::UNSAFE, c10::Device(kGems, device), current_stream_id(device));
}

c10::Stream new_stream(c10::DeviceIndex device, int priority) {
  if (device < 0) device = current_device();
  check_device_index(device);
  void* handle = nullptr;
  check(api().stream_create(device, priority, &handle), "stream_create");
  std::lock_guard<std::mutex> g(g_stream_mutex);
  auto& all = streams();
  if (all.size() < static_cast<size_t>(device_count())) all.resize(device_count());
  all[device].push_back(handle);
  return c10::Stream(c10::Stream::UNSAFE, c10::Device(kGems, device), static_cast<c10::StreamId>(all[device].size()));
}

namespace {
// On a vendor whose memory is CUDA's (nvidia), a gems stream is a CUDA stream,
// and torch's current CUDA stream follows the current gems stream: CUDA work
// that runs on gems memory in place (the fallback's CUDA kernels, NCCL's
// collectives through the distributed backend, and their Work and Future
// waits, which make torch's current CUDA stream wait) is then ordered with the
// gems kernels of the same thread as they are among themselves. A CUDA stream
// that is not PyTorch's own has its handle as StreamId (c10's "external"
// streams); the default stream is 0 on both sides.
void follow_on_cuda(const c10::Stream& s) {
  static const bool cuda = vendor().api.memory_kind == GEMS_MEMORY_CUDA &&
                           c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA);
  if (!cuda) return;
  const auto id = static_cast<c10::StreamId>(reinterpret_cast<intptr_t>(vendor_stream(s)));
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)
      ->exchangeStream(c10::Stream(c10::Stream::UNSAFE, c10::Device(c10::DeviceType::CUDA, s.device_index()), id));
}
}  // namespace

void set_current_stream(const c10::Stream& s) {
  follow_on_cuda(s);  // first: an unknown stream raises with nothing changed
  current_stream_id(s.device_index()) = s.id();
}

void* vendor_stream(const c10::Stream& s) {
  if (s.id() == 0) return nullptr;
  std::lock_guard<std::mutex> g(g_stream_mutex);
  const auto& all = streams();
  TORCH_CHECK(static_cast<size_t>(s.device_index()) < all.size() &&
                  s.id() > 0 && static_cast<size_t>(s.id()) <= all[s.device_index()].size(),
              "gems: unknown stream id ", s.id(), " on device ", static_cast<int>(s.device_index()));
  return all[s.device_index()][s.id() - 1];
}

void* vendor_current_stream(c10::DeviceIndex device) { return vendor_stream(current_stream(device)); }

namespace {

struct GemsGuardImpl final : public c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kGems; }

  c10::Device exchangeDevice(c10::Device d) const override {
    const c10::Device old = getDevice();
    if (d.index() != old.index()) set_device(d.index());
    return old;
  }
  c10::Device getDevice() const override { return c10::Device(kGems, current_device()); }
  void setDevice(c10::Device d) const override { set_device(d.index()); }
  void uncheckedSetDevice(c10::Device d) const noexcept override {
    if (d.index() >= 0 && d.index() < device_count()) t_device = d.index();
  }
  c10::Stream getStream(c10::Device d) const override { return current_stream(d.index()); }
  c10::Stream getDefaultStream(c10::Device d) const override { return default_stream(d.index()); }
  c10::Stream getNewStream(c10::Device d, int priority = 0) const override { return new_stream(d.index(), priority); }
  c10::Stream getStreamFromGlobalPool(c10::Device d, bool = false) const override { return new_stream(d.index(), 0); }
  c10::Stream exchangeStream(c10::Stream s) const override {
    const c10::Stream old = current_stream(s.device_index());
    set_current_stream(s);
    return old;
  }
  c10::DeviceIndex deviceCount() const noexcept override {
    try { return device_count(); } catch (...) { return 0; }
  }

  // Events: the vendor handle is created lazily on first record.
  void record(void** event, const c10::Stream& stream, const c10::DeviceIndex device_index,
              const c10::EventFlag flag) const override {
    TORCH_CHECK(device_index == -1 || device_index == stream.device_index(),
                "Event device index ", static_cast<int>(device_index), " does not match recording stream's device index ",
                static_cast<int>(stream.device_index()), ".");
    if (!*event)
      check(api().event_create(stream.device_index(), flag == c10::EventFlag::BACKEND_DEFAULT, event), "event_create");
    check(api().event_record(*event, vendor_stream(stream)), "event_record");
  }
  void block(void* event, const c10::Stream& stream) const override {
    if (event) check(api().stream_wait_event(vendor_stream(stream), event), "stream_wait_event");
  }
  bool queryEvent(void* event) const override {
    if (!event) return true;
    int32_t done = 0;
    check(api().event_query(event, &done), "event_query");
    return done != 0;
  }
  void destroyEvent(void* event, const c10::DeviceIndex) const noexcept override {
    if (event) api().event_destroy(event);
  }
  void synchronizeEvent(void* event) const override {
    if (event) check(api().event_synchronize(event), "event_synchronize");
    run_device_checks();
  }
  double elapsedTime(void* start, void* end, const c10::DeviceIndex) const override {
    TORCH_CHECK(start && end, "Both events must be recorded before calculating elapsed time.");
    float ms = 0;
    check(api().event_elapsed_ms(start, end, &ms), "event_elapsed_ms");
    return ms;
  }
  bool queryStream(const c10::Stream& stream) const override {
    int32_t done = 0;
    check(api().stream_query(vendor_stream(stream), &done), "stream_query");
    return done != 0;
  }
  void synchronizeStream(const c10::Stream& stream) const override {
    check(api().stream_synchronize(vendor_stream(stream)), "stream_synchronize");
    run_device_checks();
  }
  void synchronizeDevice(const c10::DeviceIndex device_index) const override {
    check(api().device_synchronize(device_index < 0 ? current_device() : device_index), "device_synchronize");
    run_device_checks();
  }
  void recordDataPtrOnStream(const c10::DataPtr& data_ptr, const c10::Stream& stream) const override {
    allocator()->recordStream(data_ptr, stream);
  }
};

C10_REGISTER_GUARD_IMPL(PrivateUse1, GemsGuardImpl);

}  // namespace
}  // namespace gems
