"""torch.distributed on gems tensors.

A process-group backend named ``gems`` is registered for the ``gems`` device
when flag_gems loads, so that ``dist.init_process_group()`` (no backend named:
``cpu:gloo,gems:gems``) or ``backend="cpu:gloo,gems:gems"`` works and
``torchrun`` launches it. Its collectives are those of the library PyTorch
already trusts for the memory the vendor's tensors live in, run on that memory
in place (csrc/distributed/gems_backend.cpp): Gloo for host memory (the cpu
vendor), NCCL for CUDA memory (nvidia).
"""
import functools
from datetime import timedelta

import torch
import torch.distributed as dist

from . import _C

BACKEND = "gems"


def _inner_backend(store, rank, size, timeout):
    native = _C._distributed_native_device()
    if native == "cpu":
        return dist.ProcessGroupGloo(store, rank, size, timeout)
    if native == "cuda":
        options = dist.ProcessGroupNCCL.Options()
        options._timeout = timeout
        return dist.ProcessGroupNCCL(store, rank, size, options)
    raise RuntimeError(f"gems: torch.distributed needs a vendor whose memory a native PyTorch backend reads; "
                       f"the {_C.vendor_name()} vendor's is not")


def _create_backend(store, rank, size, timeout: timedelta):
    _checkpoint_staging_fixed()
    return _C._wrap_backend(_inner_backend(store, rank, size, timeout))


def _checkpoint_staging_fixed():
    """torch.distributed.checkpoint's file writer copies tensors to the host
    through a loader made for one device type, the first one available, and
    CUDA comes before any out-of-tree device: in a process that has CUDA too
    (the nvidia vendor's), gems tensors reached the writer still on gems
    ("Tensor must be on CPU"). Its loader then gets gems tensors as host
    copies, as its serial loader makes them."""
    if torch._utils._get_available_device_type() == "gems":
        return
    try:
        from torch.distributed.checkpoint import filesystem
    except ImportError:
        return
    loader = getattr(filesystem, "_OverlappingCpuLoader", None)
    if loader is None or getattr(loader, "_gems_wrapped", False):
        return

    class HostStagingLoader(loader):
        _gems_wrapped = True

        def __init__(self, resolve_fun, *args, **kwargs):
            def resolve(item):
                data = resolve_fun(item)
                if isinstance(data, torch.Tensor) and data.device.type == "gems":
                    return data.detach().cpu()
                return data

            super().__init__(resolve, *args, **kwargs)

    filesystem._OverlappingCpuLoader = HostStagingLoader


def _default_backend_fixed(helper):
    """init_process_group() with no backend named creates the accelerator's
    backend alone (gems), but PyTorch then sets the group's default backend to
    Gloo for any backend from outside it, without creating Gloo; DDP asks for
    the default ("Could not find backend type 1"). Such a group's default
    becomes the gems backend it does have."""

    @functools.wraps(helper)
    def wrapped(*args, **kwargs):
        pg, store = helper(*args, **kwargs)
        devices = getattr(pg, "_device_types", [])
        if torch.device("gems") in devices and torch.device("cpu") not in devices:
            pg._set_default_backend(dist.ProcessGroup.BackendType.CUSTOM)
        return pg, store

    wrapped._gems_wrapped = True
    return wrapped


def register():
    """Registers the backend (idempotent); nothing where torch has no distributed support."""
    if not dist.is_available() or BACKEND in dist.Backend.backend_list:
        return
    dist.Backend.register_backend(BACKEND, _create_backend, devices=["gems"])
    c10d = dist.distributed_c10d
    helper = getattr(c10d, "_new_process_group_helper", None)
    if helper is not None and not getattr(helper, "_gems_wrapped", False):
        c10d._new_process_group_helper = _default_backend_fixed(helper)
