// The gems device inside PyTorch: the pieces a PrivateUse1 backend provides
// (allocator, guard, streams, events, generators, hooks) share this header.
#pragma once
#include <ATen/core/Generator.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/Device.h>
#include <c10/core/Stream.h>

#include "../vendor/vendor_loader.h"

namespace gems {

constexpr c10::DeviceType kGems = c10::DeviceType::PrivateUse1;

// The vendor's table, loaded on first use.
inline const gems_vendor_api& api() { return vendor().api; }

// Runs a vendor runtime call and raises a c10::Error naming `what` on failure.
void check(int status, const char* what);

c10::DeviceIndex device_count();
c10::DeviceIndex current_device();
void set_device(c10::DeviceIndex index);
// Raises the error PyTorch gives for a device index out of range.
void check_device_index(c10::DeviceIndex index);

// Streams: id 0 is each device's default stream (the vendor's NULL stream);
// other ids name streams the core created through the vendor.
c10::Stream current_stream(c10::DeviceIndex device);
c10::Stream default_stream(c10::DeviceIndex device);
c10::Stream new_stream(c10::DeviceIndex device, int priority);
void set_current_stream(const c10::Stream& s);
void* vendor_stream(const c10::Stream& s);
void* vendor_current_stream(c10::DeviceIndex device);

// The caching allocator (allocator.cpp).
c10::DeviceAllocator* allocator();
c10::Allocator* host_allocator();
// Whether ptr lies in memory host_allocator() handed out (Tensor.is_pinned()).
bool is_pinned_host_memory(const void* ptr);

// Per-device default generators (generator.cpp).
const at::Generator& default_generator(c10::DeviceIndex device);
at::Generator make_generator(c10::DeviceIndex device);
// Reserves `count` random numbers from gen: returns (seed, counter offset).
std::pair<uint64_t, uint64_t> reserve_random(const std::optional<at::Generator>& gen, c10::DeviceIndex device,
                                             uint64_t count);

// Registers the PrivateUse1 hooks (generator.cpp); called once at import.
void register_hooks();

}  // namespace gems
