// GEMM through cuBLASLt. Row-major products are computed as the column-major
// product of the transposes (D^T = B^T A^T), so transposed operands are just
// other layouts, never copies. The algorithm is chosen once per shape, layout
// and dtype and cached for the life of the process: cuBLASLt's heuristic
// proposes a few, and each is timed once on the call's own operands (into a
// scratch output) when GEMS_AUTOTUNE=1, unless the stream is being captured;
// otherwise the heuristic's first proposal runs. Products of a few rows with
// an nn.Linear weight (decode steps) run on kernels_gemm_few_rows.cu instead.
#include <cublasLt.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "autotune.h"
#include "elementwise.cuh"
#include "kernels.h"

namespace gems::nvidia {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;

struct LtState {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

LtState& lt_state(int device) {
  static std::mutex m;
  static std::map<int, LtState> states;
  std::lock_guard<std::mutex> g(m);
  LtState& s = states[device];
  if (!s.handle) {
    cublasLtCreate(&s.handle);
    cudaMalloc(&s.workspace, kWorkspaceBytes);
  }
  return s;
}

// How a row-major [rows, cols] operand with strides (sr, sc) looks to a
// column-major library: as its transpose with leading dim sr (row-major), or
// as itself with leading dim sc (column-major).
struct LtView {
  bool row_major;
  int64_t ld;
};
bool lt_view(int64_t rows, int64_t cols, int64_t sr, int64_t sc, LtView* v) {
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(1, cols))) {
    *v = {true, rows == 1 ? std::max<int64_t>(1, cols) : sr};
    return true;
  }
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(1, rows))) {
    *v = {false, cols == 1 ? std::max<int64_t>(1, rows) : sc};
    return true;
  }
  return false;
}

struct ScaleOp {
  float beta;
  template <typename T>
  __device__ T operator()(T c) const { return store_as<T>(load_as<acc_t<T>>(c) * static_cast<acc_t<T>>(beta)); }
};
struct CopyOp {
  template <typename T>
  __device__ T operator()(T c) const { return c; }
};

template <typename T> cudaDataType_t data_type();
template <> cudaDataType_t data_type<half>() { return CUDA_R_16F; }
template <> cudaDataType_t data_type<bf16>() { return CUDA_R_16BF; }
template <> cudaDataType_t data_type<float>() { return CUDA_R_32F; }
template <> cudaDataType_t data_type<double>() { return CUDA_R_64F; }

using AlgoKey = std::tuple<int, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int64_t,
                           int64_t, int64_t>;

int status_of(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return GEMS_OK;
  return set_error_string(GEMS_ERROR, (std::string("cuBLASLt ") + what + " failed with status " + std::to_string(s)).c_str());
}

// One product as cuBLASLt sees it, less beta and the output pointer, so that
// candidate algorithms can be timed and then run with the same arguments.
struct GemmProblem {
  const LtState& lt;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, ld;
  const void *a, *b, *alpha;
  cudaStream_t stream;
};

int run_candidate(const GemmProblem& p, const cublasLtMatmulAlgo_t& algo, const void* beta, void* d) {
  return status_of(cublasLtMatmul(p.lt.handle, p.desc, p.alpha, p.a, p.la, p.b, p.lb, beta, d, p.ld, d, p.ld, &algo,
                                  p.lt.workspace, kWorkspaceBytes, p.stream),
                   "Matmul");
}

// How many of the heuristic's proposals are timed (cuBLASLt orders them by
// its own estimate; its first is not always the fastest on the card).
constexpr int kCandidates = 8;

// Index of the fastest candidate, timed into a scratch output with beta 0 so
// the real output, which may hold beta * C already, is untouched; -1 when
// nothing can be timed now (the stream is being captured into a graph).
int fastest_candidate(const GemmProblem& p, const cublasLtMatmulHeuristicResult_t* candidates, int n,
                      const void* zero, size_t out_bytes) {
  if (stream_capturing(p.stream)) return -1;
  void* scratch = nullptr;
  if (scratch_malloc(&scratch, out_bytes, p.stream) != GEMS_OK) return 0;
  const int best = fastest_of(n, p.stream, [&](int i) {
    return run_candidate(p, candidates[i].algo, zero, scratch) == GEMS_OK;
  });
  scratch_free(scratch, p.stream);
  return std::max(best, 0);
}

// A dense copy of a strided matrix batch when its layout fits no BLAS view.
template <typename T>
struct Densified {
  void* ptr = nullptr;
  cudaStream_t stream;
  ~Densified() { if (ptr) cudaFreeAsync(ptr, stream); }
};

template <typename T>
int gemm_typed(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &a0 = c->tensors[1], &b0 = c->tensors[2], &cin = c->tensors[3];
  cudaStream_t stream = stream_of(c);
  const int64_t B = out.sizes[0], M = out.sizes[1], N = out.sizes[2], K = a0.sizes[2];
  const double alpha = c->scalars[0].f;
  const double beta = cin.data ? c->scalars[1].f : 0.0;
  const bool allow_tf32 = c->num_scalars > 2 && c->scalars[2].i != 0;
  if (B == 0 || M == 0 || N == 0) return GEMS_OK;

  // out = beta * c first (broadcast), then accumulate alpha * a @ b into it.
  if (cin.data && beta != 0.0) {
    const gems_tensor* in = &cin;
    if (beta == 1.0) map_elements<T, T>(out, &in, CopyOp{}, stream);
    else map_elements<T, T>(out, &in, ScaleOp{static_cast<float>(beta)}, stream);
  }
  if (gemm_few_rows_serves(out, a0, b0)) {
    gemm_few_rows(out, a0, b0, alpha, cin.data && beta != 0.0, stream);
    return GEMS_OK;
  }
  gems_tensor a = a0, b = b0;
  LtView va, vb, vd;
  Densified<T> da{nullptr, stream}, db{nullptr, stream};
  auto densify = [&](gems_tensor& t, Densified<T>& keep, int64_t rows, int64_t cols) {
    gems_tensor dense = t;
    cudaMallocAsync(&keep.ptr, static_cast<size_t>(B * rows * cols) * sizeof(T), stream);
    dense.data = keep.ptr;
    dense.offset = 0;
    dense.strides[0] = rows * cols; dense.strides[1] = cols; dense.strides[2] = 1;
    const gems_tensor* src = &t;
    map_elements<T, T>(dense, &src, CopyOp{}, stream);
    t = dense;
  };
  if (!lt_view(M, K, a.strides[1], a.strides[2], &va)) { densify(a, da, M, K); lt_view(M, K, K, 1, &va); }
  if (!lt_view(K, N, b.strides[1], b.strides[2], &vb)) { densify(b, db, K, N); lt_view(K, N, N, 1, &vb); }
  if (!lt_view(M, N, out.strides[1], out.strides[2], &vd) || !vd.row_major)
    return set_error_string(GEMS_UNSUPPORTED, "gemm: the output must have rows of unit stride");

  int device = 0;
  cudaGetDevice(&device);
  LtState& lt = lt_state(device);
  const cudaDataType_t dt = data_type<T>();
  const bool is_double = std::is_same_v<T, double>;
  const cublasComputeType_t compute = is_double ? CUBLAS_COMPUTE_64F
                                      : (std::is_same_v<T, float> && allow_tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                 : CUBLAS_COMPUTE_32F;
  const cudaDataType_t scale_type = is_double ? CUDA_R_64F : CUDA_R_32F;

  // Column-major problem: D^T [N x M] = op(B^T) [N x K] * op(A^T) [K x M].
  const cublasOperation_t opA = vb.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t opB = va.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  int st = status_of(cublasLtMatmulDescCreate(&desc, compute, scale_type), "MatmulDescCreate");
  if (st) return st;
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA));
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB));
  const uint64_t la_rows = vb.row_major ? N : K, la_cols = vb.row_major ? K : N;
  const uint64_t lb_rows = va.row_major ? K : M, lb_cols = va.row_major ? M : K;
  cublasLtMatrixLayoutCreate(&la, dt, la_rows, la_cols, vb.ld);
  cublasLtMatrixLayoutCreate(&lb, dt, lb_rows, lb_cols, va.ld);
  cublasLtMatrixLayoutCreate(&ld, dt, N, M, vd.ld);
  const int32_t batch = static_cast<int32_t>(B);
  const int64_t sa = b.strides[0], sb = a.strides[0], sd = out.strides[0];
  if (B > 1) {
    for (auto [layout, stride] : {std::pair{la, sa}, std::pair{lb, sb}, std::pair{ld, sd}}) {
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch));
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride));
    }
  }

  static std::mutex cache_mutex;
  static std::map<AlgoKey, cublasLtMatmulHeuristicResult_t> cache;
  const AlgoKey key{device, static_cast<int>(dt), static_cast<int>(compute), B, M, N, K, vb.ld, va.ld, vd.ld,
                    static_cast<int>(opA), static_cast<int>(opB), sa, sb, sd};
  cublasLtMatmulHeuristicResult_t heuristic{};
  bool found = false;
  {
    std::lock_guard<std::mutex> g(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end()) { heuristic = it->second; found = true; }
  }
  // cuBLASLt's alpha and beta, in its scale type (beta * C is already in out).
  const float af = static_cast<float>(alpha), bf = (cin.data && beta != 0.0) ? 1.0f : 0.0f, zf = 0.0f;
  const double ad = alpha, bd = (cin.data && beta != 0.0) ? 1.0 : 0.0, zd = 0.0;
  const void* pa = is_double ? static_cast<const void*>(&ad) : static_cast<const void*>(&af);
  const void* pb = is_double ? static_cast<const void*>(&bd) : static_cast<const void*>(&bf);
  const void* pz = is_double ? static_cast<const void*>(&zd) : static_cast<const void*>(&zf);
  const GemmProblem problem{lt, desc, la, lb, ld, base_ptr(b), base_ptr(a), pa, stream};
  if (!found) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulPreferenceCreate(&pref);
    const uint64_t ws = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulHeuristicResult_t candidates[kCandidates] = {};
    int returned = 0;
    st = status_of(cublasLtMatmulAlgoGetHeuristic(lt.handle, desc, la, lb, ld, ld, pref,
                                                  autotune_enabled() ? kCandidates : 1, candidates, &returned),
                   "AlgoGetHeuristic");
    cublasLtMatmulPreferenceDestroy(pref);
    if (!st && returned == 0) st = set_error_string(GEMS_UNSUPPORTED, "cuBLASLt found no algorithm for this gemm");
    bool keep = !st;
    if (!st) {
      heuristic = candidates[0];
      if (returned > 1) {
        // The output's extent (batch and row strides included) for the scratch copy.
        const int64_t extent = (B - 1) * sd + (M - 1) * vd.ld + N;
        const int chosen =
            fastest_candidate(problem, candidates, returned, pz, static_cast<size_t>(extent) * sizeof(T));
        if (chosen < 0) keep = false;  // could not time now (stream capture): use the heuristic's first, ask again later
        else heuristic = candidates[chosen];
      }
    }
    if (keep) {
      std::lock_guard<std::mutex> g(cache_mutex);
      cache[key] = heuristic;
    }
  }
  if (!st) st = run_candidate(problem, heuristic.algo, pb, base_ptr(out));
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(desc);
  return st;
}

}  // namespace

int k_gemm(const gems_kernel_call* c) {
  // GEMS_GEMM=tiled: the portable kernel the amd vendor runs, checked here on NVIDIA cards.
  static const bool tiled = [] {
    const char* v = std::getenv("GEMS_GEMM");
    return v && std::string(v) == "tiled";
  }();
  if (tiled) return gemm_tiled(c);
  int status = GEMS_OK;
  const bool ok = dispatch_dtype<kFloating>(c->tensors[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    status = gemm_typed<T>(c);
  });
  if (!ok) return unsupported_dtype("gemm", c->tensors[0].dtype);
  return status ? status : launch_status("gemm");
}

}  // namespace gems::nvidia
