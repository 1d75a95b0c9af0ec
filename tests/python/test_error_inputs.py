"""PyTorch's own bad inputs (OpInfo error_inputs, 226 ops) give on gems the
exception type they give on CPU, with strict mode and without. With strict
mode a call that gems does not serve natively raises strict mode's
NotImplementedError instead; a native kernel must raise CPU's type.
"""
import pytest
import torch
from torch.testing._internal.common_methods_invocations import op_db

from conftest import RAISES_IN_KERNELS
from flag_gems import _C

OPS = [op for op in op_db if op.error_inputs_func is not None]


def _raised(fn):
    """The exception fn raises (a gems result is read back, so that an error a
    kernel records is raised too), or None."""
    try:
        out = fn()
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type == "gems":
                t.cpu()
        return None
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return e


def _key(error):
    t = error.sample_input.input
    return error.error_regex, tuple(t.shape) if isinstance(t, torch.Tensor) else repr(t)


def _paired(on_cpu, on_gems):
    """Each gems entry with CPU's entry of the same message and input shape
    (some entries exist for one device type only, so the lists may differ)."""
    left = list(on_cpu)
    for error in on_gems:
        match = next((c for c in left if _key(c) == _key(error)), None)
        if match is not None:
            left.remove(match)
            yield match, error


def _differences(op, strict):
    differences = []
    # Made on each device by OpInfo itself, as PyTorch's CUDA tests do: moving
    # a sample would lose what some entries test (an out= that is the input or
    # an expanded view of one element).
    for k, (error, on_gems) in enumerate(_paired(op.error_inputs("cpu"), op.error_inputs("gems"))):
        sample = error.sample_input
        cpu_error = _raised(lambda: op.op(sample.input, *sample.args, **sample.kwargs))
        if cpu_error is None:
            continue  # PyTorch's CPU backend takes it (the entry is for another device)
        inp, args, kwargs = on_gems.sample_input.input, on_gems.sample_input.args, on_gems.sample_input.kwargs
        previous = _C.strict()
        _C.set_strict(strict)
        try:
            gems_error = _raised(lambda: op.op(inp, *args, **kwargs))
        finally:
            _C.set_strict(previous)
        if gems_error is not None and type(gems_error) is type(cpu_error):
            continue
        if strict and isinstance(gems_error, NotImplementedError) and "strict mode" in str(gems_error):
            continue  # not served natively: refused before any kernel ran
        if not RAISES_IN_KERNELS and isinstance(gems_error, RuntimeError) and isinstance(cpu_error, IndexError):
            continue  # found inside an accelerator's kernel: raised at the next wait, as CUDA does
        differences.append((k, type(cpu_error).__name__, str(cpu_error)[:80],
                            type(gems_error).__name__ if gems_error else "no error",
                            str(gems_error)[:80] if gems_error else ""))
    return differences


@pytest.mark.parametrize("strict", [False, True], ids=["fallback", "strict"])
@pytest.mark.parametrize("op", OPS, ids=lambda op: f"{op.name}.{op.variant_test_name}".rstrip("."))
def test_error_inputs_raise_cpus_exception_type(op, strict):
    assert not _differences(op, strict)
