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


def launch(world, **env):
    devices_for(world)
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(WORKER)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=port, **env))
             for r in range(world)]
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
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


def test_tensor_parallel_and_distributed_checkpoint(tmp_path):
    launch(2, GEMS_TEST_CHECKPOINT=str(tmp_path / "checkpoint"))


def test_huggingface_llama_trains_under_ddp_as_in_one_process():
    launch(2, GEMS_TEST_HF="1")
