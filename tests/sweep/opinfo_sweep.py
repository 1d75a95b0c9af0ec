"""The crash sweep: every OpInfo of PyTorch's op_db, every dtype PyTorch's CPU
backend supports for it, every sample input, run on gems in child processes.

    python tests/sweep/opinfo_sweep.py --shard 0 --shards 4 [--strict] --out results.jsonl
    GEMS_SWEEP_OPS=addr,lerp python tests/sweep/opinfo_sweep.py --out results.jsonl   (only those OpInfos;
    shell-style patterns too: GEMS_SWEEP_OPS='nn.functional.*pool*')

A child that dies (a signal, an abort, an exit from C++) or stops making
progress for --hang-seconds is recorded at the sample it was running, and a
new child goes on after it, so one crash cannot hide the rest. Each (op,
variant, dtype) item gives one JSON line with the count of every outcome:

  match         gems gave CPU's result (dtypes and shapes equal, values within
                the dtype's tolerance, or at least as close as CPU's to the
                float64 result where CPU itself rounds more: see closer_than_cpu)
  close_normwise  every element within the dtype's rtol of the output's largest
                element (products and attention: small elements carry the rounding
                of large terms)
  closer_than_cpu  not within tolerance of CPU, but no farther from the float64
                result than CPU, element by element (16-bit accumulation in float)
  as_native     not CPU's result, but exactly what PyTorch's own backend for the
                vendor's memory gives (torch.cuda beside the nvidia vendor, whose
                kernels the fallback runs): ties picked by another algorithm,
                eigenvector signs, integer rounding of linspace; or CPU raised and
                gems ran it as that backend does (float8 _scaled_mm on CUDA)
  same_error    CPU raised and gems raised the same exception type
  mismatch      both ran, results differ            (a wrong answer)
  gems_raised   CPU ran, gems raised                (the fallback did not serve it)
  other_error   CPU raised one type, gems another, or CPU ran nothing and gems did
  strict_raised strict mode: gems raised (NotImplementedError: no gems kernel)
  strict_ran    strict mode: gems ran
  abort / hang  the child died or stalled on this sample (never allowed)

Without --strict the CPU result is the reference; with --strict only gems
runs (GEMS_STRICT=1), to prove that refusing a fallback never kills the process.
"""
import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
import traceback

import torch
from torch.utils import _pytree as pytree

# Ops whose result is random or uninitialised memory: shapes and dtypes are
# compared, values are not.
NONDETERMINISTIC_WORDS = ("rand", "normal", "bernoulli", "multinomial", "dropout", "uniform", "exponential",
                          "geometric", "cauchy", "log_normal", "empty", "rrelu", "fractional_max_pool", "lowrank")

TOLERANCES = {  # (rtol, atol): about two units in the last place of 16-bit types; for float32 room for
    # another summation order in products and attention (100 ulps; PyTorch's own CPU-vs-CUDA check allows 1e-3)
    "torch.float16": (2e-3, 1e-3),
    "torch.bfloat16": (1.6e-2, 1e-2),
    "torch.float32": (1e-5, 1e-5),
    "torch.complex64": (1e-5, 1e-5),
}


def items():
    """Every (op index, op, dtype) pair, in a fixed order."""
    from torch.testing._internal.common_methods_invocations import op_db

    out = []
    for i, op in enumerate(op_db):
        for dtype in sorted(op.supported_dtypes("cpu"), key=str):
            out.append((i, op, dtype))
    return out


def op_id(op):
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


def nondeterministic(op, sample):
    """Random results: random ops, randomised algorithms (pca_lowrank), dropout in a sample."""
    return (any(w in op.name for w in NONDETERMINISTIC_WORDS) or (sample.kwargs.get("dropout_p") or 0) > 0
            or sample.kwargs.get("training") is True)  # dropout inside (multi_head_attention_forward)


# Ops that return positions among equal elements (PyTorch's CPU sort picks
# among ties in no fixed order, gems' sort is stable): the values they point
# at are compared. The position of the dim argument among the positional ones.
INDICES_AMONG_TIES = {"sort": 0, "argsort": 0, "topk": 1}


def _values_at(op, sample, result):
    at = INDICES_AMONG_TIES[op.name]
    dim = sample.args[at] if len(sample.args) > at else sample.kwargs.get("dim", -1)
    indices = result if op.name == "argsort" else result[1]
    picked = sample.input.gather(dim, indices)
    return picked if op.name == "argsort" else (result[0], picked)


# ---------------------------------------------------------------- the child


def _map(x, fn):
    return pytree.tree_map(lambda v: fn(v) if isinstance(v, torch.Tensor) else v, x)


def _to_gems_sample(sample):
    moved = sample.transform(lambda t: t.to("gems") if isinstance(t, torch.Tensor) else t)
    kwargs = dict(moved.kwargs)
    if "device" in kwargs and str(kwargs["device"]).startswith("cpu"):  # factory functions
        kwargs["device"] = "gems"
    return moved.input, moved.args, kwargs


# The device of the PyTorch backend that can read the vendor's memory: CUDA
# beside the nvidia vendor (the fallback runs its kernels), else None.
NATIVE_DEVICE = []


def _native_device():
    if not NATIVE_DEVICE:
        import flag_gems

        NATIVE_DEVICE.append("cuda" if flag_gems.vendor_name == "nvidia" and torch.cuda.is_available() else None)
    return NATIVE_DEVICE[0]


def _as_native(fn, variant, sample, got, dtype):
    """Whether gems' result is exactly PyTorch's native device's on this sample."""
    device = _native_device()
    if device is None:
        return False
    try:
        moved = sample.transform(lambda t: t.to(device) if isinstance(t, torch.Tensor) else t)
        kwargs = dict(moved.kwargs)
        if "device" in kwargs and str(kwargs["device"]).startswith("cpu"):
            kwargs["device"] = device
        native = _map(fn(moved.input, *moved.args, **kwargs), lambda t: t.cpu())
    except Exception:
        return False
    try:
        torch.testing.assert_close(got, native, equal_nan=True, rtol=0, atol=0)
        return True
    except Exception:
        return False


def _to_double_sample(sample):
    def up(t):
        if t.is_complex():
            return t.to(torch.complex128)
        return t.double() if t.is_floating_point() else t

    moved = sample.transform(lambda t: up(t) if isinstance(t, torch.Tensor) else t)
    return moved.input, moved.args, dict(moved.kwargs)


def _close(got, expected, dtype):
    rtol, atol = TOLERANCES.get(str(dtype), (None, None))
    try:
        torch.testing.assert_close(got, expected, equal_nan=True, rtol=rtol, atol=atol)
        return True
    except AssertionError:
        return False
    except Exception:  # results of different structure
        return False


def _floating_leaves_pass(check, got, expected, *more):
    """Walks the results' leaves together: non-tensor leaves and non-floating
    tensors must be equal; floating tensors of the same dtype and shape must
    pass check(gems, cpu, *more)."""
    leaves = [pytree.tree_leaves(x) for x in (got, expected, *more)]
    if len({len(x) for x in leaves}) != 1:
        return False
    for a, b, *rest in zip(*leaves):
        if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
            return False
        if not isinstance(a, torch.Tensor):
            if a != b:
                return False
            continue
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if not (a.is_floating_point() or a.is_complex()):
            if not torch.equal(a, b):
                return False
            continue
        if not check(a, b, *rest):
            return False
    return True


def _close_normwise(got, expected, dtype):
    """Every floating output within rtol of its largest element (a product's or
    attention's small elements carry the rounding of its large terms)."""
    rtol, atol = TOLERANCES.get(str(dtype), (1.3e-6, 1e-5))

    def check(a, b):
        finite = b.isfinite()
        if not torch.equal(a.isfinite(), finite) or not torch.equal(a[~finite].isnan(), b[~finite].isnan()):
            return False
        if not finite.any():
            return True
        scale = b[finite].abs().max().double()
        return bool((a[finite] - b[finite]).abs().max().double() <= atol + rtol * scale)

    return _floating_leaves_pass(check, got, expected)


def _no_farther_than_cpu(got, expected, reference, dtype):
    """Every floating element of gems' result is at most CPU's distance (plus
    the dtype's tolerance) from the float64 result."""
    rtol, atol = TOLERANCES.get(str(dtype), (1.3e-6, 1e-5))

    def check(a, b, c):
        c = c.to(torch.complex128 if a.is_complex() else torch.float64)
        err_gems = (a.to(c.dtype) - c).abs()
        err_cpu = (b.to(c.dtype) - c).abs()
        both_nan = a.isnan() & b.isnan()
        bound = err_cpu + atol + rtol * c.abs()
        return bool(((err_gems <= bound) | both_nan | (err_gems.isnan() & err_cpu.isnan())).all())

    return _floating_leaves_pass(check, got, expected, reference)


LAST_ERROR = [""]  # gems' exception in the last sample, for the failure records


def run_sample(op, variant, sample, dtype, strict):
    """The outcome of one sample."""
    fn = op.op if variant == "function" else op.inplace_variant
    if strict:
        inp, args, kwargs = _to_gems_sample(sample)
        try:
            fn(inp, *args, **kwargs)
            return "strict_ran"
        except Exception:
            return "strict_raised"
    inp, args, kwargs = _to_gems_sample(sample)  # before CPU's in-place variant changes the input
    cpu_inp = sample.input.clone() if variant == "inplace" and isinstance(sample.input, torch.Tensor) else sample.input
    try:
        expected = fn(cpu_inp, *sample.args, **sample.kwargs)
        cpu_error = None
    except Exception as e:
        cpu_error = e
    try:
        got = fn(inp, *args, **kwargs)
        gems_error = None
    except Exception as e:
        gems_error = e
        LAST_ERROR[0] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    if cpu_error is not None:
        if gems_error is None:
            # gems ran what CPU refuses: right only where the native device (CUDA's float8
            # _scaled_mm beside the nvidia vendor) runs it too and gives the same result.
            got = _map(got, lambda t: t.cpu())
            return "as_native" if _as_native(fn, variant, sample, got, dtype) else "other_error"
        return "same_error" if type(gems_error) is type(cpu_error) else "other_error"
    if gems_error is not None:
        return "gems_raised"
    got, expected = _map(got, lambda t: t.cpu()), _map(expected, lambda t: t.cpu())  # samples may name cuda
    random = nondeterministic(op, sample)
    close = None if random else _close(got, expected, dtype)  # compared once, reused below
    if close is False and _as_native(fn, variant, sample, got, dtype):
        return "as_native"
    if op.name in INDICES_AMONG_TIES and variant == "function":
        try:
            got, expected = _values_at(op, sample, got), _values_at(op, sample, expected)
        except Exception:
            return "mismatch"
        close = None  # the values at the positions are compared now
    if random:
        same_meta = all(
            a.shape == b.shape and a.dtype == b.dtype
            for a, b in zip(*(pytree.tree_leaves(x) for x in (got, expected)))
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor))
        return "match" if same_meta else "mismatch"
    if close or (close is None and _close(got, expected, dtype)):
        return "match"
    if (dtype.is_floating_point or dtype.is_complex) and _close_normwise(got, expected, dtype):
        return "close_normwise"
    if dtype.is_floating_point or dtype.is_complex:
        try:
            d_inp, d_args, d_kwargs = _to_double_sample(sample)
            if variant == "inplace":
                d_inp = d_inp.clone()
            reference = fn(d_inp, *d_args, **d_kwargs)
            if _no_farther_than_cpu(got, expected, reference, dtype):
                return "closer_than_cpu"
        except Exception:
            pass
    return "mismatch"


def selected_ops():
    """GEMS_SWEEP_OPS, a developer's filter: comma-separated OpInfo names or
    shell-style patterns of them; None when unset (every OpInfo)."""
    only = os.environ.get("GEMS_SWEEP_OPS")
    return [p for p in only.split(",") if p] if only else None


def child(shard, shards, strict, start, out_path, progress_path):
    import warnings

    warnings.filterwarnings("ignore")
    import flag_gems  # noqa: F401

    todo = [x for k, x in enumerate(items()) if k % shards == shard]
    only = selected_ops()
    with open(out_path, "a") as out, open(progress_path, "a") as progress:
        for pos in range(start, len(todo)):
            index, op, dtype = todo[pos]
            if only and not any(fnmatch.fnmatchcase(op_id(op), pattern) for pattern in only):
                continue
            for variant in ("function", "inplace"):
                if variant == "inplace" and op.inplace_variant is None:
                    continue
                counts, failures = {}, []
                try:
                    samples = list(op.sample_inputs("cpu", dtype, requires_grad=False))
                except Exception:
                    samples = []
                for k, sample in enumerate(samples):
                    progress.write(f"{pos} {variant} {k}\n")
                    progress.flush()
                    torch.manual_seed(k)
                    try:
                        outcome = run_sample(op, variant, sample, dtype, strict)
                    except Exception:  # the sweep's own comparison failed
                        outcome = "mismatch"
                        failures.append(traceback.format_exc(limit=1)[-300:])
                    counts[outcome] = counts.get(outcome, 0) + 1
                    if outcome in ("mismatch", "gems_raised", "other_error") and len(failures) < 3:
                        failures.append([k, outcome, LAST_ERROR[0]])
                    LAST_ERROR[0] = ""
                out.write(json.dumps({"op": op_id(op), "variant": variant, "dtype": str(dtype), "pos": pos,
                                      "samples": len(samples), "counts": counts, "failures": failures}) + "\n")
                out.flush()
            progress.write(f"{pos} done\n")
            progress.flush()


# --------------------------------------------------------------- the parent


def sweep(shard, shards, strict, out_path, hang_seconds=300, extra_env=None):
    """Runs children until the shard is done; returns the list of result dicts."""
    progress_path = out_path + ".progress"
    for p in (out_path, progress_path):
        if os.path.exists(p):
            os.remove(p)
    env = dict(os.environ, GEMS_STRICT="1" if strict else "0", **(extra_env or {}))
    start = 0
    while True:
        cmd = [sys.executable, __file__, "--child", "--shard", str(shard), "--shards", str(shards), "--start",
               str(start), "--out", out_path] + (["--strict"] if strict else [])
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        last_change, last_size, status = time.time(), -1, None
        while proc.poll() is None:
            time.sleep(0.5)
            size = os.path.getsize(progress_path) if os.path.exists(progress_path) else 0
            if size != last_size:
                last_size, last_change = size, time.time()
            elif time.time() - last_change > hang_seconds:
                proc.kill()
                proc.wait()
                status = "hang"
        stderr = proc.stderr.read().decode(errors="replace")[-2000:]
        if proc.returncode == 0 and status is None:
            break
        status = status or "abort"
        last = _last_progress(progress_path)
        if last is None or last[1] == "done":
            pos = start if last is None else int(last[0]) + 1
            detail = {"variant": None, "sample": None}
        else:
            pos, detail = int(last[0]), {"variant": last[1], "sample": int(last[2])}
        todo = [x for k, x in enumerate(items()) if k % shards == shard]
        where = {"op": op_id(todo[pos][1]), "dtype": str(todo[pos][2])} if pos < len(todo) else {}
        with open(out_path, "a") as out:
            out.write(json.dumps({"pos": pos, "status": status, **where, "returncode": proc.returncode,
                                  "stderr": stderr, **detail}) + "\n")
        start = pos + 1
    return load(out_path)


def _last_progress(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = [ln.split() for ln in f if ln.strip()]
    return lines[-1] if lines else None


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarise(results):
    total = {}
    for r in results:
        if "status" in r:
            total[r["status"]] = total.get(r["status"], 0) + 1
            continue
        for k, v in r["counts"].items():
            total[k] = total.get(k, 0) + v
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--strict", action="store_true")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--child", action="store_true")
    p.add_argument("--hang-seconds", type=float, default=300)
    a = p.parse_args()
    if a.child:
        child(a.shard, a.shards, a.strict, a.start, a.out, a.out + ".progress")
        return
    results = sweep(a.shard, a.shards, a.strict, a.out, a.hang_seconds)
    print(json.dumps(summarise(results)))


if __name__ == "__main__":
    main()
