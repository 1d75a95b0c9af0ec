// The cuDNN graph cache shared by attention and convolutions (cudnn_graph.h).
#include "cudnn_graph.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "autotune.h"
#include "runtime.h"

namespace gems::nvidia::cudnn {
namespace {

struct CachedGraph {
  std::shared_ptr<fe::graph::Graph> graph;  // null when cuDNN cannot run the call
  int64_t workspace = 0;  // of the plan that runs
  int64_t plan = -1;      // the plan that runs: -1 for cuDNN's first choice
  bool timed = false;     // its plans were timed (GEMS_AUTOTUNE=1): done once, whatever it found
  std::string why;
};

cudnnHandle_t handle_for(int device) {
  static std::mutex m;
  static std::map<int, cudnnHandle_t> handles;
  std::lock_guard<std::mutex> g(m);
  cudnnHandle_t& h = handles[device];
  if (!h && cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) h = nullptr;
  return h;
}

// Builds and checks a declared graph; on failure the reason is kept instead.
CachedGraph finish(std::shared_ptr<fe::graph::Graph> g, const PlanFilter& filter, cudnnHandle_t h) {
  CachedGraph c;
  fe::error_t e = g->validate();
  if (e.is_good()) e = g->build_operation_graph(h);
  if (e.is_good()) e = g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK});
  if (e.is_good() && !filter.excluded.empty()) g->deselect_numeric_notes(filter.excluded);
  if (e.is_good()) e = g->check_support(h);
  if (e.is_good()) e = g->build_plans(h, autotune_enabled() ? fe::BuildPlanPolicy_t::ALL
                                                            : fe::BuildPlanPolicy_t::HEURISTICS_CHOICE);
  if (e.is_good()) e = g->get_workspace_size(c.workspace);
  if (e.is_good()) c.graph = std::move(g);
  else c.why = e.get_message();
  return c;
}

// Times each plan cuDNN built for the graph on the call's operands and keeps
// the fastest (its index and workspace). The outputs are written meanwhile;
// the call then runs for real.
void choose_plan(CachedGraph& c, cudnnHandle_t h, const Pack& pack, cudaStream_t stream) {
  const int64_t n = c.graph->get_execution_plan_count();
  if (n < 2) return;
  std::vector<int64_t> workspace(n, -1);
  int64_t most = 0;
  for (int64_t i = 0; i < n; ++i)
    if (c.graph->get_workspace_size_plan_at_index(i, workspace[i]).is_good()) most = std::max(most, workspace[i]);
    else workspace[i] = -1;
  void* scratch = nullptr;
  if (scratch_malloc(&scratch, static_cast<size_t>(most), stream) != GEMS_OK) return;
  const int best = fastest_of(static_cast<int>(n), stream, [&](int i) {
    // A fresh pack each run: cuDNN's frontend adds pointers into the pack that
    // live only as long as the call (the scale it passes by value).
    auto fresh = pack;
    return workspace[i] >= 0 && c.graph->execute_plan_at_index(h, fresh, scratch, i).is_good();
  });
  scratch_free(scratch, stream);
  if (best >= 0) {
    c.plan = best;
    c.workspace = workspace[best];
  }
}

}  // namespace

int run_graph(const char* what, const std::vector<int64_t>& key, const gems_kernel_call* c, const Declare& declare,
              const PlanFilter& filter, const Pack& pack) {
  cudnnHandle_t h = handle_for(c->device);
  if (!h) return set_error_string(GEMS_UNSUPPORTED, "cuDNN could not be initialised");
  static std::mutex m;
  static std::map<std::vector<int64_t>, CachedGraph> cache;
  std::vector<int64_t> full_key = key;
  full_key.push_back(c->device);
  auto stream = static_cast<cudaStream_t>(c->stream);
  cudnnSetStream(h, stream);
  CachedGraph* graph;
  int64_t plan, workspace_bytes;  // read under the lock: a first call may be timing the plans meanwhile
  {
    std::lock_guard<std::mutex> g(m);
    auto it = cache.find(full_key);
    if (it == cache.end()) it = cache.emplace(full_key, finish(declare(), filter, h)).first;
    graph = &it->second;
    if (graph->graph && !graph->timed && autotune_enabled() && !stream_capturing(stream)) {
      choose_plan(*graph, h, pack, stream);
      graph->timed = true;
    }
    plan = graph->plan;
    workspace_bytes = graph->workspace;
  }
  if (!graph->graph) return set_error_string(GEMS_UNSUPPORTED, (std::string("cuDNN ") + what + ": " + graph->why).c_str());
  void* workspace = nullptr;
  if (int status = scratch_malloc(&workspace, static_cast<size_t>(workspace_bytes), stream)) return status;
  auto variant_pack = pack;
  fe::error_t e = plan < 0 ? graph->graph->execute(h, variant_pack, workspace)
                           : graph->graph->execute_plan_at_index(h, variant_pack, workspace, plan);
  scratch_free(workspace, stream);
  if (!e.is_good()) return set_error_string(GEMS_ERROR, (std::string("cuDNN ") + what + ": " + e.get_message()).c_str());
  return GEMS_OK;
}

fe::DataType_t data_type(int32_t dtype) {
  switch (dtype) {
    case GEMS_FLOAT16: return fe::DataType_t::HALF;
    case GEMS_BFLOAT16: return fe::DataType_t::BFLOAT16;
    case GEMS_FLOAT64: return fe::DataType_t::DOUBLE;
    default: return fe::DataType_t::FLOAT;
  }
}

int64_t element_bytes(int32_t dtype) {
  switch (dtype) {
    case GEMS_FLOAT16:
    case GEMS_BFLOAT16: return 2;
    case GEMS_FLOAT64: return 8;
    default: return 4;
  }
}

void* address(const gems_tensor& t) { return static_cast<char*>(t.data) + t.offset * element_bytes(t.dtype); }

}  // namespace gems::nvidia::cudnn
