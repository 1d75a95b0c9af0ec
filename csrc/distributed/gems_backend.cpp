// torch.distributed on gems tensors: a c10d backend for the PrivateUse1
// device that hands every collective to the communication library PyTorch
// already trusts for the memory the vendor's tensors live in: Gloo for host
// memory (the cpu vendor), NCCL for CUDA memory (nvidia). No transport of our
// own: each gems tensor becomes a native tensor over the same memory (the
// fallback's zero-copy view), the inner backend reduces into it in place, and
// its Work is returned as it is. Ordering with gems streams needs nothing
// here: on nvidia torch's current CUDA stream is the current gems stream
// (csrc/device/device.cpp), and NCCL orders its work after that stream and
// makes it wait in Work.wait() and Future.wait().
//
// The inner backend is made in Python (flag_gems/distributed.py) with the same
// store, rank, size and timeout, and wrapped here.
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/utils/pybind.h>

#include "../device/gems_device.h"
#include "../dispatch/fallback.h"

namespace gems {
namespace {

class GemsBackend final : public c10d::Backend {
 public:
  GemsBackend(c10::intrusive_ptr<c10d::Backend> inner, c10::DeviceType native)
      : c10d::Backend(inner->getRank(), inner->getSize()), inner_(std::move(inner)), native_(native) {}

  const std::string getBackendName() const override { return "gems:" + inner_->getBackendName(); }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) override {
    auto v = views(t);
    return inner_->broadcast(v, o);
  }
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) override {
    auto v = views(t);
    return inner_->allreduce(v, o);
  }
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(std::vector<at::Tensor>& t,
                                                     const c10d::AllreduceCoalescedOptions& o) override {
    auto v = views(t);
    return inner_->allreduce_coalesced(v, o);
  }
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& t, const c10d::ReduceOptions& o) override {
    auto v = views(t);
    return inner_->reduce(v, o);
  }
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in,
                                           const c10d::AllgatherOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->allgather(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& out, at::Tensor& in,
                                                 const c10d::AllgatherOptions& o) override {
    at::Tensor vo = view(out), vi = view(in);
    return inner_->_allgather_base(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> allgather_coalesced(std::vector<std::vector<at::Tensor>>& out,
                                                     std::vector<at::Tensor>& in,
                                                     const c10d::AllgatherOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->allgather_coalesced(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> allgather_into_tensor_coalesced(std::vector<at::Tensor>& out,
                                                                 std::vector<at::Tensor>& in,
                                                                 const c10d::AllgatherOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->allgather_into_tensor_coalesced(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in,
                                        const c10d::GatherOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->gather(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& out, std::vector<std::vector<at::Tensor>>& in,
                                         const c10d::ScatterOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->scatter(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& out,
                                                std::vector<std::vector<at::Tensor>>& in,
                                                const c10d::ReduceScatterOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->reduce_scatter(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& out, at::Tensor& in,
                                                      const c10d::ReduceScatterOptions& o) override {
    at::Tensor vo = view(out), vi = view(in);
    return inner_->_reduce_scatter_base(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> reduce_scatter_tensor_coalesced(std::vector<at::Tensor>& out,
                                                                 std::vector<at::Tensor>& in,
                                                                 const c10d::ReduceScatterOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->reduce_scatter_tensor_coalesced(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor& out, at::Tensor& in, std::vector<int64_t>& out_splits,
                                               std::vector<int64_t>& in_splits,
                                               const c10d::AllToAllOptions& o) override {
    at::Tensor vo = view(out), vi = view(in);
    return inner_->alltoall_base(vo, vi, out_splits, in_splits, o);
  }
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>& out, std::vector<at::Tensor>& in,
                                          const c10d::AllToAllOptions& o) override {
    auto vo = views(out);
    auto vi = views(in);
    return inner_->alltoall(vo, vi, o);
  }
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& t, int dst, int tag) override {
    auto v = views(t);
    return inner_->send(v, dst, tag);
  }
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& t, int src, int tag) override {
    auto v = views(t);
    return inner_->recv(v, src, tag);
  }
  c10::intrusive_ptr<c10d::Work> recvAnysource(std::vector<at::Tensor>& t, int tag) override {
    auto v = views(t);
    return inner_->recvAnysource(v, tag);
  }
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& o) override { return inner_->barrier(o); }
  void startCoalescing() override { inner_->startCoalescing(); }
  c10::intrusive_ptr<c10d::Work> endCoalescing() override { return inner_->endCoalescing(); }
  bool supportsCoalescing() const override { return inner_->supportsCoalescing(); }
  void setTimeout(std::chrono::milliseconds timeout) override { inner_->setTimeout(timeout); }
  // Sequence numbers: TORCH_DISTRIBUTED_DEBUG=DETAIL's wrapper (which checks
  // every collective's shapes across ranks before it runs) requires them.
  void setSequenceNumberForGroup() override { inner_->setSequenceNumberForGroup(); }
  uint64_t getSequenceNumberForGroup() override { return inner_->getSequenceNumberForGroup(); }
  void abort() override { inner_->abort(); }
  void shutdown() override { inner_->shutdown(); }

 private:
  // A gems tensor as a native tensor over its memory; others pass unchanged.
  at::Tensor view(const at::Tensor& t) const {
    if (!t.defined() || t.device().type() != kGems) return t;
    // The library reads and writes the memory itself after the gems work
    // queued before: host-memory vendors (cpu) run kernels in the calling
    // thread; NCCL waits for the current CUDA stream, the current gems one.
    return native_view(t, native_);
  }
  std::vector<at::Tensor> views(const std::vector<at::Tensor>& ts) const {
    std::vector<at::Tensor> out;
    out.reserve(ts.size());
    for (const at::Tensor& t : ts) out.push_back(view(t));
    return out;
  }
  std::vector<std::vector<at::Tensor>> views(const std::vector<std::vector<at::Tensor>>& lists) const {
    std::vector<std::vector<at::Tensor>> out;
    out.reserve(lists.size());
    for (const auto& l : lists) out.push_back(views(l));
    return out;
  }

  c10::intrusive_ptr<c10d::Backend> inner_;
  c10::DeviceType native_;
};

}  // namespace

void bind_distributed(pybind11::module& m) {
  m.def("_distributed_native_device", [] {
    const auto type = native_device_type();
    return type ? std::string(c10::DeviceTypeName(*type, /*lower_case=*/true)) : std::string();
  });
  m.def("_wrap_backend", [](const c10::intrusive_ptr<c10d::Backend>& inner) -> c10::intrusive_ptr<c10d::Backend> {
    const auto type = native_device_type();
    TORCH_CHECK(type, "gems: torch.distributed needs a vendor whose memory a native PyTorch backend reads (cpu, or "
                      "nvidia with a CUDA build of torch); the ", vendor().name, " vendor's is not");
    return c10::make_intrusive<GemsBackend>(inner, *type);
  });
}

}  // namespace gems
