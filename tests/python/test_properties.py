"""Property-based tests (hypothesis): random shapes, layouts (views with
offsets, expanded, transposed, sliced with steps, zero-size), broadcasting,
dtypes and scalars thrown at the elementwise, reduction, indexing and copy
paths of the gems kernels, each compared with PyTorch's CPU result. Strict
mode holds: a fallback would be an error, so the gems kernels are what is
tested (dtypes a vendor does not serve are left out, not sent to the fallback)."""
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import requires_kernels

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# (the strict fixture only switches strict mode on; it holds for every generated input)


@st.composite
def layouts(draw, shape):
    """A CPU tensor of `shape` laid out one of several ways: contiguous, a
    view with an offset into a larger buffer, transposed, stepped, expanded."""
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(["contiguous", "offset", "transposed", "stepped", "expanded"]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)

    def make(s):
        if dtype == torch.bool:
            return torch.randint(0, 2, s, generator=g).bool()
        if dtype.is_floating_point:
            return (torch.randn(s, generator=g) * 3).to(dtype)
        info = torch.iinfo(dtype)
        return torch.randint(max(info.min, -50), min(info.max, 50), s, generator=g).to(dtype)

    if kind == "contiguous" or len(shape) == 0:
        return make(shape)
    if kind == "offset":
        return make((2,) + tuple(shape))[1]
    if kind == "transposed":
        return make(tuple(reversed(shape))).permute(*reversed(range(len(shape))))
    if kind == "stepped":
        return make(tuple(2 * n for n in shape))[tuple(slice(None, None, 2) for _ in shape)]
    # expanded: size-1 dims broadcast with stride 0 where the shape allows it
    base = make(tuple(1 if i % 2 else n for i, n in enumerate(shape)))
    return base.expand(shape)


DTYPES = [torch.float32, torch.bfloat16, torch.int64, torch.int32, torch.bool]
shapes = st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple)


def broadcastable_to(shape):
    """Shapes that broadcast with `shape`: a suffix of it with some dims 1."""
    return st.integers(0, len(shape)).flatmap(
        lambda k: st.lists(st.booleans(), min_size=k, max_size=k).map(
            lambda ones: tuple(1 if one else n for one, n in zip(ones, shape[len(shape) - k:]))))


def same(got, expected, **tol):
    assert got.device.type == "gems"
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape
    if expected.dtype in (torch.bfloat16, torch.float16):
        tol = dict(rtol=1.6e-2, atol=1e-2) | tol
    torch.testing.assert_close(got.cpu(), expected, equal_nan=True, **tol)


BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "maximum": torch.maximum,
          "eq": torch.eq, "lt": torch.lt, "where": lambda a, b: torch.where(a > 0, a, b)}


@SETTINGS
@given(data=st.data(), shape=shapes, name=st.sampled_from(sorted(BINARY)))
def test_binary_elementwise_with_broadcasting_and_layouts(strict, data, shape, name):
    a = data.draw(layouts(shape))
    b = data.draw(layouts(data.draw(broadcastable_to(shape))))
    if data.draw(st.booleans()):
        a, b = b, a
    fn = BINARY[name]
    try:
        expected = fn(a, b)
    except RuntimeError as e:  # sub on bool: CPU refuses, gems must refuse alike
        with pytest.raises(type(e)):
            fn(a.to("gems"), b.to("gems"))
        return
    same(fn(a.to("gems"), b.to("gems")), expected)


@SETTINGS
@given(data=st.data(), shape=shapes, scalar=st.one_of(st.integers(-5, 5), st.floats(-4, 4, width=32), st.booleans()),
       name=st.sampled_from(["add", "mul", "sub", "div"]))
def test_tensor_with_a_python_scalar(strict, data, shape, scalar, name):
    a = data.draw(layouts(shape))
    fn = getattr(torch, name)
    try:
        expected = fn(a, scalar)
    except RuntimeError as e:
        with pytest.raises(type(e)):
            fn(a.to("gems"), scalar)
        return
    same(fn(a.to("gems"), scalar), expected)


REDUCTIONS = {"sum": torch.sum, "amax": torch.amax, "amin": torch.amin,
              "mean": lambda t, dim, keepdim: torch.mean(t.float() if not t.is_floating_point() else t, dim, keepdim)}


@SETTINGS
@given(data=st.data(), shape=st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple),
       name=st.sampled_from(sorted(REDUCTIONS)), keepdim=st.booleans())
def test_reductions_over_random_dims(strict, data, shape, name, keepdim):
    a = data.draw(layouts(shape))
    assume(not (a.dtype == torch.bool and name != "sum"))
    dims = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                              unique_by=lambda d: d % len(shape)))
    fn = REDUCTIONS[name]
    expected = fn(a, dims, keepdim)
    got = fn(a.to("gems"), dims, keepdim)
    same(got, expected, **({"rtol": 1e-4, "atol": 1e-4} if expected.dtype == torch.float32 else {}))


@SETTINGS
@given(data=st.data(), shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple))
def test_indexing_gather_and_index_select(strict, data, shape):
    a = data.draw(layouts(shape))
    dim = data.draw(st.integers(0, len(shape) - 1))
    n = data.draw(st.integers(0, 8))
    idx = torch.tensor(data.draw(st.lists(st.integers(-shape[dim], shape[dim] - 1), min_size=n, max_size=n)),
                       dtype=torch.long)
    same(torch.index_select(a.to("gems"), dim, idx.remainder(shape[dim]).to("gems")),
         torch.index_select(a, dim, idx.remainder(shape[dim])))
    index = [slice(None)] * dim + [idx]
    same(a.to("gems")[tuple(index)], a[tuple(index)])
    gather_index = torch.randint(0, shape[dim], shape, generator=torch.Generator().manual_seed(n))
    same(torch.gather(a.to("gems"), dim, gather_index.to("gems")), torch.gather(a, dim, gather_index))


@SETTINGS
@given(data=st.data(), shape=shapes, to=st.sampled_from(DTYPES))
def test_copies_between_layouts_and_dtypes(strict, data, shape, to):
    a = data.draw(layouts(shape))
    g = a.to("gems")
    same(g, a)                                  # host to gems from any layout
    same(g.to(to), a.to(to))                    # cast on the device
    same(g.contiguous(), a.contiguous())
    if len(shape) >= 2:
        same(g.transpose(0, 1).contiguous(), a.transpose(0, 1).contiguous())
        out = torch.empty(shape[::-1], dtype=to).to("gems").transpose(0, -1) if len(shape) == 2 else None
        if out is not None:
            out.copy_(g)                        # into a strided destination
            same(out, a.to(to))
    assert torch.equal(g.cpu(), a)              # gems to host


@SETTINGS
@given(data=st.data(), shape=shapes)
def test_float64_on_kernels_or_the_fallback(data, shape):
    """Not strict: float64 runs on the vendor's kernels where it has them, else
    through the fallback; the results are CPU's either way."""
    a = data.draw(layouts(shape)).double()
    same((a.to("gems") * 2 + 1).sum(), (a * 2 + 1).sum())


@requires_kernels("interpolate", dtype=torch.uint8)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.tuples(st.integers(1, 24), st.integers(1, 24)), out=st.tuples(st.integers(1, 48), st.integers(1, 48)),
       channels=st.integers(1, 6), channels_last=st.booleans(), mode=st.sampled_from(["bilinear", "bicubic"]),
       antialias=st.booleans(), align_corners=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_uint8_resize_is_cpus_bit_for_bit(strict, size, out, channels, channels_last, mode, antialias,
                                          align_corners, seed):
    """uint8 resizing of random sizes, up and down, against CPU's fixed-point
    result exactly. Left out: what PyTorch's CPU itself answers two ways
    (antialias with align_corners=True differs between its AVX2 path, up to 4
    channels, and its generic one, NCHW above 4: gems gives the AVX2 path's)
    and what it refuses (an internal assert of its AVX2 path)."""
    assume(not (antialias and align_corners and channels > 4 and not channels_last))
    x = torch.randint(0, 256, (2, channels, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    resize = lambda t: torch.nn.functional.interpolate(t, size=out, mode=mode, antialias=antialias,
                                                       align_corners=align_corners)
    try:
        expected = resize(x)
    except RuntimeError:
        assume(False)
    assert torch.equal(resize(x.to("gems")).cpu(), expected)
