// Host side of kernels/gemm.clcpp.
#include "kernels.h"
#include "launch.h"

namespace gems::intel {

int k_gemm(const gems_kernel_call* c) {
  const gems_tensor &out = c->tensors[0], &a = c->tensors[1], &b = c->tensors[2];
  const bool with_c = c->num_tensors > 3 && c->tensors[3].data;
  if (!served(kFloating, out.dtype)) return unsupported("gemm", out.dtype);
  if (out.ndim != 3 || a.ndim != 3 || b.ndim != 3 || (with_c && c->tensors[3].ndim != 3))
    return set_error(GEMS_INVALID_ARGUMENT, "gemm takes 3-D operands [B, M, N], [B, M, K], [B, K, N]");
  gi_gemm_shape g{};
  g.batch = out.sizes[0];
  g.m = out.sizes[1];
  g.n = out.sizes[2];
  g.k = a.sizes[2];
  for (int d = 0; d < 3; ++d) {
    g.a[d] = a.strides[d];
    g.b[d] = b.strides[d];
    g.c[d] = with_c ? c->tensors[3].strides[d] : 0;
    g.out[d] = out.strides[d];
  }
  if (g.batch == 0 || g.m == 0 || g.n == 0) return GEMS_OK;
  constexpr int64_t kRows = 8, kLanes = 16;  // GI_ROWS x GI_SG, a sub-group's tile
  const int64_t groups = g.batch * ((g.m + kRows - 1) / kRows) * ((g.n + kLanes - 1) / kLanes);
  const gems_scalar beta = c->num_scalars > 1 ? c->scalars[1] : gems_scalar{0, 0};
  return Launch(c, kProgramGemm, kernel_name("gemm", out.dtype))
      .tensor(out).tensor(a).tensor(b).ptr(with_c ? element_ptr(c->tensors[3]) : nullptr).value(g)
      .value(scalar_for(out.dtype == GEMS_FLOAT64 ? GEMS_FLOAT64 : GEMS_FLOAT32, c->scalars[0]))
      .value(scalar_for(out.dtype == GEMS_FLOAT64 ? GEMS_FLOAT64 : GEMS_FLOAT32, beta))
      .run(static_cast<size_t>(groups) * kLanes, kLanes);
}

}  // namespace gems::intel
