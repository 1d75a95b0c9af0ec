// Fused attention through cuDNN's SDPA graphs (the flash-attention engines
// NVIDIA tunes for each architecture), forward and backward, fp16 and bf16.
// A graph is built once per shape, layout, scale and mask kind and cached for
// the life of the process, like the GEMM algorithms in kernels_gemm.cu; of the
// plans cuDNN's heuristic builds for it, the fastest on the first call's own
// operands runs when GEMS_AUTOTUNE=1 (autotune.h); cuDNN's first otherwise. What
// cuDNN cannot run (a head dim it does not take, a misaligned operand, a bias
// gradient) is answered with GEMS_UNSUPPORTED, and the core composes the
// result from other kernels; a shape that failed is remembered too. Forward
// calls with a few query rows (decode) run kernels_attention_decode.cu instead.
#include <cstring>
#include <vector>

#include "cudnn_graph.h"
#include "kernels.h"
#include "runtime.h"

namespace gems::nvidia {
namespace {
using namespace cudnn;

// uids of the graphs' tensors in the variant pack.
enum Uid : int64_t { kQ = 1, kK, kV, kBias, kO, kStats, kdO, kdQ, kdK, kdV };

// cuDNN reads 16-byte vectors: rows must be dense and everything aligned.
bool aligned(const gems_tensor& t) {
  if (t.ndim != 4 || t.strides[3] != 1) return false;
  const int64_t vec = 16 / element_bytes(t.dtype);
  for (int d = 0; d < 3; ++d)
    if (t.sizes[d] > 1 && t.strides[d] % vec != 0) return false;
  const auto addr = reinterpret_cast<uintptr_t>(t.data) + t.offset * element_bytes(t.dtype);
  return addr % 16 == 0 && t.sizes[3] % vec == 0;
}

// The cache key: everything a graph depends on except the data pointers.
std::vector<int64_t> key_of(bool backward, double scale, bool causal, const gems_tensor* ts, int n) {
  // (attention's keys start with 0 or 1; convolutions' with 2 to 4: one cache)
  std::vector<int64_t> key = {backward, causal};
  int64_t scale_bits;
  std::memcpy(&scale_bits, &scale, sizeof(scale_bits));
  key.push_back(scale_bits);
  for (int i = 0; i < n; ++i) {
    key.push_back(ts[i].data ? ts[i].dtype : -1);
    for (int d = 0; d < ts[i].ndim; ++d) {
      key.push_back(ts[i].sizes[d]);
      key.push_back(ts[i].strides[d]);
    }
  }
  return key;
}

std::shared_ptr<fe::graph::Tensor_attributes> input(fe::graph::Graph& g, const char* name, Uid uid,
                                                    const gems_tensor& t) {
  // A bias broadcast over batch or heads (stride 0) is described with size 1 there.
  std::vector<int64_t> dims(t.sizes, t.sizes + 4), strides(t.strides, t.strides + 4);
  for (int d = 0; d < 2; ++d)
    if (strides[d] == 0) dims[d] = 1;
  return g.tensor(fe::graph::Tensor_attributes().set_name(name).set_uid(uid).set_dim(dims).set_stride(strides));
}

void as_output(const std::shared_ptr<fe::graph::Tensor_attributes>& t, Uid uid, const gems_tensor& d) {
  t->set_output(true).set_uid(uid).set_dim({d.sizes[0], d.sizes[1], d.sizes[2], d.sizes[3]})
      .set_stride({d.strides[0], d.strides[1], d.strides[2], d.strides[3]});
}

// Stats ([B, H, L, 1] float32): cuDNN's name for the rows' log-sum-exp.
void as_stats(const std::shared_ptr<fe::graph::Tensor_attributes>& t, const gems_tensor& lse, bool output) {
  t->set_uid(kStats).set_data_type(fe::DataType_t::FLOAT)
      .set_dim({lse.sizes[0], lse.sizes[1], lse.sizes[2], 1})
      .set_stride({lse.strides[0], lse.strides[1], lse.strides[2], 1});
  if (output) t->set_output(true);
}

std::shared_ptr<fe::graph::Graph> new_graph(int32_t dtype) {
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(dtype == GEMS_BFLOAT16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  return g;
}

// tensors as in the "attention" entry: out, lse, q, k, v, bias.
std::shared_ptr<fe::graph::Graph> build_forward(const gems_tensor* t, double scale, bool causal) {
  auto g = new_graph(t[2].dtype);
  auto attrs = fe::graph::SDPA_attributes().set_name("gems_sdpa").set_generate_stats(true)
                   .set_attn_scale(static_cast<float>(scale));
  if (causal) attrs.set_causal_mask(true);
  if (t[5].data) attrs.set_bias(input(*g, "bias", kBias, t[5]));
  auto [o, stats] = g->sdpa(input(*g, "q", kQ, t[2]), input(*g, "k", kK, t[3]), input(*g, "v", kV, t[4]), attrs);
  as_output(o, kO, t[0]);
  as_stats(stats, t[1], true);
  return g;
}

// tensors as in "attention_backward": dq, dk, dv, dbias, dout, q, k, v, out, lse, bias.
std::shared_ptr<fe::graph::Graph> build_backward(const gems_tensor* t, double scale, bool causal) {
  auto g = new_graph(t[5].dtype);
  auto attrs = fe::graph::SDPA_backward_attributes().set_name("gems_sdpa_backward")
                   .set_attn_scale(static_cast<float>(scale));
  if (causal) attrs.set_causal_mask(true);
  if (t[10].data) attrs.set_bias(input(*g, "bias", kBias, t[10]));
  auto stats = g->tensor(fe::graph::Tensor_attributes().set_name("stats"));
  as_stats(stats, t[9], false);
  auto [dq, dk, dv] = g->sdpa_backward(input(*g, "q", kQ, t[5]), input(*g, "k", kK, t[6]), input(*g, "v", kV, t[7]),
                                       input(*g, "o", kO, t[8]), input(*g, "do", kdO, t[4]), stats, attrs);
  as_output(dq, kdQ, t[0]);
  as_output(dk, kdK, t[1]);
  as_output(dv, kdV, t[2]);
  return g;
}

// Runs the forward or backward graph of a call.
int run(const gems_kernel_call* c, bool backward, const Pack& pack) {
  const gems_tensor* t = c->tensors;
  const double scale = c->scalars[0].f;
  const bool causal = c->scalars[1].i != 0;
  return run_graph("attention", key_of(backward, scale, causal, t, c->num_tensors), c, [&] {
    return backward ? build_backward(t, scale, causal) : build_forward(t, scale, causal);
  }, PlanFilter{}, pack);
}

bool servable(const gems_tensor* t, std::initializer_list<int> operands) {
  for (int i : operands)
    if (t[i].data && !aligned(t[i])) return false;
  return true;
}

}  // namespace

int k_attention(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  // A decode step's key count changes every call: a graph per shape would be built each time.
  if (attention_decode_serves(c)) return attention_decode(c);
  if (!servable(t, {0, 2, 3, 4, 5}) || t[1].strides[2] != 1)
    return set_error_string(GEMS_UNSUPPORTED, "cuDNN attention needs 16-byte aligned rows");
  std::unordered_map<int64_t, void*> pack = {
      {kQ, address(t[2])}, {kK, address(t[3])}, {kV, address(t[4])}, {kO, address(t[0])},
      {kStats, static_cast<char*>(t[1].data) + t[1].offset * 4}};
  if (t[5].data) pack[kBias] = address(t[5]);
  return run(c, false, std::move(pack));
}

int k_attention_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (t[3].data) return set_error_string(GEMS_UNSUPPORTED, "cuDNN attention does not give this bias gradient");
  if (!servable(t, {0, 1, 2, 4, 5, 6, 7, 8, 10}) || t[9].strides[2] != 1)
    return set_error_string(GEMS_UNSUPPORTED, "cuDNN attention needs 16-byte aligned rows");
  std::unordered_map<int64_t, void*> pack = {
      {kdQ, address(t[0])}, {kdK, address(t[1])}, {kdV, address(t[2])}, {kdO, address(t[4])},
      {kQ, address(t[5])}, {kK, address(t[6])}, {kV, address(t[7])}, {kO, address(t[8])},
      {kStats, static_cast<char*>(t[9].data) + t[9].offset * 4}};
  if (t[10].data) pack[kBias] = address(t[10]);
  return run(c, true, std::move(pack));
}

}  // namespace gems::nvidia
