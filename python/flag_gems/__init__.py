"""flag_gems: a multi-vendor PyTorch device backend written in C++.

Importing it registers the device ``gems`` (PyTorch's PrivateUse1 slot), backed
by the vendor module that ``GEMS_VENDOR`` names or the probe finds, and keeps
FlagGems' Python API: ``enable``, ``only_enable``, ``use_gems``,
``all_registered_ops``, ``all_registered_keys``, ``vendor_name``, ``ops``.
"""
import os

import torch

from . import _C

_C._init()  # chooses the vendor; raises with the reason when none is usable

# GEMS_DEVICE=0 leaves the device unregistered: gems kernels then serve only
# patch mode (enable() on the native device, as FlagGems does). That is for
# processes that also run CUDA backward passes: once a PrivateUse1 device is
# named, PyTorch takes it for the process's one accelerator, and its autograd
# engine then asserts on every CUDA backward (pytorch/pytorch#161129).
device_registered = os.environ.get("GEMS_DEVICE", "1") != "0"

if device_registered:
    # Order matters: rename the backend, then register torch.gems, then
    # generate the tensor/module/storage methods (.gems(), .is_gems).
    if torch._C._get_privateuse1_backend_name() != "gems":
        torch.utils.rename_privateuse1_backend("gems")

    from . import _device_module

    torch._register_device_module("gems", _device_module)
    torch.utils.generate_methods_for_privateuse1_backend(for_tensor=True, for_module=True, for_storage=True)

    from . import _module_conversion  # noqa: F401  (model.to("gems") keeps tied weights tied)
from . import ops  # noqa: E402
from ._api import (  # noqa: E402
    all_registered_keys,
    all_registered_ops,
    enable,
    fallback_counts,
    native_counts,
    only_enable,
    reset_counts,
    use_gems,
)

# Where FlagGems code puts its tensors (torch.randn(..., device=flag_gems.device)).
device = "gems" if device_registered else _C.native_key().lower()
vendor_name = _C.vendor_name()

# A host-memory vendor (cpu) runs its kernels synchronously in the calling
# thread, so autograd's device thread for gems overlaps nothing there and costs
# two thread wake-ups a backward pass (a tiny backward took 129 us against 19
# on CPU tensors, on a 2-core machine). Backward then runs in the thread that
# calls it, as it does for CPU tensors: autograd's multithreading is switched
# off for the importing thread (a thread-local setting; other threads keep
# torch's default, and torch.autograd.set_multithreading_enabled(True) restores it).
# The intel vendor too: its runtimes enqueue asynchronously (nothing to overlap
# either), and a thread other than the main one that has called into Intel's
# OpenCL CPU runtime and is still alive at exit (autograd's device thread) made
# the process abort there in 1-2 of 8 runs ("terminate called without an active
# exception", after the script's last line; none in 16 runs with backward in the
# calling thread; docs/reliability.md).
if _C.vendor_memory_is_host() or vendor_name == "intel":
    torch.autograd.set_multithreading_enabled(False)

# torch.distributed on gems: the "gems" process-group backend (distributed.py).
if device_registered:
    from . import distributed as _distributed

    _distributed.register()

__version__ = "0.1.0"

__all__ = [
    "device",
    "device_registered",
    "vendor_name",
    "enable",
    "only_enable",
    "use_gems",
    "all_registered_ops",
    "all_registered_keys",
    "fallback_counts",
    "native_counts",
    "reset_counts",
    "ops",
]

