"""Shared set-up of the pytest suite.

Two cpu "devices" are configured before torch (and its backend autoload)
is imported, so multi-device behaviour is exercised without an accelerator.
"""
import os

os.environ.setdefault("GEMS_CPU_DEVICES", "2")

import pytest  # noqa: E402
import torch  # noqa: E402

import flag_gems  # noqa: E402
from flag_gems import _C  # noqa: E402

# float32 convolutions at full precision, as PyTorch's own convolution tests
# run them: the accuracy tests compare float32 results with CPU's (gems, like
# CUDA, lets cuDNN use TF32 by default; test_vision_ops checks the switch).
torch.backends.cudnn.allow_tf32 = False

VENDOR = flag_gems.vendor_name
# The native device of the vendor: what patch mode routes through gems kernels
# and what the zero-copy fallback runs on.
NATIVE = "cuda" if VENDOR == "nvidia" else "cpu"
# Whether gems kernels can serve the native device's own tensors (patch mode):
# only where that device's memory is the vendor's (not an opaque vendor's).
patches_native = pytest.mark.skipif(VENDOR not in ("cpu", "nvidia"),
                                    reason=f"the {VENDOR} vendor's kernels cannot run on {NATIVE} tensors (patch mode)")
# Kernels cannot raise on an accelerator: errors found inside a kernel (an
# index out of range) are not reported there, as in PyTorch's CUDA backend,
# which raises them later as a device-side assert.
RAISES_IN_KERNELS = VENDOR == "cpu"


# The vendor ABI's dtype numbers (backends/abi/gems_vendor_abi.h): bit n of a
# kernel's dtype mask says it serves dtype n.
GEMS_DTYPE_CODES = {torch.bool: 0, torch.uint8: 1, torch.int8: 2, torch.int16: 3, torch.int32: 4, torch.int64: 5,
                    torch.float16: 6, torch.bfloat16: 7, torch.float32: 8, torch.float64: 9}


def requires_kernels(*names, dtype=None):
    """Skips a strict test on a vendor that lacks these kernels, or whose
    kernels do not serve `dtype` (the op then falls back there, which strict
    mode forbids)."""
    masks = dict(_C.vendor_kernels())
    missing = sorted(n for n in names if n not in masks or (dtype is not None and not masks[n] >> GEMS_DTYPE_CODES[dtype] & 1))
    served = "" if dtype is None else f" for {dtype}"
    return pytest.mark.skipif(bool(missing), reason=f"the {VENDOR} vendor has no kernel {', '.join(missing)}{served}")


@pytest.fixture
def strict():
    """Any fallback inside the test raises NotImplementedError, so a passing
    test proves that gems kernels did the work."""
    previous = _C.strict()
    _C.set_strict(True)
    try:
        yield
    finally:
        _C.set_strict(previous)


@pytest.fixture(autouse=True)
def _restore_op_state():
    """Each test starts and ends with every gems op on, patch mode off and
    the op log closed."""
    everything = set(_C.all_overloads())
    flag_gems._api._apply(everything, set(), record=False)
    yield
    flag_gems._api._apply(everything, set(), record=False)


def to_gems(x):
    return x.to("gems") if isinstance(x, torch.Tensor) else x


def assert_same(actual, expected, **tol):
    """gems result equals the CPU reference: dtype, shape and values."""
    assert actual.device.type == "gems", actual.device
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    torch.testing.assert_close(actual.cpu(), expected, equal_nan=True, **tol)
