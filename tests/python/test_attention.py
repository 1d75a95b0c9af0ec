"""torch.nn.functional.scaled_dot_product_attention on gems: the fused
attention kernels (forward and backward), chosen through the overrideable SDPA
path, against PyTorch's CPU results; and the cases that must take the math
path instead."""
import pytest
import torch
import torch.nn.functional as F
from conftest import GEMS_DTYPE_CODES, VENDOR, requires_kernels
from torch.nn.attention import SDPBackend, sdpa_kernel

import flag_gems
from flag_gems import _C

FUSED = "_scaled_dot_product_fused_attention_overrideable"
FUSED_GRAD_FN = "ScaledDotProductFusedAttentionOverrideableBackward0"
KERNEL_DTYPES = {name: mask for name, mask in _C.vendor_kernels()}
TOL = {torch.float16: dict(atol=2e-3, rtol=2e-3), torch.bfloat16: dict(atol=1.6e-2, rtol=1.6e-2),
       torch.float32: dict(atol=2e-5, rtol=2e-5), torch.float64: dict(atol=1e-10, rtol=1e-10)}
GRAD_TOL = {torch.float16: dict(atol=1e-2, rtol=1e-2), torch.bfloat16: dict(atol=6e-2, rtol=6e-2),
            torch.float32: dict(atol=1e-4, rtol=1e-4), torch.float64: dict(atol=1e-9, rtol=1e-9)}


def fused_serves(dtype):
    mask = KERNEL_DTYPES.get("attention", 0)
    return bool(mask & (1 << GEMS_DTYPE_CODES[dtype]))


DTYPES = [d for d in (torch.float16, torch.bfloat16, torch.float32) if fused_serves(d)]
requires_fused = pytest.mark.skipif(not DTYPES, reason="the vendor has no fused attention kernel")


def fused_calls():
    return flag_gems.native_counts().get(FUSED, 0)


def make(shape, dtype, seed, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(shape, generator=g, dtype=torch.float32).to(dtype)
    return t.requires_grad_(requires_grad)


def reference(q, k, v, mask=None, **kw):
    """PyTorch's CPU result, computed in float64 from the same inputs."""
    def d(t):
        return None if t is None else (t.double() if t.is_floating_point() else t)
    return F.scaled_dot_product_attention(d(q), d(k), d(v), attn_mask=d(mask), **kw)


CASES = {
    # name: (q shape, k/v heads, kv length, kwargs)
    "plain": ((2, 4, 16, 64), 4, 16, {}),
    "causal": ((2, 4, 16, 64), 4, 16, dict(is_causal=True)),
    "causal_longer_keys": ((1, 2, 5, 32), 2, 9, dict(is_causal=True)),
    "decode_one_query": ((2, 4, 1, 64), 4, 33, {}),
    "grouped_heads": ((2, 8, 16, 64), 2, 16, dict(enable_gqa=True)),
    "grouped_causal": ((1, 4, 24, 128), 1, 24, dict(is_causal=True, enable_gqa=True)),
    "scaled": ((1, 2, 8, 64), 2, 8, dict(scale=0.3)),
    "grouped_decode_long_cache": ((2, 8, 1, 128), 2, 1000, dict(enable_gqa=True)),
    "few_queries_causal": ((1, 4, 3, 128), 4, 300, dict(is_causal=True)),
    # decode with head dims the vectorised kernel serves (256) and does not (96)
    "decode_head_dim_256": ((1, 2, 2, 256), 2, 70, {}),
    "decode_head_dim_96": ((2, 4, 1, 96), 4, 50, {}),
    # decode with query heads sharing key heads in pairs, in threes, and in fours with an unaligned head dim
    "grouped_decode_pairs": ((2, 6, 2, 64), 3, 40, dict(enable_gqa=True)),
    "grouped_decode_threes": ((1, 6, 1, 64), 2, 40, dict(enable_gqa=True)),
    "grouped_decode_head_dim_96": ((2, 8, 1, 96), 2, 50, dict(enable_gqa=True)),
    # decode where each block streams several tiles of keys (the staging buffers wrap around)
    "decode_many_heads_long_cache": ((8, 32, 1, 64), 32, 600, {}),
    "decode_head_dim_128_long_cache": ((8, 16, 1, 128), 16, 700, {}),
    # a few query rows at once (speculative decoding): several query rows a pass, and two passes of four heads
    "decode_eight_queries": ((2, 4, 8, 64), 4, 200, {}),
    "grouped_decode_six_queries_causal": ((1, 8, 6, 128), 2, 300, dict(is_causal=True, enable_gqa=True)),
    # a prompt with a head dim of no 8- or 16-wide vectors, its rows not a whole number of 4-row tiles
    "prompt_head_dim_20": ((1, 3, 7, 20), 3, 7, dict(is_causal=True)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_cpu_and_runs_fused(case, dtype, strict):
    qs, hkv, s, kw = CASES[case]
    q = make(qs, dtype, 0)
    k = make((qs[0], hkv, s, qs[3]), dtype, 1)
    v = make((qs[0], hkv, s, qs[3]), dtype, 2)
    before = fused_calls()
    # Twice: a shape's first call builds its plan (the nvidia vendor times cuDNN's candidates on it
    # then), the second runs the cached plan; both must give PyTorch's result.
    outs = [F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), v.to("gems"), **kw) for _ in range(2)]
    assert fused_calls() == before + 2, "the fused attention op did not run"
    want = reference(q, k, v, **kw)
    for out in outs:
        assert out.device.type == "gems" and out.dtype == dtype and out.shape == q.shape
        torch.testing.assert_close(out.cpu().double(), want, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mask_kind", ["additive_full", "additive_broadcast", "boolean"])
def test_masks(mask_kind, dtype, strict):
    q, k, v = make((2, 4, 12, 64), dtype, 3), make((2, 4, 20, 64), dtype, 4), make((2, 4, 20, 64), dtype, 5)
    if mask_kind == "additive_full":
        mask = make((2, 4, 12, 20), dtype, 6)
    elif mask_kind == "additive_broadcast":  # [B, 1, L, S], as HuggingFace builds padding masks
        mask = make((2, 1, 12, 20), dtype, 6)
    else:
        mask = make((12, 20), torch.float32, 6) > -0.5
        mask[:, 0] = True  # every row sees a key
    out = F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), v.to("gems"), attn_mask=mask.to("gems"))
    torch.testing.assert_close(out.cpu().double(), reference(q, k, v, mask), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("heads", [(4, 4), (8, 2)], ids=["one query head a key head", "four query heads a key head"])
def test_decode_step_with_left_padding(dtype, heads, strict):
    # One new token per sequence against a KV cache, the first keys of one sequence padding.
    hq, hkv = heads
    q, k, v = make((2, hq, 1, 64), dtype, 14), make((2, hkv, 40, 64), dtype, 15), make((2, hkv, 40, 64), dtype, 16)
    mask = torch.ones(2, 1, 1, 40, dtype=torch.bool)
    mask[1, :, :, :7] = False
    kw = dict(enable_gqa=hq != hkv)
    out = F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), v.to("gems"), attn_mask=mask.to("gems"), **kw)
    torch.testing.assert_close(out.cpu().double(), reference(q, k, v, mask, **kw), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_few_queries_with_padding_mask(dtype, strict):
    # Four new tokens per sequence (a speculative step) against a KV cache with left padding, 4 query heads a key head.
    q, k, v = make((2, 8, 4, 128), dtype, 17), make((2, 2, 90, 128), dtype, 18), make((2, 2, 90, 128), dtype, 19)
    mask = torch.ones(2, 1, 4, 90, dtype=torch.bool)
    mask[0, :, :, :11] = False
    mask[1, :, 2, 80:] = False
    out = F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), v.to("gems"), attn_mask=mask.to("gems"),
                                         enable_gqa=True)
    torch.testing.assert_close(out.cpu().double(), reference(q, k, v, mask, enable_gqa=True), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_rows_that_see_no_key_give_zeros(dtype, strict):
    q, k, v = make((1, 2, 4, 32), dtype, 7), make((1, 2, 6, 32), dtype, 8), make((1, 2, 6, 32), dtype, 9)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), v.to("gems"), attn_mask=mask.to("gems")).cpu()
    assert torch.all(out[:, :, 1] == 0)
    expected = reference(q, k, v, mask)
    keep = torch.tensor([0, 2, 3])
    torch.testing.assert_close(out[:, :, keep].double(), expected[:, :, keep], **TOL[dtype])


@requires_fused
def test_transposed_inputs_as_transformers_passes_them(strict):
    # [B, L, H, E] projections seen as [B, H, L, E]: no copy is needed for them.
    dtype = DTYPES[0]
    q, k, v = (make((2, 10, 4, 64), dtype, i).transpose(1, 2) for i in range(3))
    out = F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), v.to("gems"), is_causal=True)
    torch.testing.assert_close(out.cpu().double(), reference(q, k, v, is_causal=True), **TOL[dtype])
    # The output is laid out as [B, L, H, E], so transpose(1, 2) is contiguous.
    assert out.transpose(1, 2).is_contiguous()


@requires_kernels("attention_backward")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ["plain", "causal", "causal_longer_keys", "grouped_causal", "decode_one_query"])
def test_backward_matches_cpu(case, dtype, strict):
    qs, hkv, s, kw = CASES[case]
    q = make(qs, dtype, 10, True)
    k = make((qs[0], hkv, s, qs[3]), dtype, 11, True)
    v = make((qs[0], hkv, s, qs[3]), dtype, 12, True)
    grad = make(qs, dtype, 13)
    gq, gk, gv = (t.detach().to("gems").requires_grad_() for t in (q, k, v))
    out = F.scaled_dot_product_attention(gq, gk, gv, **kw)
    assert out.grad_fn.name() == FUSED_GRAD_FN
    out.backward(grad.to("gems"))
    rq, rk, rv = (t.detach().double().requires_grad_() for t in (q, k, v))
    reference(rq, rk, rv, **kw).backward(grad.double())
    for got, want in ((gq, rq), (gk, rk), (gv, rv)):
        assert got.grad.device.type == "gems" and got.grad.dtype == dtype and got.grad.shape == want.shape
        torch.testing.assert_close(got.grad.cpu().double(), want.grad, **GRAD_TOL[dtype])


@requires_kernels("attention_backward")
def test_backward_gives_the_mask_gradient():
    dtype = DTYPES[0]
    q, k, v = (make((2, 2, 6, 32), dtype, 20 + i, True) for i in range(3))
    bias = make((2, 1, 6, 6), dtype, 23, True)
    gems = [t.detach().to("gems").requires_grad_() for t in (q, k, v, bias)]
    F.scaled_dot_product_attention(*gems[:3], attn_mask=gems[3]).sum().backward()
    ref = [t.detach().double().requires_grad_() for t in (q, k, v, bias)]
    reference(*ref[:3], mask=ref[3]).sum().backward()
    for got, want in zip(gems, ref):
        torch.testing.assert_close(got.grad.cpu().double(), want.grad, **GRAD_TOL[dtype])


@requires_fused
def test_math_backend_choice_is_honoured():
    dtype = DTYPES[0]
    q = make((1, 2, 4, 32), dtype, 30, True).detach().to("gems").requires_grad_()
    with sdpa_kernel([SDPBackend.MATH]):
        out = F.scaled_dot_product_attention(q, q, q)
    assert out.grad_fn.name() != FUSED_GRAD_FN


@requires_fused
def test_switched_off_op_takes_the_math_path():
    q = make((1, 2, 4, 32), DTYPES[0], 31).to("gems")
    before = fused_calls()
    with flag_gems.use_gems(exclude=[FUSED]):
        out = F.scaled_dot_product_attention(q, q, q)
    assert fused_calls() == before
    torch.testing.assert_close(out.cpu().double(), reference(q.cpu(), q.cpu(), q.cpu()), **TOL[DTYPES[0]])


@requires_fused
def test_dropout_takes_the_math_path():
    q = make((1, 2, 4, 32), DTYPES[0], 32).to("gems")
    before = fused_calls()
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert fused_calls() == before and out.shape == q.shape


@pytest.mark.skipif(VENDOR != "nvidia", reason="float32 is served by the cpu vendor's fused kernel")
def test_float32_on_nvidia_takes_the_math_path():
    q = make((1, 2, 8, 32), torch.float32, 33).to("gems")
    before = fused_calls()
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert fused_calls() == before
    torch.testing.assert_close(out.cpu().double(), reference(q.cpu(), q.cpu(), q.cpu(), is_causal=True),
                               **TOL[torch.float32])


@requires_fused
@pytest.mark.parametrize("bad", ["heads_without_gqa", "head_dim", "batch"])
def test_bad_shapes_raise_as_on_cpu(bad):
    q = make((2, 4, 8, 32), DTYPES[0], 40)
    k = {"heads_without_gqa": make((2, 2, 8, 32), DTYPES[0], 41), "head_dim": make((2, 4, 8, 16), DTYPES[0], 41),
         "batch": make((3, 4, 8, 32), DTYPES[0], 41)}[bad]
    with pytest.raises(Exception) as cpu_error:
        F.scaled_dot_product_attention(q, k, k)
    with pytest.raises(type(cpu_error.value)):
        F.scaled_dot_product_attention(q.to("gems"), k.to("gems"), k.to("gems"))
