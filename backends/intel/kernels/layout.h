// What the intel vendor's host code hands its OpenCL kernels, by value: the
// same bytes on both sides (included by the host C++ and by C++ for OpenCL).
#pragma once
#if defined(__OPENCL_CPP_VERSION__)
typedef long gi_i64;
#else
#include <cstdint>
typedef int64_t gi_i64;
#endif

#define GI_MAX_DIMS 12
#define GI_MAX_OPERANDS 6

// Up to six operands of one shape: element i (row-major over sizes) of
// operand k is at offsets[k] + sum_d coord_d * strides[k][d] (in elements).
// The host merges dims that are contiguous in every operand first, so most
// launches see ndim 1.
typedef struct gi_layout {
  gi_i64 sizes[GI_MAX_DIMS];
  gi_i64 strides[GI_MAX_OPERANDS][GI_MAX_DIMS];
  gi_i64 offsets[GI_MAX_OPERANDS];
  int ndim;
  int contiguous;  // 1: every operand is dense row-major from its offset
} gi_layout;

// A scalar in the kernel's compute type: float kernels read f32 (float),
// double kernels f64, integer and bool kernels i64.
typedef union gi_scalar {
  gi_i64 i64;
  double f64;
  float f32;
} gi_scalar;

// Operation codes of the kernels that serve several table entries.
enum gi_unary_op {
  GI_NEG, GI_ABS, GI_RELU, GI_EXP, GI_LOG, GI_SQRT, GI_RSQRT, GI_SIN, GI_COS, GI_TANH,
  GI_SIGMOID, GI_SILU, GI_GELU_ERF, GI_GELU_TANH, GI_BITWISE_NOT, GI_LOGICAL_NOT
};
enum gi_binary_op {
  GI_ADD, GI_SUB, GI_MUL, GI_DIV_TRUE, GI_DIV_TRUNC, GI_DIV_FLOOR, GI_REMAINDER, GI_MAXIMUM,
  GI_MINIMUM, GI_POW, GI_BITWISE_AND, GI_BITWISE_OR,
  GI_EQ, GI_NE, GI_LT, GI_LE, GI_GT, GI_GE,  // comparisons write bool
  GI_THRESHOLD_BACKWARD, GI_GELU_ERF_BACKWARD, GI_GELU_TANH_BACKWARD, GI_SILU_BACKWARD,
  GI_SIGMOID_BACKWARD, GI_TANH_BACKWARD
};
enum gi_reduce_op { GI_SUM, GI_MEAN, GI_MAX, GI_MIN };
enum gi_row_op { GI_SOFTMAX, GI_LOG_SOFTMAX, GI_SOFTMAX_BACKWARD, GI_LOG_SOFTMAX_BACKWARD };

// The kernel error record (backends/abi's gems_kernel_error), one per device
// in device memory: the first kernel that finds an index out of range fills it.
typedef struct gi_error_record {
  int kind;
  int reserved;
  gi_i64 values[3];
} gi_error_record;

// gemm's sizes and each operand's strides (batch, row, column), in elements.
typedef struct gi_gemm_shape {
  gi_i64 batch, m, n, k;
  gi_i64 a[3], b[3], c[3], out[3];
} gi_gemm_shape;

// gather's index tensors (1 to 4): for each, the dim of self it picks along
// (for the error), that dim's size and stride, and whether it is int64.
typedef struct gi_pick {
  gi_i64 dim[4], size[4], stride[4];
  int is64[4];
  int count;
  int wrap;  // a negative index counts from the end
} gi_pick;

// attention's sizes and each operand's strides (4-D: b, h, row, d; lse 3-D).
// Operands absent from a call have zero strides.
typedef struct gi_attention {
  gi_i64 B, Hq, Hkv, L, keys, E, Ev;  // keys: S
  gi_i64 out[4], lse[3], q[4], k[4], v[4], bias[4];
  gi_i64 dq[4], dk[4], dv[4], dbias[4], dout[4];
  double scale;
  int causal;
  int has_bias;
} gi_attention;

// A convolution's sizes, with 1- and 2-d convolutions padded to 3 spatial
// dims of size 1, and each operand's strides (n, channel, then spatial).
typedef struct gi_conv {
  gi_i64 N, C, K, groups;
  gi_i64 in[3], out[3], window[3];  // spatial sizes of x, y and w (the kernel)
  gi_i64 stride[3], padding[3], dilation[3];
  gi_i64 x[5], w[5], y[5];
} gi_conv;

// batch_norm's per-channel reductions: x (and dy) viewed [N, C, S], their
// strides, and the steps of the [C] vectors (two outputs, then mean).
typedef struct gi_channels {
  gi_i64 N, C, S;
  gi_i64 x[3], y[3];
  gi_i64 out0, out1, mean;
} gi_channels;

// The float dtype of a coefficient vector (each of its own:
// backends/common/batch_norm_operands.h).
enum gi_vector_type { GI_VECTOR_F32, GI_VECTOR_F64, GI_VECTOR_F16, GI_VECTOR_BF16 };

// batch_norm_coefficients: its scalars (eps, momentum and count in the
// kernel's type) and the steps and dtypes of its ten [C] vectors.
typedef struct gi_coefficients {
  gi_i64 C, mode, flags;
  gi_scalar eps, momentum, count;
  gi_i64 step[10];
  gi_i64 type[10];
} gi_coefficients;

// group_norm_coefficients: the sizes (N samples, C channels, G groups), mode,
// flags, eps, count (elements a group) and the steps and dtypes of its vectors (seven
// forward, ten backward; backends/common/group_norm_coefficients.h).
typedef struct gi_group_coefficients {
  gi_i64 N, C, G, mode, flags;
  gi_scalar eps, count;
  gi_i64 step[10];
  gi_i64 type[10];
} gi_group_coefficients;

// channel_affine: y, x and dy viewed [N, C, S] with their strides, and the
// steps of the [C] vectors scale, shift, dy_scale; has_dy: the backward's form.
typedef struct gi_affine {
  gi_i64 N, C, S, has_dy;
  gi_i64 y[3], x[3], dy[3];
  gi_i64 scale, shift, dy_scale;
} gi_affine;
