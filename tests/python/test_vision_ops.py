"""The ops of vision and audio models on gems. PyTorch's OpInfo samples of
the ops gems serves (conv1d/2d/3d, conv_transpose1d/2d/3d, batch_norm,
instance_norm, group_norm, max pooling 1-3d, avg and adaptive avg pooling, nearest,
nearest-exact, linear, bilinear, trilinear and area interpolation, reflect,
replicate and circular padding, pixel (un)shuffle, unfold/fold), forward and
backward, run on gems
kernels (strict mode: no fallback) and are as accurate as CPU's; channels-last
layouts are kept; empty and large batches; PyTorch's errors. And the whole
vision family (convolution, pooling, interpolation, normalisation, padding,
fold/unfold, pixel shuffle) matches CPU for every dtype CPU runs, without
strict mode: what has no gems kernel yet runs through the fallback."""
import pytest
import torch

import flag_gems
import torch.nn.functional as F
from torch.testing._internal.common_methods_invocations import op_db

from conftest import requires_kernels, strict  # noqa: F401  (fixture)
from flag_gems import _C

CONVS = [op for op in op_db if op.name in {
    "nn.functional.conv1d", "nn.functional.conv2d", "nn.functional.conv3d",
    "nn.functional.conv_transpose1d", "nn.functional.conv_transpose2d", "nn.functional.conv_transpose3d"}]
SERVED = CONVS + [op for op in op_db if op.name in {
    "nn.functional.batch_norm", "nn.functional.instance_norm", "nn.functional.group_norm",
    "nn.functional.max_pool1d", "nn.functional.max_pool2d", "nn.functional.max_pool3d", "nn.functional.avg_pool1d", "nn.functional.avg_pool2d", "nn.functional.avg_pool3d",
    "nn.functional.adaptive_max_pool1d", "nn.functional.adaptive_max_pool2d", "nn.functional.adaptive_max_pool3d",
    "nn.functional.adaptive_avg_pool1d", "nn.functional.adaptive_avg_pool2d", "nn.functional.adaptive_avg_pool3d",
    "nn.functional.upsample_nearest", "nn.functional.pixel_shuffle", "nn.functional.pixel_unshuffle",
    "nn.functional.unfold", "nn.functional.softplus"} and op.supported_dtypes("cpu")] + [
    op for op in op_db if op.name == "nn.functional.pad" and op.variant_test_name != "constant"] + [
    op for op in op_db if op.name in {"nn.functional.upsample_bilinear", "_upsample_bilinear2d_aa"} or (op.name == "nn.functional.interpolate" and
    op.variant_test_name in {"nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"})]
FLOATS = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
# Tolerances of a sum over a few hundred products; 16-bit results are compared with
# CPU's, which rounds differently (oneDNN's blocking), within a few of their ulps.
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-9),
       torch.bfloat16: dict(rtol=3e-2, atol=3e-2), torch.float16: dict(rtol=5e-3, atol=5e-3)}


def _need_gemm(dtype=torch.float32):
    """Skips where the vendor's gemm does not serve dtype: gems convolutions
    are built on it, and strict mode forbids the fallback."""
    previous = _C.strict()
    _C.set_strict(True)
    try:
        one = torch.ones(1, 1, dtype=dtype, device="gems")
        torch.mm(one, one)
    except NotImplementedError:
        pytest.skip(f"the {flag_gems.vendor_name} vendor's gemm does not serve {dtype}")
    finally:
        _C.set_strict(previous)


def _to(x, device):
    if isinstance(x, torch.Tensor):
        return x.detach().to(device).requires_grad_(x.requires_grad)
    if isinstance(x, (list, tuple)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _leaves(args):
    return [t for t in torch.utils._pytree.tree_leaves(args) if isinstance(t, torch.Tensor) and t.requires_grad]


def _forward_backward(op, sample, device):
    args = _to((sample.input, *sample.args), device)
    kwargs = _to(sample.kwargs, device)
    outputs = op(*args, **kwargs)
    out = outputs[0] if isinstance(outputs, tuple) else outputs  # max_pool2d's (values, indices)
    leaves = _leaves((args, kwargs))
    # A fixed, non-uniform output gradient (a ramp whose sum is far from 0, so
    # that the bias gradient is no rounding noise), the same on both devices.
    grad = torch.linspace(-0.5, 1, out.numel(), dtype=torch.float64).view(out.shape).to(out.dtype).to(device)
    grads = torch.autograd.grad(out, leaves, grad, allow_unused=True) if leaves else ()
    return outputs, grads


def _relative_error(got, reference):
    """The largest error relative to the result's scale, or absolute below a
    scale of 1 (gradients that are zero up to rounding: a norm over a group of
    two elements)."""
    if reference.numel() == 0:
        return 0.0
    return ((got.cpu().double() - reference).abs().max() / max(reference.abs().max().item(), 1.0)).item()


# The error gems may have where CPU's is smaller: a few units of the dtype's precision
# (sums in another order; norms' gradients subtract nearly equal terms).
FLOOR = {torch.float64: 1e-13, torch.float32: 2e-6, torch.bfloat16: 2 * 2.0 ** -8, torch.float16: 4 * 2.0 ** -11}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", SERVED, ids=lambda op: f"{op.name.split('.')[-1]}.{op.variant_test_name}".rstrip("."))
def test_samples_forward_backward_strict(op, dtype, strict):
    """Each result (output and every gradient) is as close to the float64
    result as CPU's own in that dtype: within twice CPU's error, or within a
    few units of the dtype's precision."""
    if dtype not in op.supported_dtypes("cpu"):
        pytest.skip(f"CPU has no {dtype} {op.name}")
    _need_gemm(dtype)
    samples = list(op.sample_inputs("cpu", dtype, requires_grad=True))
    assert samples
    for sample in samples:
        wide = sample.transform(lambda t: t.detach().double().requires_grad_(t.requires_grad)
                                if isinstance(t, torch.Tensor) and t.is_floating_point() else t)
        reference, reference_grads = _forward_backward(op, wide, "cpu")
        expected, expected_grads = _forward_backward(op, sample, "cpu")
        got, got_grads = _forward_backward(op, sample, "gems")
        if isinstance(expected, tuple):  # (values, indices): the same indices
            assert torch.equal(got[1].cpu(), expected[1])
            got, expected, reference = got[0], expected[0], reference[0]
        assert got.device.type == "gems" and got.dtype == expected.dtype and got.shape == expected.shape
        for name, g, e, r in zip(["output"] + [f"gradient {i}" for i in range(len(got_grads))],
                                 [got, *got_grads], [expected, *expected_grads], [reference, *reference_grads]):
            assert (g is None) == (e is None), name
            if e is None:
                continue
            assert g.shape == e.shape, name
            cpu_error, gems_error = _relative_error(e, r), _relative_error(g, r)
            assert gems_error <= max(2 * cpu_error, FLOOR[dtype]), f"{name}: gems {gems_error:.2e}, CPU {cpu_error:.2e}"


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_channels_last_stays_channels_last(transposed, strict):
    _need_gemm()
    x = torch.randn(2, 6, 9, 7).to(memory_format=torch.channels_last)
    w = torch.randn(4, 6, 3, 3) if not transposed else torch.randn(6, 2, 3, 3)
    b = torch.randn(4)
    f = F.conv2d if not transposed else (lambda *a, **k: F.conv_transpose2d(*a, output_padding=1, **k))
    expected = f(x, w, b, stride=2, padding=1, groups=2 if transposed else 1)
    xg = x.to("gems").requires_grad_()
    got = f(xg, w.to("gems"), b.to("gems"), stride=2, padding=1, groups=2 if transposed else 1)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert expected.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
    got.sum().backward()
    assert xg.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("op", ["nearest", "nearest-exact", "bilinear", "bicubic", "antialiased", "group_norm"])
def test_resampling_and_group_norm_keep_channels_last_as_on_cpu(op, strict):
    """The interpolate kernel and group norm's pass write the input's memory
    format, forward and backward, with CPU's values."""
    x = torch.randn(2, 6, 9, 7).to(memory_format=torch.channels_last)
    f = {"nearest": lambda t: F.interpolate(t, size=(13, 5), mode="nearest"),
         "nearest-exact": lambda t: F.interpolate(t, scale_factor=1.7, mode="nearest-exact"),
         "bilinear": lambda t: F.interpolate(t, scale_factor=2, mode="bilinear"),
         "bicubic": lambda t: F.interpolate(t, size=(5, 11), mode="bicubic", align_corners=True),
         "antialiased": lambda t: F.interpolate(t, size=(4, 3), mode="bilinear", antialias=True),
         "group_norm": lambda t: F.group_norm(t, 3)}[op]
    xc, xg = x.clone().requires_grad_(), x.to("gems").requires_grad_()
    expected, got = f(xc), f(xg)
    assert expected.is_contiguous(memory_format=torch.channels_last)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn(expected.shape).to(memory_format=torch.channels_last)
    expected.backward(grad)
    got.backward(grad.to("gems"))
    assert xg.grad.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype,param_dtype", [(torch.float32, torch.float32), (torch.bfloat16, torch.bfloat16),
                                               (torch.bfloat16, torch.float32), (torch.float16, torch.float16),
                                               (torch.float64, torch.float64)], ids=str)
def test_group_norm_outputs_saved_statistics_and_gradients_as_on_cpu(dtype, param_dtype, strict):
    """native_group_norm on the vendor's kernels: the output, the saved mean and
    rstd (in the dtype CPU saves them in: the input's for a 16-bit model, written
    by the coefficients' launch) and the three gradients match CPU."""
    torch.manual_seed(0)
    x = torch.randn(3, 8, 5, 4, dtype=torch.float64) * 2 + 5
    w, b = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    grad = torch.randn(x.shape, dtype=torch.float64)
    results = {}
    for device in ("cpu", "gems"):
        xd = x.to(dtype).to(device).clone().requires_grad_()
        wd, bd = (p.to(param_dtype).to(device).clone().requires_grad_() for p in (w, b))
        out, mean, rstd = torch.native_group_norm(xd, wd, bd, 3, 8, 20, 4, 1e-5)
        out.backward(grad.to(dtype).to(device))
        results[device] = [t.detach().cpu() for t in (out, mean, rstd, xd.grad, wd.grad, bd.grad)]
    tol = TOL[dtype] if dtype not in (torch.bfloat16, torch.float16) else dict(rtol=5e-2, atol=1e-1)
    for got, want in zip(results["gems"], results["cpu"]):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got.double(), want.double(), **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_resampling_copies_special_values_as_on_cpu(mode, dtype, strict):
    """Nearest resampling of floats is one pass of the interpolate kernel with
    weights of 1: NaN, infinities, -0 and subnormals come out as CPU copies them."""
    tiny = torch.finfo(dtype).tiny / 4  # a subnormal
    values = torch.tensor([float("nan"), -0.0, float("inf"), -float("inf"), tiny, -tiny, 3.25, 0.0], dtype=dtype)
    x = values.repeat(6).view(1, 3, 4, 4)
    for dims, size in ((1, (7,)), (2, (7, 3)), (3, (2, 5, 9))):
        xs = x.flatten(2)[..., :12].view(1, 3, 12) if dims == 1 else x if dims == 2 else x.view(1, 3, 2, 2, 4)
        expected = F.interpolate(xs, size=size, mode=mode)
        got = F.interpolate(xs.to("gems"), size=size, mode=mode)
        assert got.dtype == dtype
        torch.testing.assert_close(got.cpu(), expected, rtol=0, atol=0, equal_nan=True)
        assert torch.equal(got.cpu().signbit(), expected.signbit())


@pytest.mark.parametrize("case", ["bicubic", "antialiased", "bilinear_down", "nearest3d", "trilinear"])
def test_resampling_backward_sums_as_cpu_with_infinities_and_nans(case, strict):
    """The backward is one pass over the transposed taps: each input position sums
    the output gradients that read it. An infinity or NaN in the gradient reaches
    exactly the inputs it reaches on CPU: two taps clamped onto one input stay two
    terms (bicubic at the edges: inf - inf), an antialiased window's padding is
    left out, inputs no output reads (downsampling) get 0."""
    x, size, kw = {
        "bicubic": ((1, 2, 6, 5), (13, 3), dict(mode="bicubic", align_corners=False)),
        "antialiased": ((1, 2, 16, 9), (5, 13), dict(mode="bicubic", antialias=True)),
        "bilinear_down": ((2, 3, 9, 7), (3, 2), dict(mode="bilinear")),
        "nearest3d": ((2, 3, 4, 5, 6), (3, 9, 2), dict(mode="nearest")),
        "trilinear": ((1, 2, 3, 4, 5), (6, 2, 9), dict(mode="trilinear", align_corners=True)),
    }[case]
    for dtype in (torch.float32, torch.float64):
        inp = torch.randn(x, dtype=dtype)
        xc, xg = inp.clone().requires_grad_(), inp.to("gems").requires_grad_()
        expected_out, got_out = F.interpolate(xc, size=size, **kw), F.interpolate(xg, size=size, **kw)
        grad = torch.randn(expected_out.shape, dtype=dtype)
        grad.view(-1)[3] = float("inf")
        grad.view(-1)[-2] = float("nan")
        expected_out.backward(grad)
        got_out.backward(grad.to("gems"))
        got = xg.grad.cpu()
        torch.testing.assert_close(got, xc.grad, equal_nan=True)
        assert torch.equal(got.isnan(), xc.grad.isnan()) and torch.equal(got.isinf(), xc.grad.isinf())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_forward_backward_as_on_cpu_cropping_and_unbatched(mode, strict):
    """Reflection and replication pads run in one pass each way (the interpolate
    kernel over index maps), negative padding crops, an unbatched input stays
    unbatched; an infinity or NaN in the gradient reaches the inputs it reaches on CPU."""
    for shape, pad in (((2, 3, 7), (2, -3)), ((3, 5, 6), (-1, 2, 0, 3)), ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2))):
        x = torch.randn(shape, dtype=torch.float64)
        xc, xg = x.clone().requires_grad_(), x.to("gems").requires_grad_()
        expected, got = F.pad(xc, pad, mode=mode), F.pad(xg, pad, mode=mode)
        assert torch.equal(got.cpu(), expected)
        grad = torch.randn(expected.shape, dtype=torch.float64)
        grad.view(-1)[1], grad.view(-1)[-1] = float("inf"), float("nan")
        expected.backward(grad)
        got.backward(grad.to("gems"))
        torch.testing.assert_close(xg.grad.cpu(), xc.grad, equal_nan=True)
        assert torch.equal(xg.grad.cpu().isinf(), xc.grad.isinf())


@pytest.mark.parametrize("pool", ["max2d", "max2d_undilated", "max3d", "avg2d", "adaptive_max2d"])
def test_pooling_ties_nans_and_channels_last_as_on_cpu(pool, strict):
    """The vendor pooling kernels' rules against CPU's on inputs OpInfo's samples
    lack: ties (the first largest wins), NaNs (the last NaN wins), overlapping
    dilated windows with ceil mode, undilated windows (the cpu vendor's
    channels-last path), a channels-last input whose results stay channels-last,
    and the gradients that flow back through the indices."""
    three = pool == "max3d"
    x = torch.randint(-3, 4, (2, 5, 4, 9, 8) if three else (2, 5, 9, 8)).float()  # many ties
    x[0, 1, ..., 2, 3] = float("nan")
    x[1, 2, ..., 4, 4] = float("nan")
    x[1, 2, ..., 4, 5] = float("nan")
    x = x.contiguous(memory_format=torch.channels_last_3d if three else torch.channels_last)
    f = {"max2d": lambda t: F.max_pool2d(t, (3, 2), (2, 1), 1, (1, 2), ceil_mode=True, return_indices=True),
         "max2d_undilated": lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True, return_indices=True),
         "max3d": lambda t: F.max_pool3d(t, 2, (1, 2, 2), 1, ceil_mode=True, return_indices=True),
         "avg2d": lambda t: (F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),),
         "adaptive_max2d": lambda t: F.adaptive_max_pool2d(t, (4, 3), return_indices=True)}[pool]
    xc, xg = x.clone().requires_grad_(), x.to("gems").requires_grad_()
    expected, got = f(xc), f(xg)
    torch.testing.assert_close(got[0].cpu(), expected[0], equal_nan=True)
    if len(expected) > 1:
        assert torch.equal(got[1].cpu(), expected[1])
    assert got[0].is_contiguous(memory_format=torch.channels_last_3d if three else torch.channels_last)
    grad = torch.linspace(-1, 1, expected[0].numel()).view(expected[0].shape)
    expected[0].backward(grad)
    got[0].backward(grad.to("gems"))
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("dims", [2, 3])
def test_fractional_max_pooling_windows_values_indices_and_gradients_as_on_cpu(dims, dtype, strict):
    """Fractional max pooling with given random samples: each plane's window
    starts (PyTorch's interval sequences, rounded in the input's dtype), the
    max with ties and NaNs, the indices and the gradient, batched and not,
    against CPU; and CPU's errors for windows that do not fit."""
    generator = torch.Generator().manual_seed(11 + dims)
    cases = [((2, 3, 11, 9, 10)[:2 + dims], (2, 3, 2)[:dims], (5, 4, 3)[:dims], 2),
             ((3, 13, 12, 7)[:1 + dims], (3, 1, 2)[:dims], (9, 11, 5)[:dims], 1)]
    for shape, kernel, out, samples_batch in cases:
        x = torch.randint(-4, 5, shape, generator=generator).to(dtype)  # many ties
        x.view(-1)[::17] = float("nan")
        samples = torch.rand(samples_batch, shape[-dims - 1], dims, generator=generator).to(dtype)
        f = F.fractional_max_pool2d if dims == 2 else F.fractional_max_pool3d
        xc, xg = x.clone().requires_grad_(), x.to("gems").requires_grad_()
        expected = f(xc, kernel, output_size=out, return_indices=True, _random_samples=samples)
        got = f(xg, kernel, output_size=out, return_indices=True, _random_samples=samples.to("gems"))
        assert torch.equal(got[1].cpu(), expected[1])
        torch.testing.assert_close(got[0].cpu(), expected[0], equal_nan=True, rtol=0, atol=0)
        grad = torch.randn(expected[0].shape, generator=generator).to(dtype)
        expected[0].backward(grad)
        got[0].backward(grad.to("gems"))
        # overlapping windows add into one element: CPU rounds each add in 16-bit types, gems once
        torch.testing.assert_close(xg.grad.cpu(), xc.grad, **TOL.get(dtype, {}))
    x = torch.randn((2, 3, 7, 7, 7)[:2 + dims])
    too_large = (7, 3, 3)[:dims]
    with pytest.raises(RuntimeError, match="too large relative to input"):
        f(x.to("gems"), 2, output_size=too_large, _random_samples=torch.rand(2, 3, dims).to("gems"))
    # two dims too large: the message names the one PyTorch checks first (3-d: width before height)
    two_too_large = (7, 7) if dims == 2 else (3, 6, 6)
    with pytest.raises(RuntimeError) as on_cpu:
        f(x, 2, output_size=two_too_large, _random_samples=torch.rand(2, 3, dims))
    with pytest.raises(RuntimeError) as on_gems:
        f(x.to("gems"), 2, output_size=two_too_large, _random_samples=torch.rand(2, 3, dims).to("gems"))
    assert str(on_gems.value) == str(on_cpu.value)


def test_int64_average_pooling_truncates_as_on_cpu(strict):
    x = torch.randint(-50, 50, (2, 3, 7, 6))
    for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                   dict(kernel_size=3, padding=1, divisor_override=4)):
        assert torch.equal(F.avg_pool2d(x.to("gems"), **kwargs).cpu(), F.avg_pool2d(x, **kwargs))
    assert torch.equal(F.avg_pool3d(x.unsqueeze(0).to("gems"), 2).cpu(), F.avg_pool3d(x.unsqueeze(0), 2))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True], ids=["centers", "corners"])
def test_antialiased_resize_forward_backward_as_on_cpu(mode, align_corners, strict):
    """Antialiased resizing (torchvision's Resize(antialias=True)): downscales
    whose filters widen with the factor, an upscale, and a scale factor, with
    gradients, against CPU."""
    for size, kwargs in [((64, 48), dict(size=(9, 20))), ((20, 20), dict(size=(33, 7))),
                         ((30, 31), dict(scale_factor=0.37)), ((7, 5), dict(size=(1, 1)))]:
        x = torch.randn(2, 3, *size, dtype=torch.float64)
        xc, xg = x.clone().requires_grad_(), x.to("gems").requires_grad_()
        f = lambda t: F.interpolate(t, mode=mode, align_corners=align_corners, antialias=True, **kwargs)
        expected, got = f(xc), f(xg)
        torch.testing.assert_close(got.cpu(), expected, rtol=1e-12, atol=1e-12)
        grad = torch.linspace(-1, 1, expected.numel(), dtype=torch.float64).view(expected.shape)
        expected.backward(grad)
        got.backward(grad.to("gems"))
        torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-12, atol=1e-12)


@requires_kernels("interpolate", dtype=torch.uint8)
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [False, True], ids=["plain", "antialiased"])
def test_uint8_resize_bit_exact_as_on_cpu(mode, antialias, strict):
    """uint8 images resized as torchvision does (bilinear and bicubic,
    antialiased or not, both align_corners): bit for bit CPU's fixed-point
    result (separable passes rounded to uint8 between them; bicubic's
    overshoot clamped), NCHW and channels-last, 3 channels (CPU's AVX path)
    and 8 (its generic one), a dim of unchanged size left alone."""
    generator = torch.Generator().manual_seed(3)
    for channels, layout in [(3, torch.contiguous_format), (8, torch.channels_last), (8, torch.contiguous_format)]:
        x = torch.randint(0, 256, (2, channels, 17, 19), dtype=torch.uint8, generator=generator)
        x = x.contiguous(memory_format=layout)
        for align_corners in (False, True):
            for kwargs in (dict(size=(9, 7)), dict(size=(40, 50)), dict(size=(17, 30)), dict(scale_factor=0.37)):
                f = lambda t: F.interpolate(t, mode=mode, antialias=antialias, align_corners=align_corners, **kwargs)
                expected, got = f(x), f(x.to("gems"))
                assert got.is_contiguous(memory_format=layout)
                assert torch.equal(got.cpu(), expected), (channels, layout, align_corners, kwargs)


def test_same_and_valid_padding_strings(strict):
    _need_gemm()
    x, w = torch.randn(1, 3, 10, 9), torch.randn(5, 3, 4, 3)
    for padding in ("same", "valid"):
        torch.testing.assert_close(F.conv2d(x.to("gems"), w.to("gems"), padding=padding, dilation=2).cpu(),
                                   F.conv2d(x, w, padding=padding, dilation=2), rtol=1e-4, atol=1e-4)


def test_empty_batch(strict):
    _need_gemm()
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    x = torch.randn(0, 3, 8, 8)
    wg = w.detach().to("gems").requires_grad_()
    out = F.conv2d(x.to("gems"), wg, padding=1)
    assert out.shape == (0, 4, 8, 8)
    out.sum().backward()
    assert torch.equal(wg.grad.cpu(), torch.zeros_like(w))
    assert F.conv_transpose2d(x.to("gems"), wg.detach().transpose(0, 1), stride=2).shape == (0, 4, 17, 17)


@pytest.mark.skipif(flag_gems.vendor_name != "nvidia", reason="TF32 is a format of NVIDIA's tensor cores")
def test_float32_convolutions_follow_cudnn_allow_tf32(strict):
    """torch.backends.cudnn.allow_tf32 (on by default, as on CUDA; the suite
    turns it off) lets cuDNN round float32 operands to TF32's 10-bit
    mantissa: far less accurate than float32, as PyTorch's CUDA convolutions."""
    x, w = torch.randn(4, 256, 16, 16, dtype=torch.float64), torch.randn(256, 256, 3, 3, dtype=torch.float64)
    reference = F.conv2d(x, w, padding=1)

    def error():
        got = F.conv2d(x.float().to("gems"), w.float().to("gems"), padding=1).cpu().double()
        return ((got - reference).abs().max() / reference.abs().max()).item()

    assert torch.backends.cudnn.allow_tf32 is False
    full = error()
    # (PyTorch's test helpers freeze the flags once imported: the context manager sets them)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        tf32 = error()
    assert torch.backends.cudnn.allow_tf32 is False
    assert full < 1e-5 and tf32 > 10 * full, (full, tf32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_fold_forward_backward_on_kernels(dtype, strict):
    """F.fold (col2im; its gradient is unfold's im2col) over overlapping,
    padded, dilated and strided blocks, batched and not."""
    for shape, batched in (((2, 3 * 6, 24), True), ((3 * 6, 24), False)):
        cols = torch.randn(*shape).to(dtype)
        kwargs = dict(output_size=(7, 8), kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
        expected_in, got_in = cols.clone().requires_grad_(), cols.to("gems").requires_grad_()
        expected, got = F.fold(expected_in, **kwargs), F.fold(got_in, **kwargs)
        reference = F.fold(cols.double(), **kwargs)
        assert got.shape == expected.shape and (got.dim() == 4) == batched
        assert _relative_error(got, reference) <= max(2 * _relative_error(expected, reference), FLOOR[dtype])
        grad = torch.linspace(-1, 1, expected.numel()).view(expected.shape).to(dtype)
        expected.backward(grad)
        got.backward(grad.to("gems"))
        torch.testing.assert_close(got_in.grad.cpu(), expected_in.grad)


def test_no_input_channels_as_on_cpu():
    """PyTorch's result for zero input channels is shaped by the input's
    channels ([2, 0, 4] here); gems leaves such calls to PyTorch's kernel."""
    x0, w0, b0 = torch.randn(2, 0, 5), torch.randn(3, 0, 2), torch.randn(3)
    expected = F.conv1d(x0, w0, b0)
    got = F.conv1d(x0.to("gems"), w0.to("gems"), b0.to("gems"))
    assert got.shape == expected.shape


def test_large_batch_runs_in_chunks(strict):
    """The im2col buffer is bounded: a batch whose columns exceed it runs in
    chunks (forward, input and weight gradients) with the same results."""
    _need_gemm()
    x = torch.randn(40, 8, 96, 96)  # im2col: 40 * 8*9 * 96*96 * 4 bytes = 265 MB, over the 256 MiB bound
    w = torch.randn(16, 8, 3, 3)
    xg, wg = x.to("gems").requires_grad_(), w.to("gems").requires_grad_()
    out = F.conv2d(xg, wg, padding=1)
    xc, wc = x.clone().requires_grad_(), w.clone().requires_grad_()
    ref = F.conv2d(xc, wc, padding=1)
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-4, atol=1e-4)
    grad = torch.randn_like(ref)
    out.backward(grad.to("gems"))
    ref.backward(grad)
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-4, atol=1e-4)
    # A sum over 368640 products: compared relative to the gradient's scale.
    assert _relative_error(wg.grad, wc.grad.double()) < 1e-4


def test_bad_arguments_raise_pytorchs_errors(strict):
    _need_gemm()
    x, w = torch.randn(1, 3, 8, 8, device="gems"), torch.randn(4, 3, 3, 3, device="gems")
    with pytest.raises(RuntimeError, match="expected input.* to have 3 channels, but got 2 channels"):
        F.conv2d(x[:, :2], w)
    with pytest.raises(RuntimeError, match="non-positive stride"):
        torch.convolution(x, w, None, [0, 1], [0, 0], [1, 1], False, [0, 0], 1)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        F.conv2d(x[..., :2, :2], w)
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 4 elements"):
        F.conv2d(x, w, torch.randn(3, device="gems"))
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, w.double())


# ---- the vision family, every op-dtype pair CPU runs, without strict mode ----
FAMILY_NAMES = ("conv", "pool", "interpolate", "upsample", "batch_norm", "group_norm", "instance_norm",
                "local_response_norm", "nn.functional.pad", "unfold", "fold", "pixel_")
# (The ops gems serves are compared above, by accuracy: in 16-bit dtypes gems' transposed
# convolutions and norms round once where CPU's round twice.)
FAMILY = [op for op in op_db if op.name.startswith("nn.functional.") and any(n in op.name for n in FAMILY_NAMES)
          and op.supported_dtypes("cpu") and op not in SERVED]
# Ops whose results are random draws (compared as shapes only).
RANDOM_RESULTS = {"nn.functional.fractional_max_pool2d", "nn.functional.fractional_max_pool3d"}


@pytest.mark.parametrize("op", FAMILY, ids=lambda op: f"{op.name[14:]}.{op.variant_test_name}".rstrip("."))
def test_vision_family_runs_on_gems_as_on_cpu(op):
    for dtype in sorted(op.supported_dtypes("cpu"), key=str):
        if dtype.is_complex:
            continue  # complex tensors on gems run through the fallback: tests/python/test_reliability.py
        for sample in op.sample_inputs("cpu", dtype, requires_grad=False):
            args = (sample.input, *sample.args)
            try:
                expected = op(*args, **sample.kwargs)
            except Exception as cpu_error:  # noqa: BLE001 - gems must refuse with the same type
                with pytest.raises(type(cpu_error)):
                    op(*_to(args, "gems"), **_to(sample.kwargs, "gems"))
                continue
            got = op(*_to(args, "gems"), **_to(sample.kwargs, "gems"))
            got = torch.utils._pytree.tree_map(lambda t: t.cpu() if isinstance(t, torch.Tensor) else t, got)
            if op.name in RANDOM_RESULTS:
                assert torch.utils._pytree.tree_map(lambda t: t.shape, got) == \
                    torch.utils._pytree.tree_map(lambda t: t.shape, expected)
                continue
            tol = TOL.get(dtype, {})
            torch.testing.assert_close(got, expected, equal_nan=True, **tol,
                                       msg=lambda m: f"{op.name} {dtype}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64], ids=str)
def test_masked_scatter_on_kernels(dtype, strict):
    """Llava puts its image features into the text embeddings with masked_scatter_."""
    generator = torch.Generator().manual_seed(4)
    x = (torch.randn(3, 5, 4, generator=generator) * 10).to(dtype)
    mask = torch.rand(3, 5, 1, generator=generator) > 0.5  # broadcast over the last dim
    source = (torch.randn(70, generator=generator) * 10).to(dtype)  # more than the mask needs
    expected = x.clone().masked_scatter_(mask, source)
    got = x.to("gems").masked_scatter_(mask.to("gems"), source.to("gems"))
    assert torch.equal(got.cpu(), expected)
    assert torch.equal(torch.masked_scatter(x.to("gems"), mask.to("gems"), source.to("gems")).cpu(), expected)
    empty = torch.zeros_like(mask)
    assert torch.equal(x.to("gems").masked_scatter_(empty.to("gems"), source.to("gems")).cpu(), x)
    with pytest.raises(RuntimeError, match="Number of elements of source"):
        x.to("gems").masked_scatter_(torch.ones_like(mask).to("gems"), source[:3].to("gems"))
    with pytest.raises(RuntimeError, match="same dtypes"):
        x.to("gems").masked_scatter_(mask.to("gems"), source.double().to("gems"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("dim", [0, -1], ids=["first_dim", "last_dim"])
def test_weight_norm_forward_backward_on_kernels(dtype, dim, strict):
    """nn.utils.weight_norm's fused form (wav2vec2's positional convolution),
    as accurate as CPU's against float64."""
    generator = torch.Generator().manual_seed(5)
    v = torch.randn(6, 4, 5, generator=generator)
    shape = [1, 1, 1]
    shape[dim] = v.shape[dim]
    g = torch.randn(*shape, generator=generator)
    grad = torch.randn(6, 4, 5, generator=generator)
    d = dim % 3

    def run(device, t):
        vv = v.to(t).to(device).detach().requires_grad_()
        gg = g.to(t).to(device).detach().requires_grad_()
        w = torch._weight_norm(vv, gg, d)
        w.backward(grad.to(t).to(device))
        return [x.detach().cpu().double() for x in (w, vv.grad, gg.grad)]
    reference = run("cpu", torch.float64)
    flag_gems._C.set_strict(False)
    expected = run("cpu", dtype)
    flag_gems._C.set_strict(True)
    got = run("gems", dtype)
    for name, gv, e, r in zip(["w", "grad v", "grad g"], got, expected, reference):
        assert _relative_error(gv, r) <= max(2 * _relative_error(e, r), FLOOR[dtype]), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_normalize_and_clamp_by_a_number_on_kernels(dtype, strict):
    """F.normalize (CLIP's and sentence-transformers' embeddings) is a norm and clamp_min(eps)."""
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(6)).to(dtype)
    x[1] = 0  # a zero row: the eps bound is what keeps it finite
    torch.testing.assert_close(F.normalize(x.to("gems"), dim=-1).cpu(), F.normalize(x, dim=-1))
    torch.testing.assert_close(x.to("gems").clamp_min(0.25).cpu(), x.clamp_min(0.25))
    torch.testing.assert_close(x.to("gems").clamp_max_(-0.25).cpu(), x.clone().clamp_max_(-0.25))
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        torch.clamp_min(torch.ones(3, dtype=torch.bool, device="gems"), False)


@pytest.mark.parametrize("dtype,param_dtype", [(torch.float32, torch.float32), (torch.bfloat16, torch.bfloat16),
                                               (torch.bfloat16, torch.float32), (torch.float16, torch.float32),
                                               (torch.float64, torch.float64)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_batch_norm_outputs_gradients_and_running_statistics_as_on_cpu(dtype, param_dtype, training, layout, strict):
    """batch_norm on the vendor's kernels (statistics, per-channel coefficients,
    one pass over the input): output, input/weight/bias gradients and the
    running statistics moved in place (in their own dtype: float32 buffers of a
    16-bit model under mixed precision) match CPU; the output keeps the layout."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5, 7, dtype=torch.float64) * 3 + 2
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
    params = [torch.randn(6, dtype=torch.float64) for _ in range(2)] + [torch.randn(6, dtype=torch.float64),
                                                                          torch.rand(6, dtype=torch.float64) + 0.5]
    grad = torch.randn(x.shape, dtype=torch.float64)
    results = {}
    for device in ("cpu", "gems"):
        xd = x.detach().to(dtype).to(device).requires_grad_()
        w, b = (p.detach().to(param_dtype).to(device).requires_grad_() for p in params[:2])
        rm, rv = (p.clone().to(param_dtype).to(device) for p in params[2:])
        y = F.batch_norm(xd, rm, rv, w, b, training=training, momentum=0.3, eps=1e-4)
        y.backward(grad.to(y.dtype).to(device))
        results[device] = [t.detach().cpu() for t in (y, xd.grad, w.grad, b.grad, rm, rv)]
        if training:  # the saved mean and invstd, in the dtype CPU saves them in
            saved = torch.native_batch_norm(xd.detach(), w.detach(), b.detach(), None, None, True, 0.3, 1e-4)[1:]
            results[device] += [t.cpu() for t in saved]
        results[device].append(y.is_contiguous(memory_format=torch.channels_last))
    tol = TOL[dtype] if dtype != torch.bfloat16 else dict(rtol=5e-2, atol=1e-1)
    for got, want in zip(results["gems"][:-1], results["cpu"][:-1]):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got.double(), want.double(), **tol)
    assert results["gems"][-1] == results["cpu"][-1]
