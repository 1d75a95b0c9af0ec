// The intel vendor's kernel table, its runtime entries and its one exported
// entry point. Kernels run as SPIR-V (built from kernels/*.clcpp) on Intel
// devices through the runtime of runtime.h.
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels.h"
#include "kernels/layout.h"
#include "launch.h"
#include "runtime.h"

namespace gems::intel {
namespace {


const gems_kernel_entry kKernels[] = {
    {"copy", kAll, k_copy}, {"fill", kAll, k_fill}, {"cat", kAll, k_cat},
    {"neg", kNumeric, k_neg}, {"abs", kNumeric, k_abs}, {"relu", kNumeric, k_relu},
    {"exp", kFloating, k_exp}, {"log", kFloating, k_log}, {"sqrt", kFloating, k_sqrt},
    {"rsqrt", kFloating, k_rsqrt}, {"sin", kFloating, k_sin}, {"cos", kFloating, k_cos},
    {"tanh", kFloating, k_tanh}, {"sigmoid", kFloating, k_sigmoid}, {"silu", kFloating, k_silu},
    {"gelu", kFloating, k_gelu}, {"clamp", kNumeric, k_clamp},
    {"add", kAll, k_add}, {"sub", kNumeric, k_sub}, {"mul", kAll, k_mul},
    {"div", kNumeric, k_div}, {"pow", kNumeric, k_pow}, {"remainder", kNumeric, k_remainder},
    {"maximum", kAll, k_maximum}, {"minimum", kAll, k_minimum},
    {"eq", kAll, k_eq}, {"ne", kAll, k_ne}, {"lt", kAll, k_lt},
    {"le", kAll, k_le}, {"gt", kAll, k_gt}, {"ge", kAll, k_ge},
    {"bitwise_and", kBitwise, k_bitwise_and}, {"bitwise_or", kBitwise, k_bitwise_or},
    {"bitwise_not", kBitwise, k_bitwise_not},
    {"where", kAll, k_where},
    {"addcmul", kNumeric, k_addcmul}, {"addcdiv", kFloating, k_addcdiv}, {"lerp", kFloating, k_lerp},
    {"threshold_backward", kNumeric, k_threshold_backward},
    {"gelu_backward", kFloating, k_gelu_backward},
    {"silu_backward", kFloating, k_silu_backward},
    {"sigmoid_backward", kFloating, k_sigmoid_backward},
    {"tanh_backward", kFloating, k_tanh_backward},
    {"reduce_sum", kNumeric, k_reduce_sum}, {"reduce_mean", kFloating, k_reduce_mean},
    {"reduce_max", kAll, k_reduce_max}, {"reduce_min", kAll, k_reduce_min},
    {"softmax", kFloating, k_softmax}, {"log_softmax", kFloating, k_log_softmax},
    {"softmax_backward", kFloating, k_softmax_backward},
    {"log_softmax_backward", kFloating, k_log_softmax_backward},
    {"layer_norm", kFloating, k_layer_norm}, {"layer_norm_backward", kFloating, k_layer_norm_backward},
    {"rms_norm", kFloating, k_rms_norm}, {"rms_norm_backward", kFloating, k_rms_norm_backward},
    {"nll_loss", kFloating, k_nll_loss}, {"nll_loss_backward", kFloating, k_nll_loss_backward},
    {"cross_entropy", kFloating, k_cross_entropy}, {"cross_entropy_backward", kFloating, k_cross_entropy_backward},
    {"cumsum", kNumeric, k_cumsum}, {"topk", kNumeric, k_topk}, {"sort", kNumeric, k_topk}, {"histc", kNumeric, k_histc}, {"tril", kAll, k_tril},
    {"gemm", kFloating, k_gemm},
    {"attention", kFloating, k_attention}, {"attention_backward", kFloating, k_attention_backward},
    {"convolution", kFloating, k_convolution}, {"convolution_backward_input", kFloating, k_convolution_backward_input},
    {"convolution_backward_weight", kFloating, k_convolution_backward_weight},
    {"pool", kNumeric, k_pool}, {"pool_backward", kFloating, k_pool_backward},
    {"interpolate", kFloating | GEMS_DTYPE_BIT(GEMS_UINT8), k_interpolate},
    {"batch_norm_stats", kFloating, k_batch_norm_stats},
    {"batch_norm_backward_reduce", kFloating, k_batch_norm_backward_reduce},
    {"batch_norm_coefficients", GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), k_batch_norm_coefficients},
    {"group_norm_coefficients", GEMS_DTYPE_BIT(GEMS_FLOAT32) | GEMS_DTYPE_BIT(GEMS_FLOAT64), k_group_norm_coefficients},
    {"channel_affine", kFloating, k_channel_affine},
    {"index_select", kAll, k_index_select}, {"gather", kAll, k_gather}, {"scatter", kAll, k_scatter},
    {"accumulate_rows", kNumeric, k_accumulate_rows},
    {"isin", kNumeric, k_isin},
    {"count_nonzero", kAll, k_count_nonzero}, {"nonzero", kAll, k_nonzero}, {"masked_select", kAll, k_masked_select},
    {"arange", kNumeric, k_arange},
    {"uniform", kFloating, k_uniform}, {"dropout", kFloating, k_dropout}, {"normal", kFloating, k_normal},
};

// ---- the ABI's runtime entries over runtime() ----
int device_count(int32_t* count) {
  const char* want = std::getenv("GEMS_INTEL_RUNTIME");
  if (want && (std::strcmp(want, "level_zero") == 0 || std::strcmp(want, "ze") == 0) &&
      std::strcmp(runtime().name(), "level_zero") != 0) {
    *count = 0;
    return set_error(GEMS_NO_DEVICE, "GEMS_INTEL_RUNTIME=level_zero, but this intel module was built without Level "
                                     "Zero (libze-dev)");
  }
  return runtime().device_count(count);
}
int set_device(int32_t d) {
  int32_t n = 0;
  if (int s = runtime().device_count(&n)) return s;
  if (d < 0 || d >= n) return set_error(GEMS_INVALID_ARGUMENT, "intel device " + std::to_string(d) + " does not exist");
  set_current_device(d);
  return GEMS_OK;
}
int get_device(int32_t* d) { *d = current_device(); return GEMS_OK; }
int device_synchronize(int32_t d) { return runtime().device_synchronize(d); }
int device_name(int32_t d, char* buf, size_t len) { return runtime().device_name(d, buf, len); }
int malloc_(int32_t d, size_t bytes, void** ptr) { return runtime().malloc(d, bytes, ptr); }
int free_(int32_t, void* ptr) { return runtime().free(ptr); }
int host_malloc(size_t bytes, void** ptr) { return runtime().host_malloc(bytes, ptr); }
int host_free(void* ptr) { return runtime().host_free(ptr); }
int memcpy_(void* dst, const void* src, size_t bytes, int32_t) { return runtime().memcpy(dst, src, bytes, nullptr, true); }
int memcpy_async(void* dst, const void* src, size_t bytes, int32_t, void* stream) {
  return runtime().memcpy(dst, src, bytes, stream, false);
}
int memset_(void* dst, int32_t value, size_t bytes, void* stream) { return runtime().memset(dst, value, bytes, stream); }
int pointer_device(const void* ptr, int32_t* d) { return runtime().pointer_device(ptr, d); }
int stream_create(int32_t d, int32_t, void** s) { return runtime().stream_create(d, s); }
int stream_destroy(void* s) { return runtime().stream_destroy(s); }
int stream_synchronize(void* s) { return runtime().stream_synchronize(s); }
int stream_query(void* s, int32_t* done) { return runtime().stream_query(s, done); }
int stream_wait_event(void* s, void* e) { return runtime().stream_wait_event(s, e); }
int event_create(int32_t d, int32_t timing, void** e) { return runtime().event_create(d, timing != 0, e); }
int event_destroy(void* e) { return runtime().event_destroy(e); }
int event_record(void* e, void* s) { return runtime().event_record(e, s); }
int event_query(void* e, int32_t* done) { return runtime().event_query(e, done); }
int event_synchronize(void* e) { return runtime().event_synchronize(e); }
int event_elapsed_ms(void* a, void* b, float* ms) { return runtime().event_elapsed_ms(a, b, ms); }
const char* last_error_() { return last_error(); }

// The first index error any device's kernels recorded, cleared as it is taken.
int take_kernel_error(gems_kernel_error* out) {
  std::memset(out, 0, sizeof(*out));
  int32_t n = 0;
  if (runtime().device_count(&n) != GEMS_OK) return GEMS_OK;
  for (int32_t d = 0; d < n; ++d) {
    void* record = nullptr;
    if (int s = runtime().error_record(d, &record)) return s;
    gi_error_record r{};
    if (int s = runtime().memcpy(&r, record, sizeof(r), nullptr, true)) return s;
    if (r.kind == GEMS_KERNEL_ERROR_NONE) continue;
    out->kind = r.kind;
    for (int i = 0; i < 3; ++i) out->values[i] = r.values[i];
    return runtime().memset(record, 0, sizeof(r), nullptr);
  }
  return GEMS_OK;
}

}  // namespace
}  // namespace gems::intel

extern "C" GEMS_VENDOR_EXPORT int gems_vendor_init(uint32_t requested_abi, const gems_host_api*,
                                                    gems_vendor_api* out) {
  using namespace gems::intel;
  if (!out) return GEMS_INVALID_ARGUMENT;
  std::memset(out, 0, sizeof(*out));
  out->abi_version = GEMS_VENDOR_ABI_VERSION;
  out->struct_size = sizeof(gems_vendor_api);
  if (requested_abi != GEMS_VENDOR_ABI_VERSION) return GEMS_UNSUPPORTED;
  out->name = "intel";
  // Device USM: not host memory in general (an Intel GPU's), so the fallback
  // copies through the host.
  out->memory_kind = GEMS_MEMORY_OPAQUE;
  out->device_count = device_count;
  out->set_device = set_device;
  out->get_device = get_device;
  out->device_synchronize = device_synchronize;
  out->device_name = device_name;
  out->malloc = malloc_;
  out->free = free_;
  out->host_malloc = host_malloc;
  out->host_free = host_free;
  out->memcpy = memcpy_;
  out->memcpy_async = memcpy_async;
  out->memset = memset_;
  out->pointer_device = pointer_device;
  out->stream_create = stream_create;
  out->stream_destroy = stream_destroy;
  out->stream_synchronize = stream_synchronize;
  out->stream_query = stream_query;
  out->stream_wait_event = stream_wait_event;
  out->event_create = event_create;
  out->event_destroy = event_destroy;
  out->event_record = event_record;
  out->event_query = event_query;
  out->event_synchronize = event_synchronize;
  out->event_elapsed_ms = event_elapsed_ms;
  out->last_error = last_error_;
  out->kernels = kKernels;
  out->num_kernels = static_cast<int32_t>(sizeof(kKernels) / sizeof(kKernels[0]));
  out->take_kernel_error = take_kernel_error;
  return GEMS_OK;
}
