// Matrix multiply through the system BLAS (OpenBLAS from Debian) when the
// build found one, else a built-in loop nest. 16-bit inputs are widened to
// float32, multiplied in float32 and rounded once, which is the accuracy
// PyTorch's CPU path gives them.
#ifdef GEMS_HAVE_CBLAS
#include <cblas.h>
#endif

#include <cstdlib>
#include <vector>

#include "float8.h"
#include "kernels.h"
#include "strided_loop.h"

namespace gems::cpu {
namespace {

// A 2-D strided matrix seen as BLAS wants it: row-major with leading dim ld,
// optionally transposed. Returns false when the strides fit neither layout.
struct BlasView {
  bool trans = false;
  int64_t ld = 0;
};

bool blas_view(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, BlasView* v) {
  if ((s_col == 1 || cols == 1) && s_row >= std::max<int64_t>(1, cols)) { *v = {false, s_row}; return true; }
  if ((s_row == 1 || rows == 1) && s_col >= std::max<int64_t>(1, rows)) { *v = {true, s_col}; return true; }
  return false;
}

// Copies a strided rows x cols matrix into a dense row-major buffer of A.
template <typename A, typename T>
void pack(const T* p, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, A* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) dst[r * cols + k] = static_cast<A>(p[r * s_row + k * s_col]);
}

// c = alpha * op(a) @ op(b), row-major, c dense with leading dim ldc.
template <typename A>
void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, A alpha, const A* a, int64_t lda,
               const A* b, int64_t ldb, A* c, int64_t ldc) {
#ifdef GEMS_HAVE_CBLAS
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<A, double>)
    cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, alpha, a, lda, b, ldb, 0.0, c, ldc);
  else
    cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, alpha, a, lda, b, ldb, 0.0f, c, ldc);
#else
  // Row-parallel i-k-j loop: the inner j loop streams a row of b and of c.
  parallel_for(0, M, grain_for(N * K), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      A* ci = c + i * ldc;
      for (int64_t j = 0; j < N; ++j) ci[j] = A(0);
      for (int64_t k = 0; k < K; ++k) {
        const A aik = alpha * (ta ? a[k * lda + i] : a[i * lda + k]);
        if (tb) for (int64_t j = 0; j < N; ++j) ci[j] += aik * b[j * ldb + k];
        else for (int64_t j = 0; j < N; ++j) ci[j] += aik * b[k * ldb + j];
      }
    }
  });
#endif
}

// c (one row or one column, dense) = alpha * op(a) @ op(b) when M or N is 1:
// a matrix-vector product, which BLAS streams through the matrix in parallel
// (OpenBLAS's sgemm with M = 1 runs about 3x slower than its sgemv: a decode
// step's projections). False when neither dim is 1 or there is no BLAS.
template <typename A>
bool blas_gemv(const BlasView& va, const BlasView& vb, int64_t M, int64_t N, int64_t K, A alpha, const A* a,
               const A* b, A* c) {
#ifdef GEMS_HAVE_CBLAS
  // y = op(m) x with op(m) rows x cols; m row-major with leading dim ld, transposed when trans.
  auto gemv = [&](bool trans, int64_t rows, int64_t cols, const A* m, int64_t ld, const A* x, int64_t incx) {
    // Row-major m as stored is (trans ? cols x rows : rows x cols).
    const auto T = trans ? CblasTrans : CblasNoTrans;
    const int64_t sr = trans ? cols : rows, sc = trans ? rows : cols;
    if constexpr (std::is_same_v<A, double>)
      cblas_dgemv(CblasRowMajor, T, sr, sc, alpha, m, ld, x, incx, 0.0, c, 1);
    else
      cblas_sgemv(CblasRowMajor, T, sr, sc, alpha, m, ld, x, incx, 0.0f, c, 1);
  };
  if (K == 0) return false;  // BLAS returns early from an empty gemv and would leave c unwritten
  if (M == 1) {  // c^T = op(b)^T a^T: op(b)^T is N x K; a's K elements are a row (or a column of its transpose)
    gemv(!vb.trans, N, K, b, vb.ld, a, va.trans ? va.ld : 1);
    return true;
  }
  if (N == 1) {  // c = op(a) b: op(a) is M x K; b's K elements are a column
    gemv(va.trans, M, K, a, va.ld, b, vb.trans ? 1 : vb.ld);
    return true;
  }
#endif
  (void)va, (void)vb, (void)M, (void)N, (void)K, (void)alpha, (void)a, (void)b, (void)c;
  return false;
}

// ---- a few rows against a weight of contiguous rows ----
// c[m][n] = alpha * a_m . w_n with a's rows (float) and w's rows contiguous
// along k: nn.Linear over a few tokens (a short prompt, speculative decoding,
// a small batch's decode step), and for 16-bit weights every decode step.
// OpenBLAS's sgemm ran float ones at 0.21x (4 rows) to 0.65x (16 rows) torch
// CPU's time; here each 8-wide step of k loads three weight rows and up to
// four token rows once for twelve multiply-adds (twelve accumulators, three
// weight vectors and a token vector fill AVX2's sixteen registers; two weight
// rows measured 10-25% slower), and the weight rows stay in L1 while every
// group of four token rows takes them. A 16-bit weight is read as stored and
// widened in registers (its float copy, made each call to feed BLAS, had cost
// more than the product). (A 16-lane AVX-512 form measured slower on the
// development machine's Xeon: 4 rows 19.5 -> 26 us, 16 rows 68 -> 75 us; not
// kept. Past 16 rows OpenBLAS stays: 128 rows took 0.34x torch CPU's time
// here, 0.61x there.)
constexpr int64_t kFewRowsMax = 16;

// Rows m0 .. m0 + MR of c, columns n0 .. n0 + NR (the weight's rows n0 ..).
template <int MR, int NR, typename W>
void few_rows_block(int64_t K, float alpha, const float* a, int64_t lda, const W* w, int64_t ldw, float* c,
                    int64_t ldc) {
  f8 acc[MR][NR] = {};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    f8 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = load8_as_float(w + j * ldw + k);
    for (int i = 0; i < MR; ++i) {
      const f8 av = load8(a + i * lda + k);
      for (int j = 0; j < NR; ++j) acc[i][j] += av * wv[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float x = lanes_sum(acc[i][j]);
      for (int64_t t = k; t < K; ++t) x += a[i * lda + t] * static_cast<float>(w[j * ldw + t]);
      c[i * ldc + j] = alpha * x;
    }
}

template <int NR, typename W>
void few_rows_columns(int64_t M, int64_t K, float alpha, const float* a, int64_t lda, const W* w, int64_t ldw,
                      float* c, int64_t ldc) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) few_rows_block<4, NR>(K, alpha, a + m * lda, lda, w, ldw, c + m * ldc, ldc);
  const float* am = a + m * lda;
  float* cm = c + m * ldc;
  switch (M - m) {
    case 3: few_rows_block<3, NR>(K, alpha, am, lda, w, ldw, cm, ldc); break;
    case 2: few_rows_block<2, NR>(K, alpha, am, lda, w, ldw, cm, ldc); break;
    case 1: few_rows_block<1, NR>(K, alpha, am, lda, w, ldw, cm, ldc); break;
    default: break;
  }
}

template <typename W>
void few_rows_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const W* w,
                   int64_t ldw, float* c, int64_t ldc) {
  const int64_t triples = (N + 2) / 3;
  parallel_for(0, triples, grain_for(3 * M * K), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = 3 * p;
      if (n + 3 <= N) few_rows_columns<3>(M, K, alpha, a, lda, w + n * ldw, ldw, c + n, ldc);
      else if (n + 2 <= N) few_rows_columns<2>(M, K, alpha, a, lda, w + n * ldw, ldw, c + n, ldc);
      else few_rows_columns<1>(M, K, alpha, a, lda, w + n * ldw, ldw, c + n, ldc);
    }
  });
}

// Whether few_rows_gemm serves a product of M rows with b = w^T: w's rows
// contiguous along k; 2 to 16 float rows (one row goes to BLAS gemv, 1.2-1.4x
// torch CPU), 1 to 16 rows of 16-bit types (BLAS would need a float copy).
template <typename T>
bool few_rows_serve(const gems_tensor& b, int64_t M, int64_t K) {
  if constexpr (std::is_same_v<T, double>) return false;
  const int64_t least = std::is_same_v<T, float> ? 2 : 1;
  return M >= least && M <= kFewRowsMax && K >= 1 && (b.strides[1] == 1 || K == 1);
}

// Copies a strided rows x cols matrix into a dense buffer of A in the order
// its source is laid out (rows of whichever dim has the smaller stride, so the
// copy reads memory in order), and says how BLAS sees the copy.
template <typename A, typename T>
BlasView pack_in_order(const T* p, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, std::vector<A>& buf) {
  buf.resize(static_cast<size_t>(rows * cols));
  if (cols > 1 && rows > 1 && std::abs(s_row) < std::abs(s_col)) {  // columns lie along memory: a transposed copy
    pack(p, cols, rows, s_col, s_row, buf.data());
    return {true, rows};
  }
  pack(p, rows, cols, s_row, s_col, buf.data());
  return {false, std::max<int64_t>(1, cols)};
}

}  // namespace

// tensors: out [B,M,N], a [B,M,K], b [B,K,N], c [B,M,N] or absent (data NULL,
// may be broadcast with zero strides). scalars: [0] alpha, [1] beta.
// out = beta * c + alpha * (a @ b); without c, out = alpha * (a @ b).
int k_gemm(const gems_kernel_call* call) {
  const gems_tensor &out = call->tensors[0], &a = call->tensors[1], &b = call->tensors[2], &c = call->tensors[3];
  const bool has_c = c.data != nullptr;
  const double alpha = call->scalars[0].f, beta = has_c ? call->scalars[1].f : 0.0;
  const int64_t B = out.sizes[0], M = out.sizes[1], N = out.sizes[2], K = a.sizes[2];
  bool ok = dispatch_dtype<kFloating>(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    constexpr bool kNative = std::is_same_v<T, A>;
    const T* pa = reinterpret_cast<const T*>(base_ptr(a));
    const T* pb = reinterpret_cast<const T*>(base_ptr(b));
    const T* pc = has_c ? reinterpret_cast<const T*>(base_ptr(c)) : nullptr;
    T* po = reinterpret_cast<T*>(base_ptr(out));
    std::vector<A> abuf, bbuf, obuf(static_cast<size_t>(M * N));
    for (int64_t batch = 0; batch < B; ++batch) {
      const T* ma = pa + batch * a.strides[0];
      const T* mb = pb + batch * b.strides[0];
      // C is computed into a dense buffer, then combined with beta * c and
      // stored with out's strides: this keeps aliasing of out and c safe.
      bool done = !M || !N;
      if constexpr (!std::is_same_v<T, double>) {
        if (!done && few_rows_serve<T>(b, M, K)) {
          // the token rows as float rows (a few of them), the weight read as stored
          const float* xf = nullptr;
          int64_t lda = K;
          if constexpr (std::is_same_v<T, float>) {
            if (a.strides[2] == 1) { xf = ma; lda = a.strides[1]; }
          }
          if (!xf) {
            abuf.resize(static_cast<size_t>(M * K));
            pack(ma, M, K, a.strides[1], a.strides[2], abuf.data());
            xf = abuf.data();
          }
          few_rows_gemm(M, N, K, static_cast<float>(alpha), xf, lda, mb, b.strides[2], obuf.data(), N);
          done = true;
        }
      }
      if (!done) {
        BlasView va, vb;
        const A* ga;
        const A* gb;
        if (kNative && blas_view(M, K, a.strides[1], a.strides[2], &va)) ga = reinterpret_cast<const A*>(ma);
        else { va = pack_in_order(ma, M, K, a.strides[1], a.strides[2], abuf); ga = abuf.data(); }
        if (kNative && blas_view(K, N, b.strides[1], b.strides[2], &vb)) gb = reinterpret_cast<const A*>(mb);
        else { vb = pack_in_order(mb, K, N, b.strides[1], b.strides[2], bbuf); gb = bbuf.data(); }
        if (!blas_gemv<A>(va, vb, M, N, K, static_cast<A>(alpha), ga, gb, obuf.data()))
          blas_gemm<A>(va.trans, vb.trans, M, N, K, static_cast<A>(alpha), ga, va.ld, gb, vb.ld, obuf.data(),
                       std::max<int64_t>(1, N));
      }
      const T* mc = pc ? pc + batch * c.strides[0] : nullptr;
      T* mo = po + batch * out.strides[0];
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          A v = obuf[i * N + j];
          if (mc) v += static_cast<A>(beta) * static_cast<A>(mc[i * c.strides[1] + j * c.strides[2]]);
          mo[i * out.strides[1] + j * out.strides[2]] = static_cast<T>(v);
        }
    }
  });
  return ok ? GEMS_OK : unsupported_dtype("gemm", out.dtype);
}

}  // namespace gems::cpu
