#include "launch.h"

namespace gems::intel {

const char* dtype_suffix(int32_t dtype) {
  static const char* const names[GEMS_DTYPE_COUNT] = {"b8", "u8", "i8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64"};
  return dtype >= 0 && dtype < GEMS_DTYPE_COUNT ? names[dtype] : "unknown";
}

std::string kernel_name(const char* kernel, int32_t dtype) { return std::string(kernel) + "_" + dtype_suffix(dtype); }

int64_t numel(const gems_tensor& t) {
  int64_t n = 1;
  for (int d = 0; d < t.ndim; ++d) n *= t.sizes[d];
  return n;
}

void* element_ptr(const gems_tensor& t) {
  return t.data ? static_cast<char*>(t.data) + t.offset * element_size(t.dtype) : nullptr;
}

gi_scalar scalar_for(int32_t dtype, const gems_scalar& s) {
  gi_scalar v{};
  if (dtype == GEMS_FLOAT64) v.f64 = s.f;
  else if (dtype == GEMS_FLOAT32 || dtype == GEMS_FLOAT16 || dtype == GEMS_BFLOAT16) v.f32 = static_cast<float>(s.f);
  else v.i64 = s.i;
  return v;
}

gi_layout make_layout(const gems_tensor* const* ops, int n, int keep_last) {
  gi_layout L{};
  const gems_tensor& out = *ops[0];
  int nd = 0;
  for (int d = 0; d < out.ndim; ++d) {
    const bool kept = d >= out.ndim - keep_last;
    if (out.sizes[d] == 1 && !kept) continue;
    const bool mergeable = nd > 0 && !kept && !(d - 1 >= out.ndim - keep_last);
    bool merge = mergeable;
    for (int k = 0; merge && k < n; ++k)
      merge = L.strides[k][nd - 1] == ops[k]->strides[d] * out.sizes[d];
    if (merge) {
      L.sizes[nd - 1] *= out.sizes[d];
      for (int k = 0; k < n; ++k) L.strides[k][nd - 1] = ops[k]->strides[d];
      continue;
    }
    L.sizes[nd] = out.sizes[d];
    for (int k = 0; k < n; ++k) L.strides[k][nd] = ops[k]->strides[d];
    ++nd;
  }
  if (nd == 0) {  // one element
    L.sizes[0] = 1;
    nd = 1;
  }
  L.ndim = nd;
  bool contiguous = nd == 1 && keep_last == 0;
  for (int k = 0; contiguous && k < n; ++k) contiguous = L.strides[k][0] == 1 || L.sizes[0] == 1;
  L.contiguous = contiguous;
  return L;
}

int unsupported(const char* kernel, int32_t dtype) {
  return set_error(GEMS_UNSUPPORTED, std::string("intel vendor kernel '") + kernel + "' does not serve dtype code " +
                                         std::to_string(dtype));
}

int Launch::run(size_t global, size_t local) {
  size_t b = 0;
  for (auto& a : args_)
    if (!a.pointer) a.data = bytes_[b++].data();
  return runtime().launch(call_->device, call_->stream, program_, kernel_, global, local, args_.data(),
                          static_cast<int>(args_.size()));
}

}  // namespace gems::intel
