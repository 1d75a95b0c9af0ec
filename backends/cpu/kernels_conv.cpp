// Convolutions through oneDNN (Debian's libdnnl, built in when CMake finds it:
// GEMS_HAVE_DNNL): forward, the input gradient (also a transposed
// convolution's forward) and the weight gradient, 1-d to 3-d, grouped and
// depthwise, float32, NCHW or channels-last as the core lays the operands
// out. oneDNN chooses the layout its fastest implementation for this machine
// wants (blocked channels on AVX2/AVX-512); operands are reordered into it
// and the result back, as PyTorch's own CPU convolutions do.
//
// oneDNN runs on GNU OpenMP, whose threads a forked child does not have and
// which waits for them for ever in the child's first parallel region: in a
// process forked after oneDNN ran, convolutions are left to im2col.
//
// What oneDNN would only run with its reference loops (no JIT implementation
// for the shape or this CPU), a dtype other than float32, or a geometry it
// rejects is answered GEMS_UNSUPPORTED: the core's im2col onto the BLAS GEMM
// serves those calls (csrc/dispatch/ops_conv.cpp).
#include <dnnl.hpp>
#include <pthread.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "../common/conv_operands.h"
#include "kernels.h"
#include "runtime.h"
#include "strided_loop.h"

namespace gems::cpu {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using Dims = memory::dims;

bool g_forked_after_use = false;

// Whether dense (one-group) convolutions go to oneDNN too. Not by default:
// GNU OpenMP's workers spin for milliseconds after each of oneDNN's parallel
// regions (OMP_WAIT_POLICY is read once, when torch loads libgomp) and take
// the cores from the BLAS and the thread pool that run next. A small CNN's
// training step took 24 ms with oneDNN's dense convolutions, 21 ms with
// im2col onto OpenBLAS, 17 ms with oneDNN and OMP_WAIT_POLICY=passive set
// before torch is imported; GEMS_CPU_CONV=onednn is for that setting.
// Grouped and depthwise ones always go to oneDNN: im2col runs them as a
// batch of thin GEMMs, 13x slower.
bool dense_wanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("GEMS_CPU_CONV");
    return v && std::string(v) == "onednn";
  }();
  return wanted;
}

dnnl::engine& engine() {
  static dnnl::engine* e = [] {
    pthread_atfork(nullptr, nullptr, [] { g_forked_after_use = true; });
    return new dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return *e;
}

// An operand's dims and strides as oneDNN names them: a weight [K, C/groups,
// R...] of a grouped convolution is [groups, K/groups, C/groups, R...], the
// group dim spanning K/groups rows.
struct Layout {
  Dims dims, strides;
  Layout(const gems_tensor& t, int64_t groups = 1) : dims(t.sizes, t.sizes + t.ndim), strides(t.strides, t.strides + t.ndim) {
    if (groups == 1) return;
    dims[0] /= groups;
    dims.insert(dims.begin(), groups);
    strides.insert(strides.begin(), t.strides[0] * dims[1]);
  }
  memory::desc own() const { return memory::desc(dims, memory::data_type::f32, strides); }
  memory::desc any() const { return memory::desc(dims, memory::data_type::f32, memory::format_tag::any); }
};

// One call's geometry as oneDNN takes it: dilation counts the gaps (PyTorch's
// dilation - 1); the padding is the same on both sides, as PyTorch's.
struct Window {
  Dims stride, dilation, padding;
  explicit Window(const ConvOperands& op) {
    for (int i = 0; i < op.dims; ++i) {
      stride.push_back(op.stride[i]);
      dilation.push_back(op.dilation[i] - 1);
      padding.push_back(op.padding[i]);
    }
  }
};

// A primitive for one shape, pass and layout, with the layouts it reads and
// writes and the operands' own: an operand whose layout differs is reordered,
// by a reorder primitive made once with the plan.
struct Plan {
  dnnl::primitive primitive;
  memory::desc own[3], wanted[3];  // x, w, y in the forward's roles
  int arg[3];                      // DNNL_ARG_* of x, w, y in this pass
  int written;                     // which of them the pass writes
  dnnl::reorder reorder[3];        // own to wanted (read), wanted to own (written); empty when alike
};

// Takes pd's primitive into plan, with the layouts it wants for the
// arguments in the forward's roles x, w, y; false (and nothing taken) when
// oneDNN found only its reference loops for the call.
template <typename Primitive, typename Pd>
bool adopt(Plan& plan, const Pd& pd, std::array<int, 3> args) {
  if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) return false;
  plan.primitive = Primitive(pd);
  for (int i = 0; i < 3; ++i) {
    plan.arg[i] = args[i];
    plan.wanted[i] = pd.query_md(dnnl::query::exec_arg_md, args[i]);
  }
  return true;
}

std::unique_ptr<Plan> make_plan(ConvPass pass, const ConvOperands& op) {
  const Window win(op);
  auto plan = std::make_unique<Plan>();
  const Layout lx(*op.x), lw(*op.w, op.groups), ly(*op.y);
  plan->own[0] = lx.own(), plan->own[1] = lw.own(), plan->own[2] = ly.own();
  const memory::desc x = lx.any(), w = lw.any(), y = ly.any();
  const auto alg = algorithm::convolution_direct;
  const dnnl::engine& e = engine();
#if DNNL_VERSION_MAJOR >= 3
  const dnnl::convolution_forward::primitive_desc forward(e, prop_kind::forward_training, alg, x, w, y, win.stride,
                                                          win.dilation, win.padding, win.padding);
#else
  const dnnl::convolution_forward::primitive_desc forward(
      dnnl::convolution_forward::desc(prop_kind::forward_training, alg, x, w, y, win.stride, win.dilation,
                                      win.padding, win.padding),
      e);
#endif
  bool jit;
  if (pass == ConvPass::kForward) {
    jit = adopt<dnnl::convolution_forward>(*plan, forward, {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST});
  } else if (pass == ConvPass::kInputGradient) {
#if DNNL_VERSION_MAJOR >= 3
    const dnnl::convolution_backward_data::primitive_desc pd(e, alg, x, w, y, win.stride, win.dilation, win.padding,
                                                             win.padding, forward);
#else
    const dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(alg, x, w, y, win.stride, win.dilation, win.padding, win.padding), e,
        forward);
#endif
    jit = adopt<dnnl::convolution_backward_data>(*plan, pd, {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST});
  } else {
#if DNNL_VERSION_MAJOR >= 3
    const dnnl::convolution_backward_weights::primitive_desc pd(e, alg, x, w, y, win.stride, win.dilation,
                                                                win.padding, win.padding, forward);
#else
    const dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(alg, x, w, y, win.stride, win.dilation, win.padding, win.padding), e,
        forward);
#endif
    jit = adopt<dnnl::convolution_backward_weights>(*plan, pd, {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST});
  }
  if (!jit) return nullptr;
  plan->written = pass == ConvPass::kForward ? 2 : pass == ConvPass::kInputGradient ? 0 : 1;
  for (int i = 0; i < 3; ++i) {
    if (plan->wanted[i] == plan->own[i]) continue;
    const bool written = i == plan->written;
    const memory::desc &from = written ? plan->wanted[i] : plan->own[i], &to = written ? plan->own[i] : plan->wanted[i];
    plan->reorder[i] = dnnl::reorder(dnnl::reorder::primitive_desc(e, from, e, to));
  }
  return plan;
}

// Plans by call (pass, geometry, every operand's sizes and strides). A null
// plan remembers that oneDNN has only its reference loops for the call.
// Bounded: a program that convolves ever new shapes starts over.
class PlanCache {
 public:
  const Plan* get(ConvPass pass, const ConvOperands& op, const gems_tensor* ts) {
    std::vector<int64_t> key{static_cast<int64_t>(pass), op.groups, op.dims};
    for (const int64_t* v : {op.stride, op.padding, op.dilation}) key.insert(key.end(), v, v + op.dims);
    for (int i = 0; i < 3; ++i) {
      key.push_back(ts[i].ndim);
      key.insert(key.end(), ts[i].sizes, ts[i].sizes + ts[i].ndim);
      key.insert(key.end(), ts[i].strides, ts[i].strides + ts[i].ndim);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      if (plans_.size() >= kCapacity) plans_.clear();
      it = plans_.emplace(std::move(key), make_plan(pass, op)).first;
    }
    return it->second.get();
  }

 private:
  static constexpr size_t kCapacity = 256;
  std::mutex mutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans_;
};

PlanCache& plans() {
  static PlanCache* cache = new PlanCache;  // never destroyed: kernels may run during exit
  return *cache;
}

int run(const gems_kernel_call* c, ConvPass pass) {
  const ConvOperands op(c, pass);
  if (!op.valid())
    return set_error(GEMS_INVALID_ARGUMENT, ConvOperands::kExpected);
  const gems_tensor* t = c->tensors;
  for (int i = 0; i < 3; ++i) {
    if (t[i].dtype != GEMS_FLOAT32) return unsupported_dtype("convolution (oneDNN)", t[i].dtype);
    for (int d = 0; d < t[i].ndim; ++d)
      if (t[i].sizes[d] == 0) return set_error(GEMS_UNSUPPORTED, "convolution (oneDNN): an operand has no elements");
  }
  if (op.groups == 1 && !dense_wanted())
    return set_error(GEMS_UNSUPPORTED, "convolution (oneDNN): dense convolutions are left to im2col and the BLAS "
                                       "(GEMS_CPU_CONV=onednn gives them to oneDNN)");
  if (g_forked_after_use)
    return set_error(GEMS_UNSUPPORTED, "convolution (oneDNN): not in a process forked after oneDNN ran (OpenMP)");
  try {
    const Plan* plan = plans().get(pass, op, t);
    if (!plan) return set_error(GEMS_UNSUPPORTED, "convolution (oneDNN): only the reference implementation serves this");
    const dnnl::engine& e = engine();
    dnnl::stream s(e);
    const gems_tensor* operand[3] = {op.x, op.w, op.y};
    std::unordered_map<int, memory> args;
    memory own[3], wanted[3];
    for (int i = 0; i < 3; ++i) {
      own[i] = memory(plan->own[i], e, base_ptr(*operand[i]));
      wanted[i] = plan->reorder[i] ? memory(plan->wanted[i], e) : own[i];
      if (plan->reorder[i] && i != plan->written) plan->reorder[i].execute(s, own[i], wanted[i]);
      args.emplace(plan->arg[i], wanted[i]);
    }
    plan->primitive.execute(s, args);
    const int w = plan->written;
    if (plan->reorder[w]) plan->reorder[w].execute(s, wanted[w], own[w]);
    s.wait();
    return GEMS_OK;
  } catch (const dnnl::error& err) {
    return set_error(err.status == dnnl_out_of_memory ? GEMS_OUT_OF_MEMORY : GEMS_UNSUPPORTED,
                     (std::string("convolution (oneDNN): ") + err.what()).c_str());
  } catch (const std::bad_alloc&) {
    return set_error(GEMS_OUT_OF_MEMORY, "convolution (oneDNN): out of memory");
  }
}

}  // namespace

int k_convolution(const gems_kernel_call* c) { return run(c, ConvPass::kForward); }
int k_convolution_backward_input(const gems_kernel_call* c) { return run(c, ConvPass::kInputGradient); }
int k_convolution_backward_weight(const gems_kernel_call* c) { return run(c, ConvPass::kWeightGradient); }

}  // namespace gems::cpu
