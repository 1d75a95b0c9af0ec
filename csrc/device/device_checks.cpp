#include "device_checks.h"

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/Event.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "gems_device.h"

namespace gems {
namespace {

// At most this many checks wait at once: one more first judges them all (the
// oldest are long done by then), so a loop that never syncs stays bounded.
constexpr int64_t kSlots = 256;

struct Pending {
  int64_t slot;  // row of the pinned buffer its values land in
  c10::Event copied{kGems};
  DeviceCheckVerdict verdict;
};

std::mutex g_mutex;
std::vector<Pending> g_pending;  // queued, in order
bool g_busy[kSlots] = {};        // slots whose values are not judged yet
std::atomic<size_t> g_count{0};  // g_pending.size(), read without the lock
bool g_defer_on_host = false;

// [kSlots, kDeviceCheckValues] doubles of pinned memory, made once: pinning
// memory is slow, and a check's copy must not make the host wait. From the
// gems host allocator itself (pinned_memory(true) may take CUDA's when torch
// has CUDA), so that copies know it pinned and do not wait.
const at::Tensor& slots() {
  static const at::Tensor* buffer = new at::Tensor(at::detail::empty_generic(
      {kSlots, kDeviceCheckValues}, host_allocator(), c10::DispatchKeySet(c10::DispatchKey::CPU), at::kDouble,
      std::nullopt));
  TORCH_INTERNAL_ASSERT(is_pinned_host_memory(buffer->const_data_ptr()));
  return *buffer;
}

bool defer() { return g_defer_on_host || api().memory_kind != GEMS_MEMORY_HOST; }

int64_t reserve_slot() {
  if (g_count.load() >= static_cast<size_t>(kSlots)) run_device_checks();
  std::lock_guard<std::mutex> g(g_mutex);
  for (int64_t s = 0; s < kSlots; ++s) {
    if (!g_busy[s]) {
      g_busy[s] = true;
      return s;
    }
  }
  TORCH_INTERNAL_ASSERT(false, "gems: no free device-check slot");
}

}  // namespace

void set_defer_device_checks(bool defer_on_host) { g_defer_on_host = defer_on_host; }

void check_on_device(const at::Tensor& values, DeviceCheckVerdict verdict) {
  TORCH_INTERNAL_ASSERT(values.numel() <= kDeviceCheckValues && values.device().type() == kGems);
  const at::Tensor v = values.to(at::kDouble).reshape({-1});
  if (!defer()) {
    const at::Tensor host = v.cpu();
    verdict(host.const_data_ptr<double>());
    return;
  }
  // The copy and its event outside the lock: copies may judge queued checks.
  Pending p{reserve_slot(), c10::Event(kGems), std::move(verdict)};
  slots()[p.slot].narrow(0, 0, v.numel()).copy_(v, /*non_blocking=*/true);
  p.copied.record(current_stream(v.device().index()));
  std::lock_guard<std::mutex> g(g_mutex);
  g_pending.push_back(std::move(p));
  g_count.store(g_pending.size());
}

namespace {
// The error a kernel recorded on the device since the last wait, if any.
gems_kernel_error take_kernel_error() {
  gems_kernel_error e{};
  if (api().take_kernel_error) check(api().take_kernel_error(&e), "take_kernel_error");
  return e;
}

// Raises it in the words the cpu vendor's kernels use (RuntimeError, as the
// device-side assert of PyTorch's CUDA kernels surfaces).
void raise_kernel_error(const gems_kernel_error& e) {
  constexpr const char* kWhere = " (found by a kernel on the device, reported at this wait)";
  switch (e.kind) {
    case GEMS_KERNEL_ERROR_NONE: return;
    case GEMS_KERNEL_ERROR_INDEX:
      if (e.values[1] < 0)
        TORCH_CHECK(false, "index out of range in self: index ", e.values[0], " is out of bounds for dimension with size ",
                    e.values[2], kWhere);
      TORCH_CHECK(false, "index ", e.values[0], " is out of bounds for dimension ", e.values[1], " with size ",
                  e.values[2], kWhere);
    case GEMS_KERNEL_ERROR_TARGET: TORCH_CHECK(false, "Target ", e.values[0], " is out of bounds.", kWhere);
    default: TORCH_CHECK(false, "gems: a kernel recorded an error of unknown kind ", e.kind);
  }
}
}  // namespace

void run_device_checks() {
  // Waiting for a check's event is itself a wait that lands here: judge once.
  static thread_local bool judging = false;
  if (judging) return;
  judging = true;
  const struct Reset { ~Reset() { judging = false; } } reset;
  // Queued checks are judged first: they were made before the launches they
  // guard (scatter_add's range, then its kernel), so theirs is the error that
  // names the user's index; a kernel's record from the same failure is dropped.
  const gems_kernel_error kernel_error = take_kernel_error();
  if (g_count.load() != 0) {
    std::vector<Pending> due;
    {
      std::lock_guard<std::mutex> g(g_mutex);
      due.swap(g_pending);
      g_count.store(0);
    }
    for (Pending& p : due) p.copied.synchronize();
    std::vector<double> values(due.size() * kDeviceCheckValues);
    {
      std::lock_guard<std::mutex> g(g_mutex);
      for (size_t i = 0; i < due.size(); ++i) {
        std::copy_n(slots()[due[i].slot].const_data_ptr<double>(), kDeviceCheckValues, &values[i * kDeviceCheckValues]);
        g_busy[due[i].slot] = false;
      }
    }
    for (size_t i = 0; i < due.size(); ++i) due[i].verdict(&values[i * kDeviceCheckValues]);
  }
  raise_kernel_error(kernel_error);
}

}  // namespace gems
