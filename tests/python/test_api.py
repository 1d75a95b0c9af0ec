"""FlagGems' Python API: enable, only_enable, use_gems, all_registered_ops,
all_registered_keys, the op log, ops.*, fallback counting and strict mode."""
import pytest
import torch

import flag_gems
from conftest import NATIVE, VENDOR, patches_native
from flag_gems import _C


def test_vendor_name_and_device():
    assert flag_gems.vendor_name == VENDOR in ("cpu", "nvidia", "amd", "intel")
    assert flag_gems.device == "gems"


def test_all_ops_on_by_default_and_counted():
    assert "add.Tensor" in flag_gems.all_registered_ops()
    assert flag_gems.all_registered_keys() == ["PrivateUse1"]
    flag_gems.reset_counts()
    x = torch.ones(3, device="gems")
    (x + x).exp()
    counts = flag_gems.native_counts()
    assert counts["add.Tensor"] == 1 and counts["exp"] == 1
    assert flag_gems.fallback_counts() == {}


def test_only_enable_sends_every_other_op_to_the_fallback_with_the_same_result():
    x = torch.randn(4, 5, device="gems")
    expected = (x * 2).exp().cpu()
    flag_gems.only_enable(include=["mul"])
    assert set(flag_gems.all_registered_ops()) == {"mul.Tensor", "mul_.Tensor", "mul.out"}
    flag_gems.reset_counts()
    got = (x * 2).exp()
    # aten runs functional exp through its out= form on backends without it
    assert flag_gems.fallback_counts() == {"exp.out": 1}
    assert flag_gems.native_counts() == {"mul.Tensor": 1}
    # after the counts: comparing runs ops too (on the cpu vendor, patch mode counts CPU ones)
    torch.testing.assert_close(got.cpu(), expected)  # torch's exp and the vendor's agree to an ulp, not bitwise


@patches_native
def test_enable_unused_excludes_whole_families_and_patches_the_native_device():
    flag_gems.enable(unused=["div", "exp"])
    ops = flag_gems.all_registered_ops()
    assert not any(o.startswith(("div", "exp")) for o in ops)
    assert "add.Tensor" in ops
    assert flag_gems.all_registered_keys() == ["PrivateUse1", _C.native_key()]
    # patch mode: plain native tensors (CPU, or CUDA on nvidia) now run gems kernels
    a = torch.randn(8, device=NATIVE)
    flag_gems.reset_counts()
    doubled = torch.add(a, a)
    assert flag_gems.native_counts().get("add.Tensor") == 1
    torch.testing.assert_close(doubled, a * 2)


def test_patch_mode_falls_back_to_the_native_kernel_for_dtypes_gems_does_not_serve():
    flag_gems.enable()
    c = torch.tensor([1 + 2j, 3 - 1j], device=NATIVE)
    assert torch.equal(torch.add(c, c).cpu(), torch.tensor([2 + 4j, 6 - 2j]))  # complex: the native kernel


@pytest.mark.skipif(VENDOR != "nvidia", reason="streams of the native device: CUDA only")
def test_patch_mode_launches_on_torchs_current_stream():
    flag_gems.only_enable(include=["add"])  # fill_ below stays torch's own kernel
    x = torch.zeros(1 << 20, device=NATIVE)
    # out= memory made up front: a cudaMalloc inside the op would synchronise the
    # whole device and hide which stream the kernel went to.
    y = torch.empty_like(x)
    # A kernel's first launch loads it (CUDA's lazy loading), which waits for
    # the whole device: launched once up front, it cannot hide the stream.
    torch.add(x, x, out=y)
    torch.cuda.synchronize()
    side = torch.cuda.Stream()  # torch's pool streams do not wait for the legacy default stream
    side.wait_stream(torch.cuda.current_stream())
    flag_gems.reset_counts()
    with torch.cuda.stream(side):
        torch.cuda._sleep(100_000_000)  # tens of ms of spinning: the fill queues behind it
        x.fill_(1.0)
        torch.add(x, x, out=y)  # the gems kernel must queue behind the fill on `side`
    side.synchronize()
    assert flag_gems.native_counts() == {"add.out": 1}
    assert torch.equal(y, torch.full_like(x, 2.0))


def test_unknown_op_names_are_errors_not_silent_no_ops():
    with pytest.raises(ValueError, match="'dvi' names no op served by gems"):
        flag_gems.enable(unused=["dvi"])
    with pytest.raises(ValueError, match="names no op"):
        flag_gems.only_enable(include=["not_an_op"])


def test_use_gems_is_scoped_and_restores_the_previous_state_exactly():
    flag_gems.only_enable(include=["add", "sub"])
    before = (flag_gems.all_registered_ops(), flag_gems.all_registered_keys())
    with flag_gems.use_gems(include=["mul"], exclude=["mul"]):  # include wins
        assert set(flag_gems.all_registered_ops()) == {"mul.Tensor", "mul_.Tensor", "mul.out"}
    assert (flag_gems.all_registered_ops(), flag_gems.all_registered_keys()) == before
    with flag_gems.use_gems(exclude=["add"]):
        assert "add.Tensor" not in flag_gems.all_registered_ops()
        assert "sub.Tensor" in flag_gems.all_registered_ops()
    assert (flag_gems.all_registered_ops(), flag_gems.all_registered_keys()) == before
    with pytest.raises(RuntimeError, match="boom"):
        with flag_gems.use_gems(include=["exp"]):
            raise RuntimeError("boom")
    assert (flag_gems.all_registered_ops(), flag_gems.all_registered_keys()) == before


def test_record_writes_one_line_per_gems_call(tmp_path):
    log = tmp_path / "ops.log"
    flag_gems.enable(record=True, path=str(log))
    x = torch.ones(2, 2, device="gems")
    torch.mm(x + 1, x)
    flag_gems.enable(record=False)
    lines = log.read_text().splitlines()
    assert "[DEBUG] flag_gems.ops.add: GEMS ADD" in lines
    assert "[DEBUG] flag_gems.ops.mm: GEMS MM" in lines
    assert all(line.startswith("[DEBUG] flag_gems.ops.") for line in lines)


@patches_native
def test_ops_namespace_calls_gems_kernels_directly():
    flag_gems.only_enable(include=["sub"])
    flag_gems.reset_counts()
    a = torch.randn(3, device=NATIVE)
    out = flag_gems.ops.add(a, a)  # native tensors, add not enabled: still the gems kernel
    torch.testing.assert_close(out, a * 2)
    assert flag_gems.native_counts().get("add.Tensor") == 1
    assert set(flag_gems.all_registered_ops()) == {"sub.Tensor", "sub_.Tensor", "sub.out"}
    with pytest.raises(AttributeError, match="no op 'nope'"):
        flag_gems.ops.nope


def test_strict_mode_names_the_op_and_vendor(strict):
    x = torch.ones(3, device="gems")
    with pytest.raises(NotImplementedError, match=f"'cumprod.out' has no gems kernel on the {VENDOR} vendor"):
        torch.cumprod(x, 0)


def test_fallback_is_zero_copy_and_keeps_views_and_inplace_semantics():
    flag_gems.reset_counts()
    x = torch.arange(1.0, 7.0, device="gems")
    y = torch.cumprod(x, 0)  # no gems kernel: runs the native kernel in place on the same memory
    assert torch.equal(y.cpu(), torch.arange(1.0, 7.0).cumprod(0)) and y.device.type == "gems"
    x.cumprod_(0)  # in-place through the fallback writes the gems tensor itself
    assert torch.equal(x.cpu(), torch.arange(1.0, 7.0).cumprod(0))
    c = torch.tensor([1 + 2j, 3 - 1j], device="gems")
    r = torch.view_as_real(c)  # a view op through the fallback stays a view of its input, of another dtype too
    assert r.dtype == torch.float32 and r.shape == (2, 2)
    r.fill_(0.0)
    assert (c.cpu() == 0).all()
    out = torch.empty(0, device="gems")
    torch.cumprod(torch.full((4,), 2.0, device="gems"), 0, out=out)  # out= resizes through the fallback
    assert torch.equal(out.cpu(), torch.tensor([2.0, 4.0, 8.0, 16.0]))
    counts = flag_gems.fallback_counts()
    assert counts == {"cumprod.out": 3, "view_as_real": 1}  # cumprod, cumprod_ and out= all reach cumprod.out


def test_a_dtype_without_kernel_falls_back_with_the_same_result():
    # no vendor kernel serves complex numbers: mul runs through the fallback
    c = torch.tensor([1 + 2j, 3 - 1j])
    flag_gems.reset_counts()
    assert torch.equal((c.to("gems") * c.to("gems")).cpu(), c * c)
    assert flag_gems.fallback_counts() == {"mul.Tensor": 1}
