"""The crash sweep over all of PyTorch (tests/sweep/opinfo_sweep.py): every
OpInfo, every dtype CPU supports, every sample, function and in-place variants,
on gems in child processes, with strict mode and without.

- Never an abort, a signal or a hang, in either mode.
- Without strict mode, every sample gives CPU's result or CPU's exception type
  (the fallback's promise), except the KNOWN differences below, each with its
  reason; a KNOWN entry that starts passing fails the test, so the list stays true.

The counts of every run land in build/sweep/ (tools/sweep_summary.py turns
them into the table of docs/reliability.md).
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "sweep"))
import opinfo_sweep  # noqa: E402

SHARDS = 16  # the sweep's items, dealt round-robin
# Shards run at once by one test: CI has two cores; a GPU machine sets more.
PARALLEL = int(os.environ.get("GEMS_SWEEP_PARALLEL", "2"))
OUT = ROOT / "build" / "sweep"

# OpInfo names whose samples cannot mean the same thing on another device, or
# that gems does not serve yet. Failures outside this list fail the sweep.
KNOWN = {
    "as_strided.partial_views": "samples are views into a larger storage; a tensor moved to any other device "
                                "(CUDA too) is dense, so as_strided over its storage reads other elements",
    "tensor_split": "PyTorch requires the index tensor on the CPU; the sweep moves every sample tensor",
    "to_sparse": "sparse layouts are not served on gems (no SparsePrivateUse1 kernels)",
    "sparse.mm.reduce": "sparse layouts are not served on gems (no SparsePrivateUse1 kernels)",
    "sparse.sampled_addmm": "sparse layouts are not served on gems (no SparsePrivateUse1 kernels)",
    "native_layer_norm": "for 16-bit inputs the mean and rstd it returns are float32, as on CUDA (CPU returns "
                         "them in the input dtype); the normalised output matches",
}
FAILING = ("mismatch", "gems_raised", "other_error")


def run_shards(shards, strict):
    OUT.mkdir(parents=True, exist_ok=True)
    mode = "strict" if strict else "fallback"
    # The children share the cores: each one's OpenMP pools (torch's CPU kernels,
    # the cpu vendor's) sized to its share instead of all cores, which
    # oversubscribed them and halved the sweep's speed.
    threads = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // PARALLEL)))}
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = pool.map(lambda s: opinfo_sweep.sweep(s, SHARDS, strict, str(OUT / f"{mode}-{s:02d}.jsonl"), extra_env=threads),
                        shards)
        return [r for results in runs for r in results]


@pytest.mark.parametrize("strict", [False, True], ids=["fallback", "strict"])
@pytest.mark.parametrize("part", range(SHARDS // PARALLEL))
def test_opinfo_sweep(part, strict):
    results = run_shards(range(part * PARALLEL, (part + 1) * PARALLEL), strict)
    assert results, "the sweep ran nothing"
    died = [r for r in results if "status" in r]
    assert not died, f"gems aborted or hung: {died}"
    if strict:
        return
    failing = {}
    for r in results:
        bad = {k: v for k, v in r["counts"].items() if k in FAILING}
        if bad:
            failing.setdefault(r["op"], []).append((r["variant"], r["dtype"], bad, r["failures"]))
    unexpected = {op: f for op, f in failing.items() if op not in KNOWN}
    assert not unexpected, f"gems differs from CPU: {unexpected}"


def test_known_differences_still_differ():
    """Runs after the sweep's parts: a KNOWN entry that no shard reports any
    more is stale and must go."""
    files = sorted(OUT.glob("fallback-*.jsonl"))
    if opinfo_sweep.selected_ops():
        pytest.skip("GEMS_SWEEP_OPS chose part of the OpInfos")
    if len(files) < SHARDS:
        pytest.skip("the sweep's fallback parts did not all run in this session")
    failing = set()
    for f in files:
        for r in opinfo_sweep.load(str(f)):
            if "status" not in r and any(k in FAILING for k in r["counts"]):
                failing.add(r["op"])
    fixed = sorted(set(KNOWN) - failing)
    assert not fixed, f"KNOWN differences that no longer differ (remove them): {fixed}"

