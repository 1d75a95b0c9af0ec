"""torch.distributed on gems (the "gems" process-group backend): every
collective on gems tensors against what the ranks' inputs must give, and DDP and FSDP2
training against one process, with 2 and 4 processes on this machine, each
rank a process of its own as torchrun starts them (tests/distributed/worker.py).
The cpu vendor's collectives are Gloo's on the gems memory in place."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

import flag_gems

WORKER = Path(__file__).resolve().parents[1] / "distributed" / "worker.py"
FAILURES = Path(__file__).resolve().parents[1] / "distributed" / "failures.py"
pytestmark = [
    pytest.mark.skipif(not dist.is_available(), reason="torch without distributed support"),
    pytest.mark.skipif(flag_gems.vendor_name not in ("cpu", "nvidia"),
                       reason="the gems backend wraps Gloo/NCCL over memory they read; this vendor's is opaque"),
]


def devices_for(world):
    """NCCL takes one GPU a rank: a world larger than the machine's GPUs is skipped (cpu: GEMS_CPU_DEVICES)."""
    import torch

    if flag_gems.vendor_name == "nvidia" and torch.cuda.device_count() < world:
        pytest.skip(f"{world} ranks need {world} GPUs (NCCL refuses two ranks on one)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(world, script=WORKER, **env):
    devices_for(world)
    port = str(free_port())
    return [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=port, **env))
            for r in range(world)]


def finish(procs, timeout=240):
    """Each process's output; all are killed if one outlives the timeout."""
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    return outputs


def launch(world, **env):
    procs = start(world, **env)
    outputs = finish(procs)
    for r, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0 and out.rstrip().endswith("ok"), f"rank {r}:\n{out[-3000:]}"


def test_backend_is_registered_for_the_gems_device():
    assert "gems" in dist.Backend.backend_list
    assert dist.Backend.default_device_backend_map["gems"] == "gems"


@pytest.mark.parametrize("world", [1, 2, 4])
def test_collectives_ddp_and_fsdp2_with_gloo_for_cpu_and_gems_for_gems(world):
    launch(world, GEMS_TEST_BACKEND="cpu:gloo,gems:gems", GEMS_TEST_DDP="1")  # DDP and FSDP2 too


def test_collectives_ddp_and_fsdp2_with_no_backend_named():
    """init_process_group() alone: PyTorch creates the accelerator's backend
    (gems) only; DDP asks for the group's default backend, which flag_gems
    makes the gems one (PyTorch would name Gloo, which it did not create)."""
    launch(2, GEMS_TEST_DDP="1")  # DDP and FSDP2 too


def ranks_up_to_two():
    """Two ranks; one where NCCL has a single GPU (the gems wrapping and the NCCL path still run)."""
    import torch

    return 1 if flag_gems.vendor_name == "nvidia" and torch.cuda.device_count() < 2 else 2


def test_tensor_parallel_and_distributed_checkpoint(tmp_path):
    launch(ranks_up_to_two(), GEMS_TEST_CHECKPOINT=str(tmp_path / "checkpoint"))


def test_checkpoint_writer_gets_gems_tensors_on_the_host_where_another_accelerator_comes_first(monkeypatch):
    """Where CUDA is present, torch.distributed.checkpoint's file writer
    stages through CUDA's loader, which leaves gems tensors on the device
    ("Tensor must be on CPU", seen on the H100). The gems backend hands that
    loader host copies of gems tensors and everything else untouched. Here
    the loader is a stand-in that keeps what it is given (no CUDA on CI)."""
    import torch
    from torch.distributed.checkpoint import filesystem

    from flag_gems import distributed

    class Loader:
        def __init__(self, resolve_fun, inflight_threshhold=0):
            self.resolve = resolve_fun

    monkeypatch.setattr(filesystem, "_OverlappingCpuLoader", Loader)
    monkeypatch.setattr(torch._utils, "_get_available_device_type", lambda: "cuda")
    distributed._checkpoint_staging_fixed()
    assert filesystem._OverlappingCpuLoader is not Loader
    distributed._checkpoint_staging_fixed()  # idempotent: not wrapped twice
    assert filesystem._OverlappingCpuLoader.__mro__[1] is Loader
    items = {"gems": torch.arange(4.0, device="gems"), "cpu": torch.ones(2), "bytes": b"meta"}
    loader = filesystem._OverlappingCpuLoader(items.__getitem__, inflight_threshhold=1)
    staged = loader.resolve("gems")
    assert staged.device.type == "cpu" and torch.equal(staged, torch.arange(4.0))
    assert loader.resolve("cpu") is items["cpu"] and loader.resolve("bytes") == b"meta"


def test_huggingface_llama_trains_under_ddp_and_fsdp2_as_in_one_process():
    launch(ranks_up_to_two(), GEMS_TEST_HF="1")


# ---- failures: PyTorch's exceptions within the group's timeout (5 s), never a hang ----
# (nvidia: NCCL reports a dead or silent peer through its watchdog, which these tests do not cover.)
cpu_only = pytest.mark.skipif(flag_gems.vendor_name != "cpu", reason="two ranks need two GPUs on nvidia")


@cpu_only
def test_a_rank_that_dies_makes_the_others_raise():
    procs = start(2, FAILURES, GEMS_TEST_SCENARIO="dies")
    outputs = finish(procs, timeout=60)
    assert procs[1].returncode == 3
    assert "raised RuntimeError" in outputs[0], outputs[0][-2000:]


@cpu_only
def test_a_silent_rank_makes_the_others_raise_after_the_timeout():
    procs = start(2, FAILURES, GEMS_TEST_SCENARIO="silent")
    outputs = finish(procs, timeout=60)
    assert "raised" in outputs[0], outputs[0][-2000:]  # RuntimeError or its DistBackendError
    took = float(outputs[0].split(" after ")[1].split(" s")[0])
    assert 4 <= took <= 30, took  # the group's timeout, not forever


@cpu_only
def test_mismatched_collectives_raise_with_torch_distributed_debug_detail():
    """Gloo itself aborts a process whose peer sends another size (PyTorch's CPU
    tensors too); PyTorch's remedy, TORCH_DISTRIBUTED_DEBUG=DETAIL, checks each
    collective's shapes across ranks first, which the gems backend supports."""
    procs = start(2, FAILURES, GEMS_TEST_SCENARIO="mismatch", TORCH_DISTRIBUTED_DEBUG="DETAIL")
    for out in finish(procs, timeout=60):
        assert "raised RuntimeError" in out and "Detected mismatch between collectives" in out, out[-2000:]
