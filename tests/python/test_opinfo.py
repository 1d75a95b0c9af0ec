"""Conformance driven by PyTorch's own OpInfo database: for every OpInfo whose
op gems serves, every sample input (made on CPU, copied to gems) must give
the CPU result, and a sample that CPU rejects must be rejected with the same
exception type. Samples may take overloads without a gems kernel (a tensor
clamp bound, integer matmul): those run through the fallback, so results
must still match, or, where the native device rejects the sample (CUDA has no
integer matmul), raise the native device's exception type; that gems kernels serve the op is proven by the strict
tests in test_ops.py."""
import pytest
import torch
from conftest import NATIVE
from torch.testing._internal.common_methods_invocations import op_db

from flag_gems import _C

SERVED = {o.split(".")[0].rstrip("_") for o in _C.all_overloads()}
# OpInfo names that are the aten op of the same name (plus a few aliases).
ALIASES = {"nn.functional.relu": "relu", "nn.functional.gelu": "gelu", "nn.functional.silu": "silu",
           "nn.functional.layer_norm": "native_layer_norm", "nn.functional.rms_norm": "_fused_rms_norm",
           "softmax": "_softmax", "log_softmax": "_log_softmax", "nn.functional.embedding": "index_select",
           "true_divide": "div", "floor_divide": "div", "clamp": "clamp",
           "nn.functional.cross_entropy": "cross_entropy_loss"}
# Random ops draw from gems' own generator: compared statistically in test_device.py (multinomial in test_ops.py).
RANDOM = {"normal", "uniform", "rand", "randn", "bernoulli", "multinomial"}
OPS = [op for op in op_db if ALIASES.get(op.name, op.name) in SERVED and op.name not in RANDOM
       and not op.variant_test_name.startswith("complex")]
# Known, deliberate differences from PyTorch's CPU backend (gems follows CUDA):
KNOWN = {
    # CPU rounds the 16-bit quotient before truncating/flooring; CUDA and gems
    # round the float quotient once, so results differ by one at boundaries.
    ("div", "trunc_rounding", torch.bfloat16): "16-bit quotient rounding (CPU) vs float quotient (CUDA, gems)",
    ("div", "floor_rounding", torch.bfloat16): "16-bit quotient rounding (CPU) vs float quotient (CUDA, gems)",
    # CPU's vectorized bfloat16 fmod gives NaN where a / b overflows float (-8.4375 % 2^-126, a sample seen
    # on an H100 run); its own scalar path, CUDA and gems give the exact -0.0. (test_ops covers remainder.)
    ("remainder", "", torch.bfloat16): "CPU's vectorized bfloat16 fmod: NaN where the quotient overflows",
    # histc: PyTorch's CPU places bfloat16 elements in bfloat16 arithmetic (some cross a bin edge);
    # CUDA and gems in float (test_ops compares with the float32 histogram).
    ("histc", "", torch.bfloat16): "CPU bins bfloat16 in bfloat16 arithmetic, CUDA and gems in float",
}
# Ops whose indices may name any of several equal elements (PyTorch's CPU picks
# among ties in no fixed order; gems' sort is always stable): their values must
# match and the indices must point at those values. Where the dim is among the
# positional arguments.
INDICES_AMONG_TIES = {"topk": 1, "sort": 0}
# Statistics of layer_norm are float32 for 16-bit inputs, as on CUDA.
STATS_IN_FLOAT = {"native_layer_norm"}
DTYPES = [torch.float32, torch.bfloat16, torch.int64]


def to(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: to(v, device) for k, v in x.items()}
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=lambda op: f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name)
def test_opinfo_samples_match_cpu(op, dtype):
    if dtype not in op.supported_dtypes("cpu"):
        pytest.skip(f"{op.name} does not support {dtype} on CPU")
    if (op.name, op.variant_test_name, dtype) in KNOWN:
        pytest.skip(KNOWN[(op.name, op.variant_test_name, dtype)])
    samples = list(op.sample_inputs("cpu", dtype, requires_grad=False))
    assert samples, "no samples"
    for sample in samples:
        args = (sample.input, *sample.args)
        try:
            expected = op(*args, **sample.kwargs)
        except Exception as cpu_error:  # a sample that CPU rejects must be rejected on gems with the same type
            with pytest.raises(type(cpu_error)):
                op(*to(args, "gems"), **to(sample.kwargs, "gems"))
            continue
        native_error = None
        if NATIVE != "cpu":  # CUDA lacks kernels CPU has (integer matmul)
            try:
                op(*to(args, NATIVE), **to(sample.kwargs, NATIVE))
            except Exception as e:
                native_error = e
        try:
            got = to(op(*to(args, "gems"), **to(sample.kwargs, "gems")), "cpu")
        except Exception as gems_error:
            # gems may refuse what the native device refuses, alike; or serve it through the host (below)
            if native_error is None or type(gems_error) is not type(native_error):
                raise
            continue
        if op.name in STATS_IN_FLOAT:
            got = tuple(g.to(e.dtype) for g, e in zip(got, expected))
        tol = {} if dtype != torch.bfloat16 else dict(rtol=2e-2, atol=2e-2)
        if op.name in INDICES_AMONG_TIES:
            at = INDICES_AMONG_TIES[op.name]
            dim = sample.args[at] if len(sample.args) > at else sample.kwargs.get("dim", -1)
            got = (got[0], sample.input.gather(dim, got[1]))
            expected = (expected[0], expected[0])
        torch.testing.assert_close(got, expected, equal_nan=True, **tol)
