"""Every native op of the first op set against PyTorch's CPU results, in
strict mode: a fallback fails the test, so these prove gems kernels ran."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from conftest import RAISES_IN_KERNELS, assert_same, requires_kernels, to_gems

import flag_gems
from flag_gems import _C

pytestmark = pytest.mark.usefixtures("strict")

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
INTS = [torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8]
TOL = {torch.float32: dict(rtol=1.3e-6, atol=1e-5), torch.float64: dict(rtol=1e-7, atol=1e-7),
       torch.float16: dict(rtol=2e-3, atol=2e-3), torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2)}

# Shapes that exercise the engines: scalar, empty, odd sizes, broadcasting.
SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4), (33, 65)]
BROADCAST = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((5,), ()), ((), (2, 2)), ((0, 3), (1, 3))]


def make(shape, dtype, low=-3, high=3, gen_seed=0):
    g = torch.Generator().manual_seed(gen_seed)
    if dtype.is_floating_point:
        return (torch.rand(shape, generator=g) * (high - low) + low).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    lo = 0 if dtype == torch.uint8 else low
    return torch.randint(lo, high + 1, shape, generator=g).to(dtype)


def check(fn, *inputs, tol=None, **kwargs):
    expected = fn(*inputs, **kwargs)
    actual = fn(*[to_gems(x) for x in inputs], **kwargs)
    dtype = expected.dtype
    assert_same(actual, expected, **(tol or TOL.get(dtype, {})))


def noncontiguous(x):
    """The same values laid out with a gap between elements."""
    if x.dim() == 0:
        return x
    big = torch.zeros(*x.shape[:-1], x.shape[-1] * 2, dtype=x.dtype)
    big[..., ::2] = x
    return big[..., ::2]


@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("op", [torch.add, torch.sub, torch.mul])
@pytest.mark.parametrize("shapes", BROADCAST + [((3, 5), (3, 5))])
def test_arithmetic_broadcast(op, dtype, shapes):
    a, b = make(shapes[0], dtype, gen_seed=1), make(shapes[1], dtype, gen_seed=2)
    check(op, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_add_alpha_scalar_and_noncontiguous(dtype):
    a, b = make((6, 8), dtype, gen_seed=3), make((8, 6), dtype, gen_seed=4).t()
    check(lambda x, y: torch.add(x, y, alpha=2.5), a, b)
    check(lambda x: x + 3, noncontiguous(a))
    check(lambda x: 2 - x, a)
    check(lambda x, y: torch.sub(x, y, alpha=-1), a, b)


def test_type_promotion():
    i, f, h = make((4,), torch.int32), make((4,), torch.float32), make((4,), torch.float16)
    check(torch.add, i, f)
    check(torch.mul, i, h)
    check(lambda x: x * 1.5, i)  # int tensor * python float -> float32
    check(lambda x: x + 2, h)  # python int keeps half
    check(lambda x, y: x + y, h, torch.tensor(2.0, dtype=torch.float64))  # 0-dim doesn't promote
    check(torch.add, make((3,), torch.bool), make((3,), torch.bool))


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64, torch.int32])
@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_modes(dtype, mode):
    a = make((5, 7), dtype, low=-20, high=20, gen_seed=5)
    b = make((5, 7), dtype, low=1, high=6, gen_seed=6)
    b = torch.where(torch.arange(35).reshape(5, 7) % 2 == 0, b, -b) if dtype != torch.uint8 else b
    check(lambda x, y: torch.div(x, y, rounding_mode=mode), a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.int32])
def test_floor_divide(dtype):
    # beam search's token // vocab_size; the div kernel with rounding "floor", as PyTorch defines it
    a = make((5, 7), dtype, low=-20, high=20, gen_seed=7)
    b = make((5, 7), dtype, low=1, high=6, gen_seed=8)
    b = torch.where(torch.arange(35).reshape(5, 7) % 2 == 0, b, -b)
    check(torch.floor_divide, a, b)
    check(lambda x: x // 3, a)
    check(lambda x, y: x.clone().floor_divide_(y), a, b)
    check(lambda x, y: torch.floor_divide(x, y, out=torch.empty(0, dtype=dtype, device=x.device)), a, b)


@pytest.mark.parametrize("dtype", FLOATS + [torch.float64, torch.int64, torch.int32, torch.int8, torch.uint8])
def test_remainder(dtype):
    # Python's %: the result takes the divisor's sign (beam search's token % vocab_size)
    a = make((5, 7), dtype, low=-20, high=20, gen_seed=9)
    b = make((5, 7), dtype, low=1, high=6, gen_seed=10).clamp(min=1)  # (make draws uint8 from 0)
    if dtype != torch.uint8:
        b = torch.where(torch.arange(35).reshape(5, 7) % 2 == 0, b, -b)
    check(torch.remainder, a, b)
    check(lambda x: x % 3, a)
    check(lambda x, y: x.clone().remainder_(y), a, b)
    check(lambda x, y: torch.remainder(x, y, out=torch.empty(0, dtype=dtype, device=x.device)), a, b)
    check(lambda x, y: x % y, a, b[0])  # broadcast
    if dtype.is_floating_point:
        special = torch.tensor([float("nan"), float("inf"), -0.0, 5.5, -5.5, 1.0], dtype=dtype)
        check(torch.remainder, special, torch.tensor([2.0, 2.0, 3.0, float("inf"), 0.0, -0.0], dtype=dtype))
    if dtype != torch.uint8:
        extreme = torch.tensor([torch.iinfo(dtype).min, 7, -7], dtype=dtype) if not dtype.is_floating_point else a
        check(lambda x: x % -1, extreme)  # INT_MIN % -1 is 0, not a trap


@pytest.mark.parametrize("dtype", FLOATS + [torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool])
def test_maximum_minimum(dtype):
    a, b = make((4, 6), dtype, low=-9, high=9, gen_seed=11), make((6,), dtype, low=-9, high=9, gen_seed=12)
    for fn in (torch.maximum, torch.minimum):
        check(fn, a, b)
        check(lambda x, y: fn(x, y, out=torch.empty(0, dtype=dtype, device=x.device)), a, b)
    if dtype.is_floating_point:  # a NaN on either side wins, as on PyTorch
        x = torch.tensor([float("nan"), 1.0, 2.0, float("-inf")], dtype=dtype)
        y = torch.tensor([0.0, float("nan"), 3.0, -0.0], dtype=dtype)
        check(torch.maximum, x, y)
        check(torch.minimum, x, y)
    check(torch.maximum, make((3,), torch.int32, gen_seed=13), make((3,), torch.float32, gen_seed=14))  # promotes


def test_remainder_of_bools_is_not_implemented():
    for dev in ("cpu", "gems"):
        with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
            torch.remainder(torch.tensor([True], device=dev), torch.tensor([True], device=dev))


@pytest.mark.skipif(not RAISES_IN_KERNELS, reason="a kernel cannot raise on this vendor (nor on PyTorch's CUDA)")
def test_integer_division_by_zero_raises():
    a, b = torch.tensor([1, 2]), torch.tensor([1, 0])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        torch.div(a.to("gems"), b.to("gems"), rounding_mode="floor")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        torch.remainder(a.to("gems"), b.to("gems"))


UNARY_FLOAT = [torch.exp, torch.log, torch.sqrt, torch.rsqrt, torch.sin, torch.cos, torch.tanh,
               torch.sigmoid, F.silu, F.relu, torch.neg, torch.abs,
               lambda x: F.gelu(x), lambda x: F.gelu(x, approximate="tanh")]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", UNARY_FLOAT)
def test_unary_float(op, dtype, shape):
    positive = op in (torch.log, torch.sqrt, torch.rsqrt)
    x = make(shape, dtype, low=0.1 if positive else -4, high=4, gen_seed=7)
    check(op, x)
    check(op, noncontiguous(x))


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("op", [torch.neg, torch.abs, F.relu])
def test_unary_integer(op, dtype):
    if dtype == torch.uint8 and op is torch.neg:
        pytest.skip("PyTorch wraps uint8 negation; covered by the int types")
    check(op, make((4, 5), dtype, gen_seed=8))


@pytest.mark.parametrize("op", [torch.exp, torch.sqrt, torch.sin])
def test_unary_integer_promotes_to_float(op):
    check(op, make((6,), torch.int64, low=0, high=5))


@pytest.mark.parametrize("dtype", FLOATS)
def test_inplace_and_out_forms(dtype):
    a, b = make((4, 4), dtype, gen_seed=9), make((4,), dtype, gen_seed=10)
    ga, gb = a.to("gems"), b.to("gems")
    ga.add_(gb, alpha=2)
    a.add_(b, alpha=2)
    assert_same(ga, a, **TOL[dtype])
    ga.mul_(gb).sub_(gb).div_(gb.abs() + 1).exp_().neg_()
    a.mul_(b).sub_(b).div_(b.abs() + 1).exp_().neg_()
    assert_same(ga, a, **TOL[dtype])
    out = torch.empty(0, dtype=dtype, device="gems")
    torch.mul(ga, gb, out=out)
    assert_same(out, torch.mul(a, b), **TOL[dtype])
    torch.exp(gb, out=out.resize_(0))  # out= resizes an empty out
    assert_same(out, torch.exp(b), **TOL[dtype])


def test_inplace_cannot_change_dtype_or_broadcast_self():
    x = torch.ones(3, dtype=torch.int64, device="gems")
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        x.add_(torch.ones(3, device="gems") * 0.5)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        torch.ones(3, device="gems").add_(torch.ones(2, 3, device="gems"))


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64])
def test_pow(dtype):
    base = make((3, 4), dtype, low=1, high=4, gen_seed=11)
    exponent = make((3, 4), dtype, low=0, high=3, gen_seed=12)
    check(torch.pow, base, exponent)
    check(lambda x: x ** 2, base)
    check(lambda x: x ** 2.0, base)  # an integer tensor to a float power gives floats
    check(lambda x: x ** 3, base)
    if dtype.is_floating_point:  # a square is the product, rounded once, as PyTorch computes it
        wide = make((1000,), dtype, low=-100, high=100, gen_seed=70)
        assert torch.equal((to_gems(wide) ** 2).cpu(), wide * wide)


def test_square_of_bool_promotes_as_pow_does():
    x = torch.tensor([True, False, True])
    check(lambda t: t ** 2, x)


@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_clamp_by_tensors(dtype):
    # tensor bounds (T5 in fp16 clamps by a 0-dim tensor): broadcast, either bound alone, min > max gives max
    x = make((5, 6), dtype, low=-10, high=10, gen_seed=14)
    lo, hi = make((6,), dtype, low=-5, high=0, gen_seed=15), make((5, 1), dtype, low=0, high=5, gen_seed=16)
    check(lambda t, a, b: torch.clamp(t, a, b), x, lo, hi)
    check(lambda t, a: torch.clamp(t, min=a), x, lo)
    check(lambda t, b: torch.clamp(t, max=b), x, hi)
    check(lambda t, a, b: t.clone().clamp_(a, b), x, lo, hi)
    check(lambda t, a, b: torch.clamp(t, a, b, out=torch.empty(0, dtype=dtype, device=t.device)), x, lo, hi)
    check(lambda t, a, b: torch.clamp(t, a, b), x, hi.reshape(5, 1)[:1, :1].reshape(()), lo[:1].reshape(()))
    if dtype.is_floating_point:
        check(lambda t, b: torch.clamp(t, max=b), torch.tensor([float("nan"), 1.0, -3.0], dtype=dtype),
              torch.tensor(0.5, dtype=torch.float32))  # NaN stays NaN; a float32 0-dim bound keeps x's dtype
    for dev in ("cpu", "gems"):
        with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
            torch.clamp(torch.ones(2, device=dev), min=None, max=None)


@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_clamp(dtype):
    x = make((5, 6), dtype, low=-10, high=10, gen_seed=13)
    check(lambda t: torch.clamp(t, min=-2, max=5), x)
    check(lambda t: torch.clamp(t, min=1), x)
    check(lambda t: torch.clamp(t, max=0), x)


def test_clamp_propagates_nan():
    x = torch.tensor([float("nan"), 1.0, -5.0])
    check(lambda t: torch.clamp(t, -1, 1), x)


@pytest.mark.parametrize("dtype", FLOATS + [torch.float64])
def test_optimizer_arithmetic(dtype):
    x, a, b = make((4, 5), dtype, gen_seed=44), make((4, 5), dtype, gen_seed=45), make((5,), dtype, low=1, high=3)
    check(lambda x, a, b: torch.addcmul(x, a, b, value=0.5), x, a, b)
    check(lambda x, a, b: torch.addcdiv(x, a, b, value=-2), x, a, b)
    check(lambda x, a: torch.lerp(x, a, 0.3), x, a)
    check(lambda x, a: torch.lerp(x, a, 0.9), x, a)
    check(lambda x, a, b: torch.addcmul(x, a.to(torch.int64), b.to(torch.int64)), x.to(torch.int64), a, b)


@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
@pytest.mark.parametrize("op", [torch.eq, torch.ne, torch.lt, torch.le, torch.gt, torch.ge])
def test_comparisons(op, dtype):
    a = make((4, 5), dtype, gen_seed=14)
    b = make((5,), dtype, gen_seed=15)
    check(op, a, b)
    check(lambda x: op(x, 1), a)


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64, torch.uint8, torch.bool])
def test_all_any(dtype):
    x = make((3, 4, 5), dtype, low=0, high=2, gen_seed=46)
    for op in (torch.all, torch.any):
        check(op, x)
        check(lambda t: op(t, dim=1), x)
        check(lambda t: op(t, dim=(0, 2), keepdim=True), x)
        check(lambda t: op(t, dim=0), torch.empty(0, 3, dtype=dtype))


@requires_kernels("cumsum", "tril")
@pytest.mark.parametrize("dtype", FLOATS + [torch.int32, torch.int64])
def test_cumsum_tril_triu(dtype):
    x = make((3, 5, 6), dtype, gen_seed=49)
    for dim in (0, 1, -1):
        check(lambda t: torch.cumsum(t, dim), x, tol=dict(rtol=2e-2, atol=5e-2) if dtype in (torch.float16, torch.bfloat16) else None)
    check(lambda t: torch.cumsum(t, 1, dtype=torch.float64), x)
    for diagonal in (-1, 0, 2):
        check(lambda t: torch.tril(t, diagonal), x)
        check(lambda t: torch.triu(t.transpose(1, 2), diagonal), x)


def check_topk(x, k, dim=-1, largest=True):
    """Values equal CPU's in order; indices point at those values (ties may pick other indices)."""
    expected = torch.topk(x, k, dim, largest=largest)
    values, indices = torch.topk(to_gems(x), k, dim, largest=largest)
    assert_same(values, expected.values, rtol=0, atol=0)
    assert indices.dtype == torch.int64 and indices.shape == expected.indices.shape
    assert_same(torch.gather(x, dim, indices.cpu()).to("gems"), expected.values, rtol=0, atol=0)


@requires_kernels("topk")
@pytest.mark.parametrize("dtype", FLOATS + [torch.float64] + INTS)
def test_topk(dtype):
    x = make((6, 37), dtype, low=-100, high=100, gen_seed=50)
    for k in (0, 1, 5, 37):
        check_topk(x, k)
        check_topk(x, k, largest=False)
    check_topk(x, 3, dim=0)
    check_topk(x.t(), 4, dim=1)  # strided rows
    check_topk(make((2, 3, 300), dtype, low=-5, high=5, gen_seed=51), 50)  # many ties
    check_topk(make((), dtype, gen_seed=52), 1)
    check_topk(make((4, 0), dtype), 0)


@requires_kernels("topk")
def test_topk_nan_ties_and_out():
    x = torch.tensor([[1.0, float("nan"), 3.0, -float("inf"), 3.0, 0.0, -0.0, float("inf")]])
    for k in range(1, 9):
        check_topk(x, k)
        check_topk(x, k, largest=False)
    # equal values come out lowest index first, on every vendor
    ties = torch.tensor([[2.0, 5.0, 2.0, 5.0, 2.0, 1.0]])
    assert torch.topk(ties.to("gems"), 4).indices.cpu().tolist() == [[1, 3, 0, 2]]
    # a large row: the vocabulary of a language model
    check_topk(torch.randn(3, 32000, generator=torch.Generator().manual_seed(53)), 50)
    check_topk(torch.randn(2, 4096, generator=torch.Generator().manual_seed(54)).bfloat16(), 2048)
    values, indices = torch.empty(0, device="gems"), torch.empty(0, dtype=torch.long, device="gems")
    x = make((5, 9), torch.float32, gen_seed=55)
    out = torch.topk(x.to("gems"), 3, out=(values, indices))
    assert out[0] is values and out[1] is indices
    assert_same(values, torch.topk(x, 3).values, rtol=0, atol=0)


def check_sort(x, dim=-1, descending=False):
    """Values and indices equal to PyTorch's stable sort: equal elements keep their order."""
    want = torch.sort(x, dim=dim, descending=descending, stable=True)
    got = torch.sort(x.to("gems"), dim=dim, descending=descending, stable=True)
    assert_same(got.values, want.values, rtol=0, atol=0)
    assert torch.equal(got.indices.cpu(), want.indices)


@requires_kernels("sort")
@pytest.mark.parametrize("dtype", FLOATS + [torch.float64] + INTS)
def test_sort(dtype):
    x = make((6, 37), dtype, low=-4, high=4, gen_seed=130).round()  # few distinct values: many ties
    for dim in (0, 1, -1):
        for descending in (False, True):
            check_sort(x, dim, descending)
    check_sort(x.t(), 1, True)  # strided rows
    check_sort(make((), dtype, gen_seed=131))
    # rows longer than the nvidia kernel sorts on chip: a vocabulary of logits, with ties
    check_sort(make((3, 5000), dtype, low=-50, high=50, gen_seed=132).round(), descending=True)
    check_sort(make((2, 3, 4099), dtype, low=-50, high=50, gen_seed=133).round(), dim=2)


@requires_kernels("sort")
def test_sort_nan_zeros_out_and_top_p():
    x = torch.tensor([[1.0, float("nan"), 3.0, -float("inf"), 3.0, 0.0, -0.0, float("inf"), -0.0]])
    for descending in (False, True):
        check_sort(x, descending=descending)
        check_sort(x.repeat(1, 600), descending=descending)  # long rows: the same order
    values, indices = torch.empty(0, device="gems"), torch.empty(0, dtype=torch.long, device="gems")
    out = torch.sort(x.to("gems"), descending=True, out=(values, indices))
    assert out[0] is values and out[1] is indices
    # HF's top-p filter sorts the logits (default overload, stable=False): no fallback
    logits = torch.randn(2, 32000, generator=torch.Generator().manual_seed(134))
    flag_gems.reset_counts()
    got = torch.sort(logits.to("gems"), descending=False)
    want = torch.sort(logits, stable=True)  # (ties among 32000 floats: this order is the stable one)
    assert_same(got.values, want.values, rtol=0, atol=0)
    assert torch.equal(got.indices.cpu(), want.indices)
    assert flag_gems.fallback_counts() == {}


def test_mask_ops():
    a, b = make((4, 5), torch.bool, gen_seed=47), make((5,), torch.bool, gen_seed=48)
    check(torch.bitwise_and, a, b)
    check(torch.bitwise_or, a, b)
    check(torch.bitwise_not, a)
    check(lambda x, y: x & y | ~x, a, b)
    x = torch.tensor([[float("-inf"), 1.0, float("inf")], [0.0, float("nan"), -2.0]])
    check(torch.isneginf, x)
    check(torch.isneginf, torch.tensor([1, -5]))
    check(lambda t, m: t.masked_fill(m, -1.5), make((4, 5), torch.float32), a)
    check(lambda t, m: t.clone().masked_fill_(m, float("-inf")), make((4, 5), torch.bfloat16), b)


@requires_kernels("isin")
@pytest.mark.parametrize("dtype", FLOATS + [torch.int64, torch.int32])
def test_isin(dtype):
    x, t = make((4, 6), dtype, low=-5, high=5, gen_seed=50), make((2, 3), dtype, low=-5, high=5, gen_seed=51)
    check(torch.isin, x, t)
    check(lambda a, b: torch.isin(a, b, invert=True), x, t)
    check(torch.isin, x, torch.empty(0, dtype=dtype))


@requires_kernels("bitwise_and", "bitwise_or", "bitwise_not")
def test_integer_bitwise_ops():
    i, j = make((4, 5), torch.int64, low=-50, high=50), make((5,), torch.int32, low=0, high=40)
    check(torch.bitwise_and, i, j)
    check(torch.bitwise_or, i, j)
    check(torch.bitwise_not, i)


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64, torch.bool])
def test_where(dtype):
    cond = make((4, 1), torch.bool, gen_seed=16)
    a, b = make((4, 3), dtype, gen_seed=17), make((3,), dtype, gen_seed=18)
    check(torch.where, cond, a, b)
    out = torch.empty(0, dtype=dtype, device="gems")
    torch.where(cond.to("gems"), a.to("gems"), b.to("gems"), out=out)
    assert_same(out, torch.where(cond, a, b))


@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
def test_fill_zero_and_factories(dtype):
    x = torch.empty(3, 4, dtype=dtype, device="gems")
    x.fill_(1)
    assert_same(x, torch.ones(3, 4, dtype=dtype))
    x.zero_()
    assert_same(x, torch.zeros(3, 4, dtype=dtype))
    assert_same(torch.full((2, 3), 7, dtype=dtype, device="gems"), torch.full((2, 3), 7, dtype=dtype))
    assert_same(torch.ones(5, dtype=dtype, device="gems")[1::2], torch.ones(5, dtype=dtype)[1::2])
    # dense fills in 16-byte stores with a tail past the last vector; an unaligned start
    big = torch.empty(3, 1001, dtype=dtype, device="gems").fill_(1)
    assert_same(big, torch.ones(3, 1001, dtype=dtype))
    big.view(-1)[1:].zero_()
    expected = torch.zeros(3, 1001, dtype=dtype)
    expected[0, 0] = 1
    assert_same(big, expected)


# ---- reductions ----
REDUCE_DIMS = [None, 0, -1, (0, 2), (1,), ()]


@pytest.mark.parametrize("dtype", FLOATS + [torch.int32, torch.int64])
@pytest.mark.parametrize("dim", REDUCE_DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum(dtype, dim, keepdim):
    x = make((3, 4, 5), dtype, gen_seed=19)
    if dim is None:
        check(torch.sum, x, tol=dict(rtol=2e-2, atol=5e-2) if dtype.is_floating_point else None)
    else:
        check(lambda t: torch.sum(t, dim=dim, keepdim=keepdim), x,
              tol=dict(rtol=2e-2, atol=5e-2) if dtype != torch.float32 and dtype.is_floating_point else None)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", REDUCE_DIMS)
def test_mean(dtype, dim):
    x = make((3, 4, 5), dtype, gen_seed=20)
    fn = (lambda t: torch.mean(t)) if dim is None else (lambda t: torch.mean(t, dim=dim, keepdim=True))
    check(fn, x, tol=dict(rtol=1e-2, atol=1e-2))


@pytest.mark.parametrize("dtype", FLOATS + [torch.float64, torch.int32])
def test_nansum(dtype):
    # NaN counts as zero (HF's typical-p sampling); integers sum as sum does
    x = make((5, 7), dtype, gen_seed=40)
    if dtype.is_floating_point:
        x[make((5, 7), torch.bool, gen_seed=41)] = float("nan")
        x[0] = float("nan")  # a row of NaN sums to 0
    tol = TOL.get(dtype, {})
    check(torch.nansum, x, tol=tol)
    check(lambda t: torch.nansum(t, 1), x, tol=tol)
    check(lambda t: torch.nansum(t, 0, keepdim=True), x.t(), tol=tol)
    check(lambda t: torch.nansum(t, 1, dtype=torch.float64 if dtype.is_floating_point else torch.int64), x)
    check(lambda t: torch.nansum(t, 1, out=torch.empty(0, dtype=t.dtype if dtype.is_floating_point else torch.int64,
                                                       device=t.device)), x, tol=tol)


@pytest.mark.parametrize("dtype", FLOATS + [torch.float64])
def test_linalg_vector_norm(dtype):
    x = make((6, 9), dtype, gen_seed=43)
    x[0, :3] = 0
    tol = dict(rtol=2e-2, atol=2e-2) if dtype == torch.bfloat16 else TOL[dtype]
    for ord in (2, 1, float("inf"), float("-inf"), 0, 3, 0.5, -1):
        check(lambda t: torch.linalg.vector_norm(t, ord), x, tol=tol)
        check(lambda t: torch.linalg.vector_norm(t, ord, dim=1), x, tol=tol)
        check(lambda t: torch.linalg.vector_norm(t, ord, dim=(0,), keepdim=True), x.t(), tol=tol)
    check(lambda t: torch.linalg.vector_norm(t, 2, dtype=torch.float64), x)  # computed in the dtype asked for
    check(lambda t: torch.norm(t, dim=1), x, tol=tol)
    check(lambda t: torch.linalg.vector_norm(t, 2, dim=1, out=torch.empty(0, dtype=dtype, device=t.device)), x, tol=tol)


def test_linalg_vector_norm_errors():
    for dev in ("cpu", "gems"):
        with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input. Got Long"):
            torch.linalg.vector_norm(torch.ones(3, dtype=torch.long, device=dev))
        with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
            torch.linalg.vector_norm(torch.ones(0, device=dev), float("inf"))


@pytest.mark.parametrize("dtype", FLOATS + [torch.int32, torch.int64])
def test_reciprocal_and_tensor_bounded_clamps(dtype):
    x = make((5, 6), dtype, gen_seed=44)
    if dtype.is_floating_point:
        x[0, 0] = 0  # 1 / 0 is inf
    check(torch.reciprocal, x)  # integers give floats
    if dtype.is_floating_point:
        check(lambda t: t.clone().reciprocal_(), x)
    check(lambda t: torch.reciprocal(t, out=torch.empty(0, dtype=torch.reciprocal(x).dtype, device=t.device)), x)
    bound = make((6,), dtype, gen_seed=45)
    check(torch.clamp_min, x, bound)
    check(torch.clamp_max, x, bound)
    check(lambda t, b: t.clone().clamp_min_(b), x, bound)
    check(lambda t, b: torch.clamp_max(t, b, out=torch.empty(0, dtype=dtype, device=t.device)), x, bound)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_and_its_gradient(dtype, reduction):
    # regression heads (HF's *ForSequenceClassification with one label): loss and gradient, broadcast target
    x, y = make((6, 5), dtype, gen_seed=46), make((6, 5), dtype, gen_seed=47)
    tol = dict(rtol=2e-2, atol=2e-2) if dtype != torch.float32 else TOL[dtype]
    check(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, y, tol=tol)
    check(lambda a, b: torch.ops.aten.mse_loss(a, b, 1), x, y[:1], tol=tol)
    grad = make((6, 5) if reduction == "none" else (), dtype, gen_seed=48)
    code = {"none": 0, "mean": 1, "sum": 2}[reduction]
    check(lambda g, a, b: torch.ops.aten.mse_loss_backward(g, a, b, code), grad, x, y, tol=tol)
    got = []
    for dev in ("cpu", "gems"):  # through autograd
        w = x.to(dev).detach().requires_grad_()
        loss = F.mse_loss(w, y.to(dev), reduction=reduction)
        (loss if reduction != "none" else loss.sum()).backward()
        got.append(w.grad.cpu())
    torch.testing.assert_close(got[1], got[0], **tol)


def test_unfold_is_a_view():
    # sliding windows (HF's no_repeat_ngram_size): a view of the same memory, as on every device
    x = make((4, 10), torch.float32, gen_seed=42)
    check(lambda t: t.unfold(1, 3, 2), x)
    check(lambda t: t.unfold(0, 2, 1).unfold(1, 4, 3), x)
    check(lambda t: t.t().unfold(0, 5, 5), x)
    g = x.to("gems")
    windows = g.unfold(1, 3, 1)
    windows[0, 0, 0] = 42.0
    assert g[0, 0].item() == 42.0 and windows.untyped_storage().data_ptr() == g.untyped_storage().data_ptr()
    for dev in ("cpu", "gems"):
        with pytest.raises(RuntimeError, match="maximum size for tensor at dimension 1 is 10 but size is 11"):
            torch.zeros(4, 10, device=dev).unfold(1, 11, 1)


def test_sum_dtype_argument_and_noncontiguous():
    x = make((6, 5), torch.float16, gen_seed=21)
    check(lambda t: torch.sum(t, dim=1, dtype=torch.float32), x)
    check(lambda t: t.t().sum(dim=0), x, tol=dict(rtol=1e-2, atol=1e-2))
    check(lambda t: torch.sum(t), make((4,), torch.bool))


def test_mean_of_integers_raises_like_cpu():
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        torch.ones(3, dtype=torch.int64, device="gems").mean()


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64, torch.int32, torch.uint8])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_indices(dtype, dim, keepdim):
    x = make((4, 6, 3), dtype, low=-50, high=50, gen_seed=22)
    for op in (torch.max, torch.min):
        ev, ei = op(x, dim=dim, keepdim=keepdim)
        av, ai = op(x.to("gems"), dim=dim, keepdim=keepdim)
        assert_same(av, ev)
        assert_same(ai, ei)


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64])
def test_full_and_multi_dim_reductions(dtype):
    x = make((4, 6, 3), dtype, gen_seed=23)
    for fn in (torch.max, torch.min, torch.argmax, torch.argmin,
               lambda t: torch.amax(t, dim=(0, 2)), lambda t: torch.amin(t, dim=(1,), keepdim=True),
               lambda t: torch.argmax(t, dim=1), lambda t: torch.argmin(t, dim=-1, keepdim=True),
               lambda t: torch.argmax(t, keepdim=True)):
        check(fn, x)


def test_max_propagates_nan_and_first_index_on_ties():
    x = torch.tensor([[1.0, 3.0, 3.0, float("nan"), 2.0], [5.0, 5.0, 1.0, 0.0, 5.0]])
    check(torch.amax, x, dim=1)
    check(lambda t: torch.max(t, dim=1).indices, x)
    check(lambda t: torch.argmax(t, dim=1), x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
def test_few_long_rows(dtype):
    # A whole tensor or a few long rows reduced (x.sum(), x.max(), a loss's mean): the nvidia vendor cuts
    # each row into chunks folded by many blocks and merges them in order. Ties and a NaN at the far end:
    # the first index still wins, NaN still propagates.
    x = make((3, 200003), dtype, low=-50, high=50, gen_seed=140)
    if dtype.is_floating_point:
        x = x.round()  # ties
    tol = dict(rtol=1e-2, atol=1.0) if dtype == torch.bfloat16 else {}
    for fn in (torch.max, torch.min, torch.argmax, torch.argmin, lambda t: t.amax(1), lambda t: t.argmin(1),
               lambda t: torch.max(t, 1).indices):
        check(fn, x)
    check(torch.sum, x, tol=tol)
    check(lambda t: t.sum(1), x, tol=tol)
    if dtype.is_floating_point:
        check(lambda t: t.float().mean(), x)
        y = x.clone()
        y[1, 199999] = float("nan")
        check(lambda t: torch.max(t, 1).values, y)
        check(lambda t: torch.max(t, 1).indices, y)
        check(torch.argmax, y)
    check(torch.argmax, x[:, 1:])  # unaligned start
    # few outputs over a strided dim (a tall matrix reduced over its rows): a block per output
    tall = x.t().contiguous()[:, :6]  # [200003, 6], reduced over dim 0 with stride 6
    for fn in (lambda t: t.amax(0), lambda t: t.argmin(0), lambda t: torch.max(t, 0).indices):
        check(fn, tall)
    check(lambda t: t.sum(0), tall, tol=tol)


@requires_kernels("histc")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_histc(dtype):
    # Bins are placed in float or wider, as on CUDA; PyTorch's CPU places bfloat16 elements in bfloat16
    # arithmetic (a few move across a bin edge), so bfloat16 is compared with the float32 histogram.
    def ref(fn):
        return (lambda t: fn(t.float()).to(dtype)) if dtype == torch.bfloat16 else fn

    x = make((300,), dtype, low=-3, high=5, gen_seed=150)
    for fn in (lambda t: torch.histc(t, 8, -2, 4),  # values outside [min, max] are not counted
               lambda t: torch.histc(t, 5)):  # min = max = 0: the data's range
        assert_same(fn(x.to("gems")), ref(fn)(x))
    check(lambda t: torch.histc(t, 4), torch.full((3,), 2.0, dtype=dtype))  # one value: [v - 1, v + 1]
    check(lambda t: torch.histc(t, 4, 0, 4), torch.tensor([1.0, 2.0, 5.0, float("nan"), 4.0, 0.0, -1.0], dtype=dtype))
    out = torch.empty(0, dtype=dtype, device="gems")
    assert torch.histc(x.to("gems"), 3, 0, 3, out=out) is out


@requires_kernels("histc")
def test_histc_of_integers_counts_as_on_cuda():
    # HF's MoE layers count tokens per expert with an int histc on every device but cpu and mps;
    # PyTorch's CPU has no integer histc, so the reference is bincount.
    experts = torch.randint(0, 8, (200,), generator=torch.Generator().manual_seed(151), dtype=torch.int32)
    got = torch.histc(experts.to("gems"), bins=8, min=0, max=7)
    assert got.dtype == torch.int32
    assert torch.equal(got.cpu(), torch.bincount(experts, minlength=8).int())


@requires_kernels("histc")
def test_histc_of_many_values_and_bins():
    # Enough values for several blocks (nvidia) or tasks (cpu), and more bins than a block's shared
    # histogram holds; float64 so that PyTorch's CPU places values in the same arithmetic.
    x = make((300001,), torch.float64, low=-1, high=11, gen_seed=152)
    for bins, lo, hi in ((10, 0, 10), (20000, 0, 10), (7, 0, 0)):
        assert_same(torch.histc(x.to("gems"), bins, lo, hi), torch.histc(x, bins, lo, hi))
    assert_same(torch.histc(x.to("gems")[::3], 50, 2, 9), torch.histc(x[::3], 50, 2, 9))  # strided
    ids = torch.randint(-5, 9000, (100000,), generator=torch.Generator().manual_seed(153))
    got = torch.histc(ids.to("gems"), bins=9000, min=0, max=8999)  # int64: counted straight into the result
    assert got.dtype == torch.int64
    assert torch.equal(got.cpu(), torch.bincount(ids[ids >= 0], minlength=9000))


@requires_kernels("histc")
def test_histc_errors():
    for dev in ("cpu", "gems"):
        x = torch.tensor([1.0, 2.0], device=dev)
        with pytest.raises(RuntimeError, match="bins must be > 0"):
            torch.histc(x, 0)
        with pytest.raises(RuntimeError, match="max must be larger than min"):
            torch.histc(x, 3, 2, 1)
        with pytest.raises(RuntimeError, match="is not finite"):
            torch.histc(torch.tensor([1.0, float("inf")], device=dev), 3)


def test_reduction_of_empty_dim_raises_index_error():
    with pytest.raises(IndexError, match="Expected reduction dim 0 to have non-zero size"):
        torch.amax(torch.empty(0, 3, device="gems"), dim=0)
    with pytest.raises(RuntimeError, match="Expected reduction dim to be specified"):
        torch.empty(0, device="gems").max()


# ---- softmax, norms ----
@pytest.mark.parametrize("dtype", FLOATS + [torch.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("fn", [torch.softmax, torch.log_softmax])
def test_softmax(fn, dtype, dim):
    x = make((5, 7, 3), dtype, low=-8, high=8, gen_seed=24)
    check(lambda t: fn(t, dim=dim), x)
    check(lambda t: fn(t, dim=dim), noncontiguous(x))


def test_softmax_of_all_neg_inf_row_matches_cpu():
    x = torch.tensor([[float("-inf")] * 3, [0.0, 1.0, 2.0]])
    check(lambda t: torch.softmax(t, 1), x)


def check_against_float64(fn, x, **tol):
    # The reference is fn in float64, rounded to x's dtype: under pytest torch's own float32 CPU exp was
    # seen 1.5e-4 off (relative) on the half of a tensor its second thread computed, now and then, which
    # made a float32 reference flaky at these tolerances.
    assert_same(fn(to_gems(x)), fn(x.double()).to(x.dtype), **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("fn", [torch.softmax, torch.log_softmax])
def test_softmax_of_long_rows_with_special_values(fn, dtype):
    # Rows long enough for the vendors' vector loops and their tails (5003 = 312 * 16 + 11, past one
    # 4096-element block of partial sums), with a NaN row, masked (-inf) entries, an all -inf row and
    # large magnitudes, dense and strided.
    x = make((6, 5003), torch.float32, low=-30, high=30, gen_seed=120)
    x[1, 17] = float("nan")
    x[2, ::3] = float("-inf")
    x[3] = float("-inf")
    x[4, 4999] = 80.0
    x = x.to(dtype)
    tol = dict(rtol=2e-2, atol=1e-2) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-6)
    check_against_float64(lambda t: fn(t, -1), x, **tol)
    check_against_float64(lambda t: fn(t.t().contiguous().t(), -1), x, **tol)  # rows of stride 6


def test_exp_log_sigmoid_silu_and_tanh_of_long_runs_with_special_values():
    # float32 runs through the cpu vendor's vector loops (and their tails): special values as torch's
    x = make((3, 1037), torch.float32, low=-100, high=100, gen_seed=121)
    x[0, :6] = torch.tensor([float("nan"), float("inf"), float("-inf"), 88.8, -104.0, 0.0])
    # below 1e-35 results are not checked relatively: subnormals keep few bits, and sigmoid's and silu's
    # float form underflows to 0 where exp(-x) overflows (x < -88.7; torch's float kernels alike)
    tol = dict(rtol=2e-6, atol=1e-35)
    for fn in (torch.exp, torch.sigmoid, F.silu, torch.tanh):
        check_against_float64(fn, x, **tol)
        check_against_float64(fn, x.t(), **tol)  # strided
    # tanh near 0 (relative precision where 1 - 2 / (e^2x + 1) would cancel) and around its branch point
    near = torch.cat([torch.linspace(-1e-3, 1e-3, 501), torch.linspace(-0.7, 0.7, 501), torch.tensor([1e-30, -1e-30])])
    check_against_float64(torch.tanh, near, rtol=2e-6, atol=0.0)
    # log over its whole range: zeros, negatives, subnormals, inf, NaN, and values around 1
    pos = torch.cat([torch.tensor([0.0, -0.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-45, 1e-40,
                                   1.17549435e-38, 3.4e38, 1.0, 1.0000001, 0.9999999]),
                     torch.logspace(-44, 38, 2001), torch.linspace(0.5, 2.0, 2001)])
    check_against_float64(torch.log, pos, rtol=2e-6, atol=1e-7)
    check_against_float64(torch.log, pos[::3], rtol=2e-6, atol=1e-7)  # strided
    # gelu's tanh form: 1 + tanh cancels for negative inputs, so both sides' tanh errors are magnified there
    check_against_float64(lambda t: F.gelu(t, approximate="tanh"), x, rtol=1e-3, atol=1e-6)
    # gelu's exact form (erf) over a dense grid, around |x| / sqrt 2 = 1 and 3.92 (where an earlier erf's
    # branches met), small and large inputs; 1 + erf cancels below 0 (atol)
    edges = torch.cat([torch.linspace(-8, 8, 4001), torch.linspace(1.40, 1.43, 301), torch.linspace(5.5, 5.6, 101),
                       torch.tensor([1e-30, -1e-30, 0.0, float("nan"), float("inf"), float("-inf")])])
    for t in (x, edges):
        check_against_float64(F.gelu, t, rtol=3e-6, atol=1e-6)
        # its backward, Phi(x) + x phi(x) (the two terms cancel below 0: atol)
        check_against_float64(lambda u: torch.ops.aten.gelu_backward(torch.ones_like(u), u), t, rtol=3e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(dtype, affine):
    x = make((4, 3, 8), dtype, gen_seed=25)
    w = make((3, 8), dtype, gen_seed=26) if affine else None
    b = make((3, 8), dtype, gen_seed=27) if affine else None
    check(lambda t, w, b: F.layer_norm(t, (3, 8), w, b, eps=1e-5), x, w, b, tol=dict(rtol=2e-2, atol=2e-2))


@pytest.mark.parametrize("dtype", FLOATS)
def test_rms_norm(dtype):
    x, w = make((6, 16), dtype, gen_seed=28), make((16,), dtype, gen_seed=29)
    check(lambda t, w: F.rms_norm(t, (16,), w, eps=1e-6), x, w, tol=dict(rtol=2e-2, atol=2e-2))
    check(lambda t: F.rms_norm(t, (16,)), x, tol=dict(rtol=2e-2, atol=2e-2))


# Row counts and widths that take each way of spreading a row over a block
# (on nvidia: 1, 2 or 4 vectors a thread, from the row count; see reduce.cuh),
# with rows that end in part of a block's last pass.
ROW_SHAPES = [((8, 4096), torch.bfloat16), ((20, 4104), torch.bfloat16), ((1024, 4096), torch.bfloat16),
              ((9000, 64), torch.float32), ((17000, 264), torch.bfloat16)]


@pytest.mark.parametrize("shape,dtype", ROW_SHAPES)
def test_row_kernels_at_each_thread_split(shape, dtype):
    x, w, b = make(shape, dtype, gen_seed=30), make(shape[-1:], dtype, gen_seed=31), make(shape[-1:], dtype, gen_seed=32)
    tol = dict(rtol=2e-2, atol=2e-2)
    check(lambda t: torch.softmax(t, -1), x, tol=tol)
    check(lambda t: torch.log_softmax(t, -1), x, tol=tol)
    check(lambda t, w, b: F.layer_norm(t, shape[-1:], w, b, eps=1e-5), x, w, b, tol=tol)
    check(lambda t, w: F.rms_norm(t, shape[-1:], w, eps=1e-6), x, w, tol=tol)


# ---- cross entropy: one fused kernel when no gradient is needed ----
@requires_kernels("cross_entropy")
@pytest.mark.parametrize("dtype", FLOATS + [torch.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_fused(dtype, reduction, weighted):
    import flag_gems
    x = make((9, 37), dtype, low=-6, high=6, gen_seed=60)
    target = torch.tensor([0, 36, 5, -100, 5, 12, 1, 30, 2])  # -100: PyTorch's default ignore_index
    weight = make((37,), dtype, low=0, high=2, gen_seed=61) if weighted else None
    flag_gems.reset_counts()
    # the reference: PyTorch's composition in float32, rounded once (gems keeps
    # the log-probabilities in float32 rather than rounding them to 16 bits)
    expected = F.cross_entropy(x.float(), target, None if weight is None else weight.float(), reduction=reduction)
    got = F.cross_entropy(to_gems(x), to_gems(target), None if weight is None else to_gems(weight),
                          reduction=reduction)
    assert got.dtype == dtype and got.shape == expected.shape
    assert_same(got, expected.to(dtype), **TOL[dtype])
    counts = flag_gems.native_counts()
    assert counts["cross_entropy_loss"] == 1 and "_log_softmax" not in counts and "nll_loss_forward" not in counts
    # strided logits and a target that ignores another index
    check(lambda t, y: F.cross_entropy(t, y, ignore_index=5), noncontiguous(x.float()), target.clamp(min=0))


@requires_kernels("cross_entropy", "cross_entropy_backward")
@pytest.mark.parametrize("dtype", FLOATS + [torch.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_fused_gradient(dtype, reduction, weighted):
    import flag_gems
    x = make((7, 29), dtype, low=-5, high=5, gen_seed=62)
    target = torch.tensor([1, 0, 28, -100, 3, 3, 7])
    weight = make((29,), dtype, low=0, high=2, gen_seed=63) if weighted else None
    xc = x.float().clone().requires_grad_()
    loss = F.cross_entropy(xc, target, None if weight is None else weight.float(), reduction=reduction)
    upstream = make(loss.shape, torch.float32, gen_seed=64)
    (loss * upstream).sum().backward()
    xg = to_gems(x).requires_grad_()
    flag_gems.reset_counts()
    got = F.cross_entropy(xg, to_gems(target), None if weight is None else to_gems(weight), reduction=reduction)
    (got * to_gems(upstream.to(dtype))).sum().backward()
    counts = flag_gems.native_counts()
    assert counts["cross_entropy_loss"] == 1 and "_log_softmax" not in counts and "nll_loss_backward" not in counts
    assert got.requires_grad and xg.grad.dtype == dtype
    assert_same(got.detach(), loss.detach().to(dtype), **TOL[dtype])
    assert_same(xg.grad, xc.grad.to(dtype), **TOL[dtype])
    assert xg.grad[3].abs().sum() == 0  # the ignored sample gets no gradient


@requires_kernels("cross_entropy", "cross_entropy_backward")
@pytest.mark.parametrize("shape", [(3, 20000), (70000, 8)], ids=["few long rows", "more rows than a grid dim"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cross_entropy_shapes_kernels_split(shape, dtype):
    n, c = shape
    x = make(shape, dtype, low=-8, high=8, gen_seed=67)
    g = torch.Generator().manual_seed(68)
    target = torch.randint(0, c, (n,), generator=g)
    target[1] = -100
    weight = make((c,), dtype, low=0.5, high=2, gen_seed=69)
    xc = x.float().clone().requires_grad_()
    loss = F.cross_entropy(xc, target, weight.float())
    loss.backward()
    xg = to_gems(x).requires_grad_()
    got = F.cross_entropy(xg, to_gems(target), to_gems(weight))
    got.backward()
    assert_same(got.detach(), loss.detach().to(dtype), **TOL[dtype])
    assert_same(xg.grad, xc.grad.to(dtype), **TOL[dtype])


@requires_kernels("cross_entropy", "cross_entropy_backward")
def test_cross_entropy_second_derivative_and_weight_needing_a_gradient():
    import flag_gems
    x, target = make((5, 6), torch.float64, gen_seed=65), torch.tensor([1, 0, 5, 3, 3])
    weight = make((6,), torch.float64, low=0.5, high=2, gen_seed=66)

    def hessian_vector(dev):  # create_graph: the first gradient is differentiated again
        xd = x.to(dev).requires_grad_()
        (g,) = torch.autograd.grad(F.cross_entropy(xd, target.to(dev)), xd, create_graph=True)
        (g * g).sum().backward()
        return g.detach().cpu(), xd.grad.cpu()

    for got, want in zip(hessian_vector("gems"), hessian_vector("cpu")):
        torch.testing.assert_close(got, want)
    # a weight that needs a gradient goes to PyTorch's composition, which refuses it as on CPU
    for dev in ("cpu", "gems"):
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
            F.cross_entropy(x.to(dev), target.to(dev), weight.to(dev).requires_grad_())
    with torch.inference_mode():  # no autograd key at all: still the fused kernel
        flag_gems.reset_counts()
        assert_same(F.cross_entropy(to_gems(x), to_gems(target)), F.cross_entropy(x, target), **TOL[torch.float64])
        assert flag_gems.native_counts()["cross_entropy_loss"] == 1


# ---- matrix products ----
@pytest.mark.parametrize("dtype", FLOATS + [torch.float64])
def test_mm_bmm_addmm_linear_matmul(dtype):
    tol = dict(rtol=2e-2, atol=2e-2) if dtype in (torch.float16, torch.bfloat16) else dict(rtol=1e-4, atol=1e-4)
    a, b = make((5, 7), dtype, gen_seed=30), make((7, 3), dtype, gen_seed=31)
    check(torch.mm, a, b, tol=tol)
    check(torch.mm, a, make((3, 7), dtype, gen_seed=32).t(), tol=tol)  # transposed operand, no copy
    check(torch.bmm, make((2, 5, 7), dtype), make((2, 7, 4), dtype, gen_seed=33), tol=tol)
    check(lambda c, x, y: torch.addmm(c, x, y, beta=0.5, alpha=2.0), make((3,), dtype, gen_seed=34), a, b, tol=tol)
    check(F.linear, make((2, 4, 7), dtype, gen_seed=35), make((6, 7), dtype, gen_seed=36), make((6,), dtype), tol=tol)
    check(torch.matmul, make((3, 2, 5, 7), dtype, gen_seed=37), make((7, 2), dtype, gen_seed=38), tol=tol)
    check(torch.mm, make((4, 0), dtype), make((0, 3), dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_first_product_of_a_shape_keeps_beta_times_c(dtype):
    # Shapes seen nowhere else: on their first call the nvidia vendor times cuBLASLt's candidate
    # algorithms (into scratch memory), after beta * C is already in the output; the result, and
    # the second call's with the algorithm it chose, must both be PyTorch's.
    tol = dict(rtol=2e-2, atol=2e-2) if dtype == torch.bfloat16 else dict(rtol=1e-4, atol=1e-4)
    c, a, b = make((37, 29), dtype, gen_seed=90), make((37, 45), dtype, gen_seed=91), make((45, 29), dtype, gen_seed=92)
    cb, ab, bb = make((3, 21, 19), dtype, gen_seed=93), make((3, 21, 13), dtype, gen_seed=94), make((3, 13, 19), dtype, gen_seed=95)
    for _ in range(2):
        check(lambda c, x, y: torch.addmm(c, x, y, beta=0.5, alpha=2.0), c, a, b, tol=tol)
        check(lambda c, x, y: torch.baddbmm(c, x, y, beta=-1.5, alpha=0.5), cb, ab, bb, tol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_matrix_vector_products_in_every_layout(dtype):
    # One row or one column (a decode step's projections; the cpu vendor runs them as BLAS gemv):
    # each operand dense, transposed, or a strided slice of a larger matrix.
    tol = dict(rtol=2e-2, atol=2e-2) if dtype == torch.bfloat16 else dict(rtol=1e-4, atol=1e-4)
    row, col = make((1, 9), dtype, gen_seed=60), make((9, 1), dtype, gen_seed=61)
    w = make((6, 9), dtype, gen_seed=62)
    wide = make((12, 20), dtype, gen_seed=63)
    for a in (row, col.t(), wide[3:4, 2:11], wide[2:11, 5:6].t()):  # [1, 9]
        for b in (w.t(), w.t().contiguous(), wide[1:10, 4:10], wide[4:10, 1:10].t()):  # [9, 6]
            check(torch.mm, a, b, tol=tol)
            check(torch.mm, b.t(), a.t(), tol=tol)  # [6, 9] @ [9, 1]: one column
    check(lambda c, x, y: torch.addmm(c, x, y, beta=0.5, alpha=2.0), make((6,), dtype, gen_seed=64), row, w.t(), tol=tol)
    check(torch.bmm, make((3, 1, 9), dtype, gen_seed=65), make((3, 9, 5), dtype, gen_seed=66), tol=tol)
    v = make((9,), dtype, gen_seed=67)
    check(torch.matmul, w, v, tol=tol)  # matrix @ vector: mv
    check(torch.mv, wide[1:10, 4:10].t(), wide[0, 1:10], tol=tol)  # transposed matrix, strided vector
    check(lambda c, m, x: torch.addmv(c, m, x, beta=0.5, alpha=2.0), make((6,), dtype, gen_seed=68), w, v, tol=tol)
    check(lambda c, m, x: torch.addmv(c, m, x), make((), dtype, gen_seed=69), w, v, tol=tol)  # broadcast bias
    check(lambda c, m, x: c.clone().addmv_(m, x, alpha=-1.0), make((6,), dtype, gen_seed=70), w, v, tol=tol)
    check(torch.mv, make((3, 0), dtype), make((0,), dtype))
    check(torch.mm, make((1, 0), dtype), make((0, 4), dtype))  # no inner dim: zeros


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_decode_shaped_products(dtype):
    # A decode step's projections: a few token rows against a weight in either layout (N or K
    # contiguous, the latter nn.Linear's), the few rows on either side, with bias and beta/alpha.
    tol = dict(rtol=2e-2, atol=0.25)

    def m(shape, seed):
        return make(shape, dtype, low=-1, high=1, gen_seed=seed)

    for rows in (1, 9, 16):
        x, w_kn, w_nk = m((rows, 1088), 100 + rows), m((1088, 192), 101), m((192, 1088), 102)
        check(torch.mm, x, w_kn, tol=tol)
        check(F.linear, x, w_nk, m((192,), 103), tol=tol)
        check(torch.mm, w_nk, x.t(), tol=tol)
        check(lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=-2.0), m((rows, 192), 104), x, w_kn, tol=tol)
    check(torch.mm, m((16, 2048 + 72), 105)[:, :2048], m((2048, 128), 106), tol=tol)  # rows of a wider tensor
    check(F.linear, m((2, 3, 1024), 108), m((256, 1024), 109), tol=tol)  # [batch, seq, hidden] as HF calls it
    # the nvidia vendor's few-row kernel: K not a multiple of its 32-wide steps, N not of its 16-wide
    # tiles, tokens that fill part of one or two MMA tiles, weights of many blocks, beta and alpha
    for rows in (3, 12):
        x, w = m((rows, 1096), 110 + rows), m((1000, 1096), 111)
        check(F.linear, x, w, tol=tol)
        check(lambda c, a, b: torch.addmm(c, a, b.t(), beta=0.5, alpha=-2.0), m((rows, 1000), 112), x, w, tol=tol)
    check(F.linear, m((5, 8), 113), m((7, 8), 114), tol=tol)  # K of one 8-element slice


@pytest.mark.parametrize("rows", [2, 3, 4, 5, 7, 12, 16, 17])
def test_few_row_float_products(rows):
    # A few tokens against an nn.Linear weight in float32 (the cpu vendor's few-row kernel, 2 to 16
    # rows, and BLAS past it): rows in whole and partial groups of four, K with and without a tail
    # past 8-wide steps, an odd N, token rows of a wider tensor, alpha and beta.
    tol = dict(rtol=1e-4, atol=1e-4)
    for k, n in ((256, 37), (61, 40), (5, 3)):
        x, w = make((rows, k), torch.float32, gen_seed=140 + k), make((n, k), torch.float32, gen_seed=141 + k)
        check(F.linear, x, w, tol=tol)
        check(F.linear, make((rows, k + 9), torch.float32, gen_seed=142)[:, 3:k + 3], w, make((n,), torch.float32), tol=tol)
        check(lambda c, a, b: torch.addmm(c, a, b.t(), beta=0.5, alpha=-2.0), make((rows, n), torch.float32), x, w, tol=tol)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_short_inner_dim_products(dtype):
    # Batched products with a short K and millions of outputs, as eager attention's scores run them:
    # K of 128, 72 and 40 (not a multiple of 16); M and N not multiples of 128; the second operand with
    # rows of n and, transposed, rows of k; a batch that is a strided slice; alpha and beta.
    tol = dict(rtol=1.6e-2, atol=2e-2)

    def m(shape, seed):
        return make(shape, dtype, low=-1, high=1, gen_seed=seed)

    for k in (128, 72, 40):
        a, b_kn, b_nk = m((4, 1000, k), 120 + k), m((4, k, 1064), 121 + k), m((4, 1064, k), 122 + k)
        check(torch.bmm, a, b_kn, tol=tol)
        check(lambda x, y: torch.bmm(x, y.transpose(1, 2)), a, b_nk, tol=tol)
    q, keys = m((2, 2, 1000, 64), 130), m((2, 2, 1064, 64), 131)
    check(lambda x, y: torch.matmul(x, y.transpose(-1, -2)) * 0.125, q, keys, tol=tol)  # 4-d, as HF's eager attention
    a, b = m((8, 1000, 64), 132)[::2], m((4, 64, 1064), 133)
    check(torch.bmm, a, b, tol=tol)
    check(lambda c, x, y: torch.baddbmm(c, x, y, beta=0.5, alpha=-2.0), m((4, 1000, 1064), 134), a, b, tol=tol)
    check(lambda c, x, y: torch.baddbmm(c, x, y, alpha=0.25), m((1000, 1064), 135), a, b, tol=tol)  # broadcast c


def test_mm_shape_and_dtype_errors():
    a = torch.ones(2, 3, device="gems")
    with pytest.raises(RuntimeError, match="cannot be multiplied \\(2x3 and 4x5\\)"):
        torch.mm(a, torch.ones(4, 5, device="gems"))
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.mm(a, torch.ones(3, 2, device="gems", dtype=torch.float64))


# ---- building tensors ----
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
def test_cat(dtype):
    a, b = make((2, 3), dtype, gen_seed=39), make((4, 3), dtype, gen_seed=40)
    check(lambda x, y: torch.cat([x, y]), a, b)
    check(lambda x, y: torch.cat([x.t(), y.t()], dim=1), a, b)
    check(lambda x, y: torch.cat([x, torch.empty(0, dtype=dtype).to(x.device), y], dim=-2), a, b)


@pytest.mark.parametrize("dim", [0, 1])
def test_cat_of_many_dense_inputs(dim):
    # 40 inputs: more than one launch's worth where a vendor batches them (32), rows of whole 16-byte vectors
    parts = [make((1, 8) if dim == 0 else (4, 8), torch.float32, gen_seed=100 + k) for k in range(40)]
    check(lambda *xs: torch.cat(list(xs), dim=dim), *parts)


def test_cat_promotes_and_checks_shapes():
    check(lambda x, y: torch.cat([x, y]), make((2,), torch.int32), make((3,), torch.float32))
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        torch.cat([torch.ones(2, 3, device="gems"), torch.ones(2, 4, device="gems")])


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_and_embedding(dtype, dim):
    x = make((5, 6, 4), dtype, gen_seed=41)
    idx = torch.tensor([4, 0, 0, 2, 1]) if dim == 0 else torch.tensor([1, 3, 3])
    check(lambda t, i: torch.index_select(t, dim, i), x, idx)
    weight = make((10, 8), dtype, gen_seed=42)
    check(F.embedding, torch.tensor([[1, 2], [9, 0]]), weight)


@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.float64, torch.bool])
def test_gather(dtype):
    x = make((4, 5, 6), dtype, gen_seed=80)
    g = torch.Generator().manual_seed(81)
    check(lambda t, i: torch.gather(t, 1, i), x, torch.randint(0, 5, (4, 3, 6), generator=g))
    check(lambda t, i: torch.gather(t, -1, i), x, torch.randint(0, 6, (2, 5, 9), generator=g))  # smaller, longer
    check(lambda t, i: torch.gather(t, 0, i), x.transpose(0, 2), torch.randint(0, 6, (3, 1, 4), generator=g))
    check(lambda t, i: torch.gather(t, 1, i), x, torch.randint(0, 5, (4, 2, 6), generator=g, dtype=torch.int32))
    check(lambda t, i: torch.gather(t, 0, i), make((), dtype, gen_seed=82), torch.tensor(0))  # 0-dim
    check(lambda t, i: torch.gather(t, 1, i), x, torch.empty(4, 0, 6, dtype=torch.long))
    # The repetition penalty of HF's generate: the logits of the tokens seen so far.
    logits, seen = make((2, 50), dtype, gen_seed=83), torch.randint(0, 50, (2, 7), generator=g)
    check(lambda t, i: torch.gather(t, 1, i), logits, seen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool])
def test_advanced_indexing(dtype):
    x = make((4, 5, 6), dtype, gen_seed=84)
    i, j = torch.tensor([[3], [0]]), torch.tensor([1, -5, 4])  # broadcast to [2, 3]; -5 counts from the end
    check(lambda t, a: t[a], x, torch.tensor([2, 0, -1, 2]))
    check(lambda t, a, b: t[a, b], x, i, j)  # adjacent indexed dims: the index shape replaces them
    check(lambda t, a, b: t[:, a, b], x, torch.tensor([0, 4]), torch.tensor([5, 1]))
    check(lambda t, a, b: t[a, :, b], x, i, torch.tensor([0, 5, 2]))  # separated: the index shape leads
    check(lambda t, a: t[..., a], x.transpose(0, 2), torch.tensor([[1, 3], [0, 0]]))
    check(lambda t, a: t[a], x, torch.tensor([1, 2], dtype=torch.int32))
    check(lambda t, a, b, c: t[a, b, c], x, torch.tensor(3), torch.tensor([0, 4]), torch.tensor([[5], [0]]))
    check(lambda t, a: t[a], x, torch.empty(0, dtype=torch.long))
    # HF's padding mask lookup: mask[batch_idx, kv_idx] with arange indices over four dims.
    mask = make((2, 7), dtype, gen_seed=85)
    check(lambda t, a, b: t[a, b], mask, torch.arange(2)[:, None, None, None], torch.arange(7)[None, None, None, :])
    # index tensors on the CPU index a gems tensor, as PyTorch allows for any device
    assert_same(to_gems(x)[torch.tensor([1, 3])], x[torch.tensor([1, 3])])
    # one index tensor over long rows (MoE routing, embedding-like lookups) takes the row-copy path
    rows = make((6, 2, 130), dtype, gen_seed=88)
    check(lambda t, a: t[a], rows, torch.tensor([[4, -1], [0, 5]]))
    check(lambda t, a: t[a], rows.transpose(0, 1), torch.tensor([1, -2, 0]))


def with_zeros(x, seed):
    """x with about half its elements zero (and, for floats, a -0.0, which is zero, and a NaN, which is not)."""
    x = x.clone()
    x[make(x.shape, torch.bool, gen_seed=seed)] = 0
    if x.dtype.is_floating_point and x.numel() >= 2:
        x.view(-1)[0], x.view(-1)[-1] = -0.0, float("nan")
    return x


@requires_kernels("count_nonzero", "nonzero")
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.float64, torch.bool])
def test_nonzero(dtype):
    # one vendor tile (2048 elements) or several, in one block or many (more than 8 tiles); 0-dim; empty
    for shape in [(5, 6, 7), (3, 5000), (2049,), (3, 7000), (), (0, 3)]:
        x = with_zeros(make(shape, dtype, gen_seed=86), 87)
        check(torch.nonzero, x)
        check(torch.argwhere, x)
    x = with_zeros(make((5, 6, 7), dtype, gen_seed=88), 89)
    check(torch.nonzero, x.transpose(0, 2))  # a strided tensor: its own coordinates, in its own order
    check(torch.nonzero, torch.zeros(4, 3, dtype=dtype))
    check(torch.nonzero, torch.ones(4, 3, dtype=dtype))
    check(lambda t: torch.nonzero(t, out=torch.empty(0, dtype=torch.long, device=t.device)), x)
    for got, expected in zip(torch.where(x.to("gems")), torch.where(x)):  # torch.where(cond): one tensor a dim
        assert_same(got, expected)


@requires_kernels("count_nonzero", "nonzero")
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
def test_boolean_masks_select(dtype):
    # x[mask] and masked_select: the mask's nonzero positions as index tensors (no fallback)
    x = make((5, 6, 7), dtype, gen_seed=90)
    mask = make((5, 6, 7), torch.bool, gen_seed=91)
    check(lambda t, m: t[m], x, mask)
    check(lambda t, m: t[m], x, mask[:, :, 0].contiguous())  # leading dims: whole rows
    check(lambda t, m: t[:, m], x, mask[0, :, 0].contiguous())
    check(lambda t, m: t[m, 2], x, mask[:, 0, 0].contiguous())  # a mask beside an integer index
    check(lambda t, m: t[m], x, torch.zeros(5, 6, dtype=torch.bool))  # nothing selected
    check(lambda t, m: t[m], x.transpose(0, 1), mask[0, :, :5].contiguous())  # a strided self
    check(torch.masked_select, x, mask)
    check(torch.masked_select, x, mask[:1, :, :1])  # broadcast mask
    check(torch.masked_select, x[0, 0, :1], mask[0])  # broadcast self
    check(torch.masked_select, x[0, 0, 0], mask[0, 0, 0])  # 0-dim operands: a 1-D result
    check(lambda t, m: torch.masked_select(t, m, out=torch.empty(0, dtype=dtype, device=t.device)), x, mask)
    assert_same(x.to("gems")[mask], x[mask])  # a CPU mask for a gems tensor
    big, big_mask = make((3, 7000), dtype, gen_seed=92), make((3, 7000), torch.bool, gen_seed=93)
    check(lambda t, m: t[m], big, big_mask)  # many vendor tiles
    with pytest.warns(UserWarning, match="indexing with dtype torch.uint8 is now deprecated"):
        check(lambda t, m: t[m], big[0], big_mask[0].to(torch.uint8))  # a uint8 mask: served, with PyTorch's warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning is the gems op's own, not only the CPU reference's
        with pytest.raises(UserWarning, match="indexing with dtype torch.uint8"):
            to_gems(big[0])[to_gems(big_mask[0].to(torch.uint8))]


@requires_kernels("accumulate_rows", "count_nonzero", "nonzero")
@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_index_put_by_masks_and_several_index_tensors(dtype):
    x = make((5, 6, 7), dtype, gen_seed=192)
    mask = make((5, 6), torch.bool, gen_seed=193)
    n = int(mask.sum())

    def put(t, key, v):
        t = t.clone()
        t[key] = v
        return t
    check(lambda t, m, v: put(t, m, v), x, mask, make((n, 7), dtype, gen_seed=194))  # a value a selected row
    check(lambda t, m, v: put(t, m, v), x, mask, make((7,), dtype, gen_seed=195))  # one row for all
    inner = make((6, 7), torch.bool, gen_seed=196)
    check(lambda t, m, v: put(t, (slice(None), m), v), x, inner, make((5, int(inner.sum())), dtype, gen_seed=197))
    check(lambda t, m, v: t.index_put((m,), v, accumulate=True), x, mask, make((n, 7), dtype, gen_seed=198))
    # several integer index tensors (pairs never repeat: a repeated one's winner is unspecified)
    i, j = torch.tensor([0, 2, -1, 3]), torch.tensor([1, -2, 3, 1])
    check(lambda t, a, b, v: put(t, (a, b), v), x, i, j, make((4, 7), dtype, gen_seed=199))
    check(lambda t, a, b, v: put(t, (a, slice(None), b), v), x, i, j, make((4, 6), dtype, gen_seed=200))  # separated
    check(lambda t, a, b, v: put(t, (slice(None), a, b), v), x, torch.tensor([[0], [5]]), torch.tensor([6, 0, 2]),
          make((5, 2, 3), dtype, gen_seed=201))  # broadcast index tensors after a whole dim
    check(lambda t, a, b, v: put(t, (a, b), v), x, i.int(), j.int(), make((), dtype, gen_seed=202))
    check(lambda t, a, v: put(t, a, v), x, torch.tensor([[0, 4], [1, 2]]), make((2, 2, 6, 7), dtype, gen_seed=203))
    # with accumulate, repeated pairs add up
    check(lambda t, a, b, v: t.index_put((a, b), v, accumulate=True), x, torch.tensor([0, 4, 0, 0]),
          torch.tensor([1, 2, 1, -5]), make((4, 7), dtype, gen_seed=204))
    # self no view of its rows: put in a copy, written back into self
    def into_transposed(t, a, b, v):
        t = t.transpose(0, 2).clone().transpose(0, 2)
        t[a, :, b] = v
        return t
    check(into_transposed, x, i, j, make((4, 6), dtype, gen_seed=205))


@requires_kernels("accumulate_rows", "count_nonzero", "nonzero")
def test_masks_and_index_tensors_errors():
    for dev in ("cpu", "gems"):
        x = torch.zeros(4, 3, device=dev)
        with pytest.raises(IndexError, match="The shape of the mask \\[3\\] at index 0 does not match the shape of "
                                             "the indexed tensor \\[4, 3\\] at index 0"):
            x[torch.ones(3, dtype=torch.bool, device=dev)]
        with pytest.raises(IndexError, match="The shape of the mask \\[3\\] at index 0 does not match"):
            x[torch.ones(3, dtype=torch.bool, device=dev)] = 1.0  # one value: the masked-fill path checks it too
        with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
            x[torch.ones(4, 3, 2, dtype=torch.bool, device=dev)] = 1.0
        # (a device vendor judges an index tensor's range at the host's next wait: device_checks.h)
        with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
            x[torch.tensor([0, 1], device=dev), torch.tensor([5, 0], device=dev)] = 1.0
            torch.gems.synchronize()
        with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 0 with size 4"):
            x[torch.tensor([-5], device=dev), torch.tensor([0], device=dev)] = 1.0
            torch.gems.synchronize()
        with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
            torch.masked_select(x, torch.ones(4, 3, device=dev))
        with pytest.raises(RuntimeError, match="Expected out tensor to have scalar type Long"):
            torch.nonzero(x, out=torch.empty(0, device=dev))
        with pytest.raises(RuntimeError, match="shape mismatch: value tensor of shape \\[2\\] cannot be broadcast"):
            x[torch.ones(4, 3, dtype=torch.bool, device=dev)] = torch.ones(2, device=dev)


def distinct_indices(shape, dim, size, seed):
    """Indices along dim that never repeat for one position (a duplicate's winner is unspecified)."""
    g = torch.Generator().manual_seed(seed)
    full = list(shape)
    full[dim] = size
    return torch.argsort(torch.rand(full, generator=g), dim=dim).narrow(dim, 0, shape[dim])


@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.float64, torch.bool])
def test_scatter(dtype):
    x = make((4, 5, 6), dtype, gen_seed=120)
    idx = distinct_indices((4, 3, 6), 1, 5, 121)
    src = make((4, 3, 7), dtype, gen_seed=122)  # larger than index along a dim: only index's extent is read
    check(lambda t, i, s: torch.scatter(t, 1, i, s), x, idx, src)
    check(lambda t, i, s: t.clone().scatter_(1, i, s), x, idx, src)
    check(lambda t, i, s: torch.scatter(t, 1, i, s, out=torch.empty(0, dtype=dtype, device=t.device)), x, idx, src)
    check(lambda t, i: torch.scatter(t, -1, i, 1), x, distinct_indices((2, 5, 4), 2, 6, 123))  # a value
    check(lambda t, i: t.clone().scatter_(0, i, 0), x, distinct_indices((3, 5, 6), 0, 4, 124))
    check(lambda t, i, s: torch.scatter(t, 0, i, s), x.transpose(0, 2), distinct_indices((6, 2, 4), 0, 6, 125),
          make((6, 2, 4), dtype, gen_seed=126))  # strided self
    check(lambda t, i, s: torch.scatter(t, 1, i, s), x, torch.empty(4, 0, 6, dtype=torch.long), src)
    check(lambda t, i, s: torch.scatter(t, 1, i, s), x, idx.int(), src)  # int32 indices
    # HF's top-p filter: the removal mask in sorted order written back to vocabulary order
    order = distinct_indices((2, 50), 1, 50, 127)
    check(lambda m, i: m.scatter(1, i, m), make((2, 50), torch.bool, gen_seed=128), order)


@requires_kernels("accumulate_rows")
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
def test_index_put_by_one_index_tensor(dtype):
    x = make((6, 5, 4), dtype, gen_seed=160)
    rows = distinct_indices((3,), 0, 6, 161)

    def put(t, key, v):
        t = t.clone()
        t[key] = v
        return t

    check(lambda t, i, v: put(t, i, v), x, rows, make((3, 5, 4), dtype, gen_seed=162))
    check(lambda t, i, v: put(t, (slice(None), i), v), x, torch.tensor([3, -1]), make((6, 2, 4), dtype, gen_seed=163))
    check(lambda t, i, v: put(t, (slice(None), slice(None), i), v), x, torch.tensor([0, 2], dtype=torch.int32),
          make((2,), dtype, gen_seed=164))  # values broadcast over the other dims
    check(lambda t, i, v: torch.index_put(t, (i,), v), x, rows, make((), dtype, gen_seed=165))
    # HF's MoE layers: the inverse of a permutation, inv_perm[perm] = arange (indices never repeat: a
    # repeated one's winner is unspecified, as on CUDA)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(166))
    check(lambda t, p, v: put(t, p, v), torch.empty(10, dtype=torch.long), perm, torch.arange(10))


@requires_kernels("accumulate_rows")
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.float64])
def test_scatter_add(dtype):
    # repeated indices add up (gather's backward); src larger than index; every dim
    x = make((4, 5, 6), dtype, gen_seed=130)
    src = make((4, 7, 6), dtype, gen_seed=131)
    idx = torch.randint(0, 5, (4, 7, 3), generator=torch.Generator().manual_seed(132))
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s), x, idx, src)
    check(lambda t, i, s: t.clone().scatter_add_(-2, i, s), x, idx, src)
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s, out=torch.empty(0, dtype=dtype, device=t.device)), x, idx, src)
    check(lambda t, i, s: torch.scatter_add(t, 0, i, s), x, torch.randint(0, 4, (9, 2, 6),
          generator=torch.Generator().manual_seed(133)), make((9, 2, 6), dtype, gen_seed=134))
    check(lambda t, i, s: torch.scatter_add(t, 2, i.int(), s), x, torch.randint(0, 6, (4, 5, 10),
          generator=torch.Generator().manual_seed(135)), make((4, 5, 10), dtype, gen_seed=136))  # int32 indices
    # a strided self: added in a contiguous copy, written back in place
    def into_transposed(t, i, s):
        t = t.transpose(0, 2).clone().transpose(0, 2)
        t.scatter_add_(1, i, s)
        return t
    check(into_transposed, x, idx, src)
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s), x, torch.empty(4, 0, 6, dtype=torch.long), src)


@requires_kernels("accumulate_rows")
def test_gather_backward_is_a_scatter_add():
    # a router's weights picked by gather (DeepSeek, Mixtral top-k), trained: the gradient sums repeats
    w = make((6, 8), torch.float32, gen_seed=137)
    idx = torch.tensor([[0, 3, 3], [7, 7, 7], [1, 2, 0], [5, 5, 4], [6, 0, 6], [2, 2, 2]])
    grads = []
    for dev in ("cpu", "gems"):
        p = w.to(dev).detach().requires_grad_()  # a leaf on each device
        torch.gather(p, 1, idx.to(dev)).mul(torch.arange(1.0, 4.0).to(dev)).sum().backward()
        grads.append(p.grad.cpu())
    torch.testing.assert_close(grads[1], grads[0])


@requires_kernels("accumulate_rows")
def test_scatter_add_errors():
    for dev in ("cpu", "gems"):
        x = torch.zeros(3, 4, device=dev)
        # (a device vendor judges the range at the host's next wait: device_checks.h)
        with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 4"):
            x.scatter_add(1, torch.tensor([[0, 5]], device=dev), torch.ones(1, 2, device=dev))
            torch.gems.synchronize()
        with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 4"):
            x.scatter_add(1, torch.tensor([[0, -1]], device=dev), torch.ones(1, 2, device=dev))
            torch.gems.synchronize()
        with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
            x.scatter_add(1, torch.tensor([[0, 1]], device=dev), torch.ones(1, 2, dtype=torch.float64, device=dev))
        with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
            x.scatter_add(1, torch.tensor([[0.0, 1.0]], device=dev), torch.ones(1, 2, device=dev))


@requires_kernels("accumulate_rows")
@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_index_put_with_accumulate(dtype):
    # repeated and negative indices: each row gets the sum of its values (the backward of x[idx])
    x = make((6, 5, 4), dtype, gen_seed=171)
    rows = torch.tensor([0, 5, 0, -1, 2, 0])
    check(lambda t, i, v: t.index_put((i,), v, accumulate=True), x, rows, make((6, 5, 4), dtype, gen_seed=172))
    check(lambda t, i, v: torch.ops.aten.index_put(t, [None, i], v, True), x, torch.tensor([1, 1, 4], dtype=torch.int32),
          make((6, 3, 4), dtype, gen_seed=173))
    check(lambda t, i, v: torch.ops.aten.index_put(t, [None, None, i], v, True), x, torch.tensor([3, 0, 3]),
          make((3,), dtype, gen_seed=174))  # values broadcast over the other dims

    def into_transposed(t, i, v):  # self no view of [rows, columns]: accumulated in a copy, written back
        t = t.transpose(0, 2).clone().transpose(0, 2)
        torch.ops.aten.index_put_(t, [None, i], v, True)
        return t
    check(into_transposed, x, torch.tensor([2, 2, 0]), make((6, 3, 4), dtype, gen_seed=175))


@requires_kernels("accumulate_rows")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("padding_idx, by_freq", [(-1, False), (4, False), (-1, True), (1, True)])
def test_embedding_dense_backward(dtype, padding_idx, by_freq):
    ids = torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9], [1, 1, 1, 1]])
    grad = make((3, 4, 6), dtype, gen_seed=176)
    for index in (ids, ids.int(), ids.t()):  # int32 indices; indices (and their gradient) not contiguous
        g = grad.transpose(0, 1) if index is not ids and index.shape != ids.shape else grad
        check(lambda g, i: torch.ops.aten.embedding_dense_backward(g, i, 10, padding_idx, by_freq), g, index)


@requires_kernels("accumulate_rows")
def test_embedding_backward_sums_in_a_fixed_order():
    # Many lookups of few rows: the gradient is close to the float64 sum and the same bits on every run.
    ids = torch.randint(0, 50, (8192,), generator=torch.Generator().manual_seed(177))
    grad = make((8192, 64), torch.float32, gen_seed=178)
    runs = [torch.ops.aten.embedding_dense_backward(grad.to("gems"), ids.to("gems"), 60, -1, False).cpu()
            for _ in range(3)]
    assert all(torch.equal(r, runs[0]) for r in runs)
    expected = torch.ops.aten.embedding_dense_backward(grad.double(), ids, 60, -1, False).float()
    torch.testing.assert_close(runs[0], expected, rtol=1e-5, atol=1e-4)
    w = torch.randn(60, 64).to("gems").requires_grad_()  # through autograd, as in training
    torch.nn.functional.embedding(ids.to("gems"), w).mul(grad.to("gems")).sum().backward()
    assert torch.equal(w.grad.cpu(), runs[0])


@pytest.mark.parametrize("dtype", FLOATS)
def test_dropout_in_training(dtype):
    x = make((200, 500), dtype, gen_seed=179).to("gems")
    torch.manual_seed(5)
    out, mask = torch.native_dropout(x, 0.3, True)
    assert mask.dtype == torch.bool and mask.shape == x.shape
    assert abs(mask.float().mean().item() - 0.7) < 0.01  # 100000 draws: the kept share within 7 sigma of 1 - p
    assert_same(out, x.cpu() * mask.cpu() / 0.7 if dtype == torch.float32 else (x.cpu().float() * mask.cpu() / 0.7).to(dtype))
    torch.manual_seed(5)
    assert torch.equal(torch.native_dropout(x, 0.3, True)[1].cpu(), mask.cpu())  # a seed gives the same mask
    grad = make((200, 500), dtype, gen_seed=180)
    check(lambda g, m: torch.ops.aten.native_dropout_backward(g, m, 1 / 0.7), grad, mask.cpu())
    w = x.detach().clone().requires_grad_()  # through autograd, as in training
    torch.manual_seed(6)
    y = F.dropout(w, 0.3, training=True)
    y.backward(grad.to("gems"))
    kept = y.detach().cpu() != 0
    assert_same(w.grad, (grad.float() * kept / 0.7).to(dtype))


def test_dropout_edge_cases():
    x = make((4, 5), torch.float32, gen_seed=181).to("gems")
    out, mask = torch.native_dropout(x, 0.4, False)  # not training: the input, all kept
    assert_same(out, x.cpu())
    assert mask.dtype == torch.bool and bool(mask.all())
    assert_same(torch.native_dropout(x, 1.0, True)[0], torch.zeros(4, 5))  # nothing kept
    assert_same(torch.native_dropout(x, 0.0, True)[0], x.cpu())  # everything kept
    assert torch.native_dropout(torch.empty(0, 3, device="gems"), 0.5, True)[0].shape == (0, 3)
    for dev in ("cpu", "gems"):
        with pytest.raises(RuntimeError, match="bernoulli_ expects p to be in \\[0, 1\\], but got p=-0.5"):
            torch.native_dropout(torch.ones(2, 3, device=dev), 1.5, True)


@requires_kernels("accumulate_rows", "count_nonzero", "nonzero")
@pytest.mark.parametrize("dtype", FLOATS + [torch.int64])
def test_index_put_by_a_boolean_mask_and_one_value(dtype):
    # x[mask] = v with one value: a masked fill (scores[mask] = -inf, labels[labels == pad] = -100)
    x = make((4, 5, 3), dtype, gen_seed=182)
    mask = make((4, 5), torch.bool, gen_seed=183)

    def put(t, key, v):
        t = t.clone()
        t[key] = v
        return t
    check(lambda t, m: put(t, m, 7), x, mask)
    check(lambda t, m, v: put(t, m, v), x, mask, torch.tensor(-2, dtype=dtype))  # the value on the device
    check(lambda t, m: put(t, (slice(None), m), 0), x, mask[0, :, None].expand(5, 3).contiguous())
    got = x.to("gems").clone()
    got[mask] = torch.tensor(1, dtype=dtype)  # a CPU mask and a CPU value for a gems tensor
    assert_same(got, put(x, mask, torch.tensor(1, dtype=dtype)))
    check(lambda t, m, v: t.clone().masked_fill_(m, v), x, mask[..., None], torch.tensor(3, dtype=dtype))


def test_masked_fill_takes_a_zero_dim_value_only():
    for dev in ("cpu", "gems"):
        x = torch.zeros(2, 3, device=dev)
        with pytest.raises(RuntimeError, match="masked_fill_ only supports a 0-dimensional value tensor"):
            x.masked_fill_(torch.ones(2, 3, dtype=torch.bool, device=dev), torch.ones(1, device=dev))


@requires_kernels("accumulate_rows")
def test_index_put_errors():
    for dev in ("cpu", "gems"):
        x = torch.zeros(4, 3, device=dev)
        with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
            x[torch.tensor([1], device=dev)] = torch.ones(1, 3, dtype=torch.float64, device=dev)
        with pytest.raises(RuntimeError, match="shape mismatch: value tensor of shape \\[2\\] cannot be broadcast"):
            x[torch.tensor([1], device=dev)] = torch.ones(2, device=dev)


@pytest.mark.skipif(not RAISES_IN_KERNELS, reason="a kernel cannot raise on this vendor; a known gap")
def test_index_put_out_of_range():
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 0 with size 4"):
        torch.zeros(4, 3, device="gems")[torch.tensor([-5], device="gems")] = 1.0
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        torch.zeros(4, 3, device="gems").index_put_((torch.tensor([1, 4]),), torch.ones(3, device="gems"), accumulate=True)


def test_scatter_errors():
    x, src = torch.zeros(3, 4), torch.ones(3, 4)
    for dev in ("cpu", "gems"):
        xd, sd = x.to(dev), src.to(dev)
        with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
            xd.scatter(1, torch.zeros(3, 1, device=dev), sd)
        with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
            xd.scatter(1, torch.zeros(3, 1, dtype=torch.long, device=dev), sd.double())
        with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions as self tensor"):
            xd.scatter(1, torch.zeros(3, dtype=torch.long, device=dev), sd)
        with pytest.raises(RuntimeError, match="Expected index \\[4, 1\\] to be no larger than self \\[3, 4\\] apart"):
            xd.scatter(1, torch.zeros(4, 1, dtype=torch.long, device=dev), sd)


@pytest.mark.skipif(not RAISES_IN_KERNELS, reason="a kernel cannot raise on this vendor; a known gap")
def test_scatter_out_of_range():
    with pytest.raises(RuntimeError, match="index 4 is out of bounds for dimension 1 with size 4"):
        torch.zeros(3, 4, device="gems").scatter_(1, torch.tensor([[4]], device="gems"), 1.0)


@requires_kernels("topk", "cumsum")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_multinomial_draws_by_the_weights(dtype):
    # Frequencies over 20000 independent rows (a binomial's standard deviation is under 0.004 here);
    # a zero weight is never drawn; draws without replacement never repeat.
    weights = torch.tensor([0.1, 0.0, 0.6, 0.3], dtype=dtype)
    rows = weights.to("gems").expand(20000, 4).contiguous()
    torch.manual_seed(0)
    one = torch.multinomial(rows, 1)
    assert one.dtype == torch.int64 and one.shape == (20000, 1)
    freq = torch.bincount(one.cpu().flatten(), minlength=4).double() / 20000
    torch.testing.assert_close(freq, weights.double(), atol=0.02, rtol=0)
    assert freq[1] == 0
    three = torch.multinomial(rows[:500], 3).cpu()  # without replacement: the three non-zero categories
    assert torch.equal(three.sort(1).values, torch.tensor([0, 2, 3]).expand(500, 3))
    five = torch.multinomial(rows[:4000], 5, replacement=True).cpu()
    freq = torch.bincount(five.flatten(), minlength=4).double() / five.numel()
    torch.testing.assert_close(freq, weights.double(), atol=0.02, rtol=0)
    assert torch.multinomial(weights.to("gems"), 2).shape == (2,)  # one distribution: a 1-D result
    # the generator decides: the same seed, the same draws
    g1, g2 = (torch.Generator(device="gems").manual_seed(7) for _ in range(2))
    assert torch.equal(torch.multinomial(rows[:64], 2, generator=g1).cpu(),
                       torch.multinomial(rows[:64], 2, generator=g2).cpu())


@requires_kernels("topk", "cumsum")
def test_multinomial_errors():
    for dev in ("cpu", "gems"):
        # (a device vendor judges the distribution at the host's next wait, as PyTorch's CUDA path does)
        with pytest.raises(RuntimeError, match="probability tensor contains either `inf`, `nan` or element < 0"):
            torch.multinomial(torch.tensor([0.5, -0.1], device=dev), 1)
            torch.gems.synchronize()
        with pytest.raises(RuntimeError, match="probability tensor contains either `inf`, `nan` or element < 0"):
            torch.multinomial(torch.tensor([[0.5, float("nan")]], device=dev), 1)
            torch.gems.synchronize()
        with pytest.raises(RuntimeError, match="invalid multinomial distribution \\(sum of probabilities <= 0\\)"):
            torch.multinomial(torch.tensor([[0.5, 0.5], [0.0, 0.0]], device=dev), 1)
            torch.gems.synchronize()
        with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size\\(-1\\) samples without"):
            torch.multinomial(torch.tensor([0.5, 0.5], device=dev), 3)
        with pytest.raises(RuntimeError, match="multinomial only supports floating-point dtypes for input"):
            torch.multinomial(torch.tensor([1, 2], device=dev), 1)
        with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
            torch.multinomial(torch.ones(2, 2, 2, device=dev), 1)


@pytest.mark.skipif(not RAISES_IN_KERNELS, reason="a kernel cannot raise on this vendor; a known gap")
def test_gather_and_indexing_out_of_range():
    x = torch.ones(3, 4, device="gems")
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[torch.tensor([3], device="gems")]
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        x[:, torch.tensor([-5], device="gems")]
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 4"):
        torch.gather(x, 1, torch.tensor([[-1]], device="gems"))
    # the long-row path (index_select's row copy, negative indices counting from the end)
    with pytest.raises(IndexError, match="index -4 is out of bounds for dimension 0 with size 3"):
        torch.ones(3, 200, device="gems")[torch.tensor([-4], device="gems")]
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        torch.ones(2, 3, 200, device="gems")[:, torch.tensor([0, 3], device="gems")]


@pytest.mark.skipif(not RAISES_IN_KERNELS, reason="a kernel cannot raise on this vendor; a known gap")
def test_index_out_of_range_raises_index_error():
    with pytest.raises(IndexError, match="index out of range"):
        torch.index_select(torch.ones(3, device="gems"), 0, torch.tensor([3], device="gems"))
    with pytest.raises(IndexError, match="index out of range"):
        torch.index_select(torch.ones(3, device="gems"), 0, torch.tensor([-1], device="gems"))


@pytest.mark.parametrize("args,dtype", [((10,), None), ((2, 11, 3), None), ((0, 1, 0.1), None),
                                        ((5, -5, -1.5), torch.float32), ((3, 30, 7), torch.int32),
                                        ((0, 4), torch.bfloat16)])
def test_arange(args, dtype):
    expected = torch.arange(*args, dtype=dtype)
    assert_same(torch.arange(*args, dtype=dtype, device="gems"), expected)


def test_arange_errors():
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        torch.arange(0, 10, 0, device="gems")
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        torch.arange(0, 10, -1, device="gems")


@pytest.mark.parametrize("dtype", FLOATS)
def test_contiguous_and_clone(dtype):
    x = make((4, 5, 6), dtype, gen_seed=43)
    check(lambda t: t.permute(2, 0, 1).contiguous(), x)
    check(lambda t: t[:, 1:4:2].clone(), x)
    check(lambda t: t.to(torch.float64), x)
    check(lambda t: t.to(torch.int32), x)


def test_python_scalars_keep_their_values_across_calls(strict):
    # Vendors keep each distinct scalar after first use, converted to the kernel's dtype (in device
    # memory, or in host memory for the cpu vendor); values that share a dtype must never be
    # confused, nor one value's conversions to different dtypes.
    x = torch.arange(6, dtype=torch.float32)
    g = x.to("gems")
    for value in (2.0, 3.0, 2.0, -0.0, 0.5, 3.0, 1e-6, 0.1):
        assert_same(g * value, x * value)
        assert_same(g + value, x + value)
    for dtype in (torch.bfloat16, torch.float64, torch.float32, torch.bfloat16):
        xd = (x / 3).to(dtype)
        assert_same(xd.to("gems") + 0.1, xd + 0.1)
        assert_same(xd.to("gems").mul_(1e-6), xd.clone().mul_(1e-6))
    n = torch.arange(6)
    for value in (7, -7, 7):
        assert_same(n.to("gems") * value, n * value)
