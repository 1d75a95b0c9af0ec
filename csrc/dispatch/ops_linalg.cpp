// Matrix products: every form becomes one batched gemm launch with strided
// operands (a transposed view is just other strides; no copy).
#include <ATen/native/Resize.h>
#include <ATen/native/TypeProperties.h>

#include "ops.h"
#include "ops_common.h"

namespace gems::ops {
namespace {

// A 2-D tensor as a batch of one: [1, rows, cols].
gems_tensor batch_of_one(const at::Tensor& t) {
  gems_tensor d = describe(t);
  d.ndim = 3;
  d.sizes[2] = t.size(1); d.strides[2] = t.stride(1);
  d.sizes[1] = t.size(0); d.strides[1] = t.stride(0);
  d.sizes[0] = 1; d.strides[0] = 0;
  return d;
}

void check_same_dtype(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), "expected m1 and m2 to have the same dtype, but got: ",
              a.scalar_type(), " != ", b.scalar_type());
}

// out = beta * c + alpha * a @ b over 2-D or 3-D operands.
at::Tensor& gemm(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, const at::Tensor* c, double alpha,
                 double beta) {
  static const Kernel k("gemm");
  if (out.numel() == 0) return out;
  const bool batched = a.dim() == 3;
  gems_tensor d[4] = {batched ? describe(out) : batch_of_one(out), batched ? describe(a) : batch_of_one(a),
                      batched ? describe(b) : batch_of_one(b), absent()};
  at::Tensor cb;
  if (c && beta != 0) {
    cb = c->expand(out.sizes());
    d[3] = batched ? describe(cb) : batch_of_one(cb);
  }
  // scalars[2]: whether float32 may run on TF32 tensor cores
  // (torch.backends.cuda.matmul.allow_tf32 / set_float32_matmul_precision).
  const bool tf32 = at::globalContext().float32MatmulPrecision() != at::Float32MatmulPrecision::HIGHEST;
  k.launch(launch_index(out.device()), d, 4, {scalar_arg(alpha), scalar_arg(beta), int_arg(tf32 ? 1 : 0)});
  return out;
}

void check_mm(const at::Tensor& self, const at::Tensor& mat2) {
  TORCH_CHECK(self.dim() == 2, "self must be a matrix");
  TORCH_CHECK(mat2.dim() == 2, "mat2 must be a matrix");
  TORCH_CHECK(self.size(1) == mat2.size(0), "mat1 and mat2 shapes cannot be multiplied (", self.size(0), "x",
              self.size(1), " and ", mat2.size(0), "x", mat2.size(1), ")");
  check_same_dtype(self, mat2);
  common_device({&self, &mat2});
}

// `input`: baddbmm's addend, whose dtype PyTorch checks with the two batches.
void check_bmm(const at::Tensor& self, const at::Tensor& mat2, const at::Tensor* input = nullptr) {
  TORCH_CHECK(self.dim() == 3, "batch1 must be a 3D tensor");
  TORCH_CHECK(mat2.dim() == 3, "batch2 must be a 3D tensor");
  TORCH_CHECK(self.size(0) == mat2.size(0) && self.size(2) == mat2.size(1),
              "Expected size for first two dimensions of batch2 tensor to be: [", self.size(0), ", ", self.size(2),
              "] but got: [", mat2.size(0), ", ", mat2.size(1), "].");
  if (input)
    TORCH_CHECK(input->scalar_type() == self.scalar_type() && self.scalar_type() == mat2.scalar_type(),
                "Input dtypes must be the same, got: input ", input->dtype(), ", batch1: ", self.dtype(),
                ", batch2: ", mat2.dtype());
  check_same_dtype(self, mat2);
  common_device({&self, &mat2});
}

// The c operand must broadcast to the product's shape.
void check_bias(const at::Tensor& self, at::IntArrayRef shape) {
  if (at::is_expandable_to(self.sizes(), shape)) return;
  (void)self.expand(shape);  // a view: raises PyTorch's own message, naming the dimension
  TORCH_CHECK(false, "The expanded size of the tensor (", shape.back(), ") must match the existing size (",
              self.sizes().back(), ") at non-singleton dimension");
}

// In-place forms keep self's shape: PyTorch refuses a result of another shape
// (an out= tensor would be resized instead).
void check_in_place(const at::Tensor& self, at::IntArrayRef result) {
  TORCH_CHECK(self.sizes() == result, "Bad in-place call: input tensor size ", self.sizes(),
              " and output tensor size ", result, " should match");
}

}  // namespace

namespace {

// Every product form: out = beta * c + alpha * a @ b (no c for mm/bmm).
// `out` is allocated when undefined, else resized (out=).
at::Tensor& product(at::Tensor& out, bool batched, const at::Tensor& a, const at::Tensor& b, const at::Tensor* c,
                    const c10::Scalar& beta, const c10::Scalar& alpha) {
  static const Kernel k("gemm");
  k.require(a.scalar_type(), 3);
  batched ? check_bmm(a, b, c) : check_mm(a, b);
  const at::DimVector shape = batched ? at::DimVector{a.size(0), a.size(1), b.size(2)}
                                      : at::DimVector{a.size(0), b.size(1)};
  if (c) {
    check_same_dtype(*c, a);
    check_bias(*c, shape);
  }
  if (!out.defined()) out = empty_result(shape, a.options());
  else at::native::resize_output(out, shape);
  if (a.size(-1) == 0) {  // an empty sum: only the c term is left
    if (!c || beta.toDouble() == 0) return out.zero_();
    return out.copy_(c->expand(shape)).mul_(wrap_scalar(beta));
  }
  // The kernel reads c and writes out element by element, so out may be c.
  return gemm(out, a, b, c, alpha.toDouble(), beta.toDouble());
}

}  // namespace

at::Tensor mm(const at::Tensor& self, const at::Tensor& mat2) {
  at::Tensor out;
  return product(out, false, self, mat2, nullptr, 0, 1);
}
at::Tensor& mm_out(const at::Tensor& self, const at::Tensor& mat2, at::Tensor& out) {
  return product(out, false, self, mat2, nullptr, 0, 1);
}
at::Tensor bmm(const at::Tensor& self, const at::Tensor& mat2) {
  at::Tensor out;
  return product(out, true, self, mat2, nullptr, 0, 1);
}
at::Tensor& bmm_out(const at::Tensor& self, const at::Tensor& mat2, at::Tensor& out) {
  return product(out, true, self, mat2, nullptr, 0, 1);
}
at::Tensor addmm(const at::Tensor& self, const at::Tensor& mat1, const at::Tensor& mat2, const c10::Scalar& beta,
                 const c10::Scalar& alpha) {
  at::Tensor out;
  return product(out, false, mat1, mat2, &self, beta, alpha);
}
at::Tensor& addmm_out(const at::Tensor& self, const at::Tensor& mat1, const at::Tensor& mat2,
                      const c10::Scalar& beta, const c10::Scalar& alpha, at::Tensor& out) {
  return product(out, false, mat1, mat2, &self, beta, alpha);
}
at::Tensor& addmm_(at::Tensor& self, const at::Tensor& mat1, const at::Tensor& mat2, const c10::Scalar& beta,
                   const c10::Scalar& alpha) {
  check_mm(mat1, mat2);
  check_in_place(self, {mat1.size(0), mat2.size(1)});
  return addmm_out(self, mat1, mat2, beta, alpha, self);
}
at::Tensor baddbmm(const at::Tensor& self, const at::Tensor& batch1, const at::Tensor& batch2,
                   const c10::Scalar& beta, const c10::Scalar& alpha) {
  at::Tensor out;
  return product(out, true, batch1, batch2, &self, beta, alpha);
}
at::Tensor& baddbmm_out(const at::Tensor& self, const at::Tensor& batch1, const at::Tensor& batch2,
                        const c10::Scalar& beta, const c10::Scalar& alpha, at::Tensor& out) {
  return product(out, true, batch1, batch2, &self, beta, alpha);
}
at::Tensor& baddbmm_(at::Tensor& self, const at::Tensor& batch1, const at::Tensor& batch2, const c10::Scalar& beta,
                     const c10::Scalar& alpha) {
  check_bmm(batch1, batch2);
  check_in_place(self, {batch1.size(0), batch1.size(1), batch2.size(2)});
  return baddbmm_out(self, batch1, batch2, beta, alpha, self);
}

// Matrix @ vector: the same gemm over the vector as a [K, 1] column (and the
// output, and a bias, as [M, 1]), so a decode-shaped product takes the
// vendor's matrix-vector path.
namespace {

at::Tensor& matrix_vector(at::Tensor& out, const at::Tensor& mat, const at::Tensor& vec, const at::Tensor* bias,
                          const c10::Scalar& beta, const c10::Scalar& alpha) {
  TORCH_CHECK(mat.dim() == 2 && vec.dim() == 1 && (!bias || bias->dim() <= 1),
              "vector + matrix @ vector expected, got ", bias ? bias->dim() : 1, ", ", mat.dim(), ", ", vec.dim());
  TORCH_CHECK(mat.size(1) == vec.size(0) && (!bias || bias->dim() == 0 || bias->size(0) == mat.size(0) ||
                                             bias->size(0) == 1),
              "size mismatch, got input (", bias && bias->dim() ? bias->size(0) : mat.size(0), "), mat (", mat.size(0),
              "x", mat.size(1), "), vec (", vec.size(0), ")");
  const auto in_type = bias ? bias->scalar_type() : c10::promoteTypes(mat.scalar_type(), vec.scalar_type());
  TORCH_CHECK(in_type == mat.scalar_type() && mat.scalar_type() == vec.scalar_type(),
              "addmv input tensors must have the same dtype, but got ", in_type, ", ", mat.scalar_type(), ", and ",
              vec.scalar_type());
  if (!out.defined()) out = empty_result({mat.size(0)}, mat.options());
  else at::native::resize_output(out, {mat.size(0)});
  at::Tensor column = out.unsqueeze(1);
  const at::Tensor bias_column = bias ? bias->expand({mat.size(0)}).unsqueeze(1) : at::Tensor();
  product(column, false, mat, vec.unsqueeze(1), bias ? &bias_column : nullptr, beta, alpha);
  return out;
}

}  // namespace

at::Tensor mv(const at::Tensor& self, const at::Tensor& vec) {
  at::Tensor out;
  return matrix_vector(out, self, vec, nullptr, 0, 1);
}
at::Tensor& mv_out(const at::Tensor& self, const at::Tensor& vec, at::Tensor& out) {
  return matrix_vector(out, self, vec, nullptr, 0, 1);
}
at::Tensor addmv(const at::Tensor& self, const at::Tensor& mat, const at::Tensor& vec, const c10::Scalar& beta,
                 const c10::Scalar& alpha) {
  at::Tensor out;
  return matrix_vector(out, mat, vec, &self, beta, alpha);
}
at::Tensor& addmv_out(const at::Tensor& self, const at::Tensor& mat, const at::Tensor& vec, const c10::Scalar& beta,
                      const c10::Scalar& alpha, at::Tensor& out) {
  return matrix_vector(out, mat, vec, &self, beta, alpha);
}
at::Tensor& addmv_(at::Tensor& self, const at::Tensor& mat, const at::Tensor& vec, const c10::Scalar& beta,
                   const c10::Scalar& alpha) {
  if (mat.dim() == 2) check_in_place(self, {mat.size(0)});  // other ranks: matrix_vector's error
  return addmv_out(self, mat, vec, beta, alpha, self);
}

// ---- outer product ----
namespace {
void check_addr_scalar(at::ScalarType t, const c10::Scalar& s, const char* label) {
  TORCH_CHECK(!s.isBoolean() || t == at::kBool, "Boolean ", label, " only supported for Boolean results.");
  TORCH_CHECK(at::isFloatingType(t) || at::isComplexType(t) || s.isIntegral(true), "For integral input tensors, argument ",
              label, " must not be a floating point number.");
}
// s as a value of dtype t (0.2 as the nearest bfloat16), as PyTorch's kernels take their scalars.
c10::Scalar rounded_to(const c10::Scalar& s, at::ScalarType t) { return at::scalar_tensor(s, at::kDouble).to(t).item(); }
}  // namespace

// beta * self + (alpha * vec1) * vec2 on the pointwise kernels, rounded after
// each product in the result dtype in the order PyTorch's CPU kernel rounds,
// so 16-bit results are CPU's to the bit (a single rounding in float was up
// to 8 bfloat16 ulps away from it where the terms cancel).
at::Tensor addr(const at::Tensor& self, const at::Tensor& vec1, const at::Tensor& vec2, const c10::Scalar& beta,
                const c10::Scalar& alpha) {
  TORCH_CHECK(vec1.dim() == 1, "addr: Expected 1-D argument vec1, but got ", vec1.dim(), "-D");
  TORCH_CHECK(vec2.dim() == 1, "addr: Expected 1-D argument vec2, but got ", vec2.dim(), "-D");
  at::native::ResultTypeState state;
  for (const at::Tensor* t : {&self, &vec1, &vec2}) state = at::native::update_result_type_state(*t, state);
  const at::ScalarType t = at::native::result_type(state);
  static const Kernel mul("mul"), add("add");
  mul.require(t);
  add.require(t);
  check_addr_scalar(t, beta, "beta");
  check_addr_scalar(t, alpha, "alpha");
  common_device({&self, &vec1, &vec2});
  const at::Tensor base = self.expand({vec1.size(0), vec2.size(0)});  // PyTorch's message when it cannot
  const at::Tensor outer = at::mul(at::mul(vec1.to(t), rounded_to(alpha, t)).unsqueeze(1), vec2.to(t));
  // beta == 0 ignores self, NaN and inf included.
  if (beta.toComplexDouble() == 0.0) return outer;
  return at::add(at::mul(base.to(t), rounded_to(beta, t)), outer);
}
at::Tensor& addr_out(const at::Tensor& self, const at::Tensor& vec1, const at::Tensor& vec2, const c10::Scalar& beta,
                     const c10::Scalar& alpha, at::Tensor& out) {
  const at::Tensor result = ops::addr(self, vec1, vec2, beta, alpha);
  TORCH_CHECK(at::canCast(result.scalar_type(), out.scalar_type()), "result type ", result.scalar_type(),
              " can't be cast to the desired output type ", out.scalar_type());
  return write_out(out, result);
}
// An in-place result keeps self's shape (checked before anything is computed).
at::Tensor& addr_(at::Tensor& self, const at::Tensor& vec1, const at::Tensor& vec2, const c10::Scalar& beta,
                  const c10::Scalar& alpha) {
  TORCH_CHECK(self.dim() == 2, "2D tensor expected, got ", self.dim(), "D tensor for input");
  if (vec1.dim() == 1 && vec2.dim() == 1)  // else addr raises PyTorch's message for them
    TORCH_CHECK(self.size(0) == vec1.size(0) && self.size(1) == vec2.size(0), "output with shape ", self.sizes(),
                " doesn't match the broadcast shape [", vec1.size(0), ", ", vec2.size(0), "]");
  return ops::addr_out(self, vec1, vec2, beta, alpha, self);
}

}  // namespace gems::ops
