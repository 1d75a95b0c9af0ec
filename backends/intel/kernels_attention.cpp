// Host side of kernels/attention.clcpp (operands: backends/cpu/kernel_table.cpp).
#include "kernels.h"
#include "launch.h"

namespace gems::intel {
namespace {

bool shapes_agree(const gems_tensor& q, const gems_tensor& k, const gems_tensor& v) {
  return q.ndim == 4 && k.ndim == 4 && v.ndim == 4 && k.sizes[0] == q.sizes[0] && v.sizes[0] == q.sizes[0] &&
         k.sizes[1] == v.sizes[1] && k.sizes[1] > 0 && q.sizes[1] % k.sizes[1] == 0 && k.sizes[2] == v.sizes[2] &&
         k.sizes[3] == q.sizes[3];
}

void strides_of(const gems_tensor* t, gi_i64* out, int n) {
  for (int d = 0; d < n; ++d) out[d] = t && t->data ? t->strides[d] : 0;
}

const gems_tensor* present(const gems_kernel_call* c, int i) {
  return i < c->num_tensors && c->tensors[i].data ? &c->tensors[i] : nullptr;
}

gi_attention geometry(const gems_kernel_call* c, const gems_tensor& q, const gems_tensor& k, const gems_tensor& v,
                      const gems_tensor* bias) {
  gi_attention g{};
  g.B = q.sizes[0];
  g.Hq = q.sizes[1];
  g.L = q.sizes[2];
  g.E = q.sizes[3];
  g.Hkv = k.sizes[1];
  g.keys = k.sizes[2];
  g.Ev = v.sizes[3];
  strides_of(&q, g.q, 4);
  strides_of(&k, g.k, 4);
  strides_of(&v, g.v, 4);
  strides_of(bias, g.bias, 4);
  g.scale = c->scalars[0].f;
  g.causal = c->scalars[1].i != 0;
  g.has_bias = bias != nullptr;
  return g;
}

int bad_shapes(const char* name) {
  return set_error(GEMS_INVALID_ARGUMENT,
                   std::string(name) + ": expected q [B,Hq,L,E], k [B,Hkv,S,E], v [B,Hkv,S,Ev] with Hq a multiple of Hkv");
}

}  // namespace

int k_attention(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!served(kFloating, t[2].dtype)) return unsupported("attention", t[2].dtype);
  if (!shapes_agree(t[2], t[3], t[4])) return bad_shapes("attention");
  const gems_tensor* bias = present(c, 5);
  gi_attention g = geometry(c, t[2], t[3], t[4], bias);
  strides_of(&t[0], g.out, 4);
  strides_of(&t[1], g.lse, 3);
  const int64_t rows = g.B * g.Hq * g.L;
  if (rows == 0) return GEMS_OK;
  return Launch(c, kProgramAttention, kernel_name("attention", t[2].dtype))
      .tensor(t[0]).tensor(t[1]).tensor(t[2]).tensor(t[3]).tensor(t[4]).ptr(bias ? element_ptr(*bias) : nullptr).value(g)
      .run(static_cast<size_t>(rows));
}

// dq, dk, dv, dbias or absent, dout, q, k, v, out, lse, bias or absent.
int k_attention_backward(const gems_kernel_call* c) {
  const gems_tensor* t = c->tensors;
  if (!served(kFloating, t[5].dtype)) return unsupported("attention_backward", t[5].dtype);
  if (!shapes_agree(t[5], t[6], t[7])) return bad_shapes("attention_backward");
  const gems_tensor *dq = present(c, 0), *dk = present(c, 1), *dv = present(c, 2), *dbias = present(c, 3);
  const gems_tensor* bias = present(c, 10);
  gi_attention g = geometry(c, t[5], t[6], t[7], bias);
  strides_of(&t[8], g.out, 4);
  strides_of(&t[9], g.lse, 3);
  strides_of(&t[4], g.dout, 4);
  strides_of(dq, g.dq, 4);
  strides_of(dk, g.dk, 4);
  strides_of(dv, g.dv, 4);
  strides_of(dbias, g.dbias, 4);
  auto ptr = [](const gems_tensor* x) -> const void* { return x ? element_ptr(*x) : nullptr; };
  const int64_t qrows = g.B * g.Hq * g.L, krows = g.B * g.Hkv * g.keys;
  if ((dq || dbias) && qrows)
    if (int s = Launch(c, kProgramAttention, kernel_name("attention_backward_q", t[5].dtype))
                    .ptr(ptr(dq)).ptr(ptr(dbias)).tensor(t[4]).tensor(t[5]).tensor(t[6]).tensor(t[7]).tensor(t[8])
                    .tensor(t[9]).ptr(ptr(bias)).value(g)
                    .run(static_cast<size_t>(qrows)))
      return s;
  if ((dk || dv) && krows)
    return Launch(c, kProgramAttention, kernel_name("attention_backward_kv", t[5].dtype))
        .ptr(ptr(dk)).ptr(ptr(dv)).tensor(t[4]).tensor(t[5]).tensor(t[6]).tensor(t[7]).tensor(t[8]).tensor(t[9])
        .ptr(ptr(bias)).value(g)
        .run(static_cast<size_t>(krows));
  return GEMS_OK;
}

}  // namespace gems::intel
