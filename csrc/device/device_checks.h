// Checks of values that live on a device (an index tensor's range, a
// distribution's validity) without making the host wait for them: the values
// are copied back in the background and judged at the host's next wait for a
// device, the way PyTorch's CUDA kernels assert in the background instead of
// returning to the host. Vendors whose memory is host memory judge at once.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>

namespace gems {

// Throws PyTorch's error for bad values; gets them as doubles, in order.
using DeviceCheckVerdict = std::function<void(const double* values)>;

// Queues a check of `values` (at most kDeviceCheckValues elements on a gems
// device, any numeric dtype): `verdict` runs on them at the next wait.
constexpr int64_t kDeviceCheckValues = 4;
void check_on_device(const at::Tensor& values, DeviceCheckVerdict verdict);

// Raises an error a kernel recorded on the device (an index out of range, on
// a vendor whose kernels cannot return it: gems_vendor_api.take_kernel_error),
// then judges every queued check (waiting for its values first) and throws the
// first failure, dropping the rest. Called wherever the host waits for a
// device: copies to the host (item() too), synchronize of devices, streams and
// events. Costs a vendor call and an atomic load when nothing is pending.
void run_device_checks();

// Tests: queue checks on host-memory vendors too (they judge at once otherwise).
void set_defer_device_checks(bool defer);

}  // namespace gems
