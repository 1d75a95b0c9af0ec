"""torch.gems: the device module, shaped like torch.cuda."""
import contextlib

import torch

from . import _C

__all__ = [
    "is_available", "device_count", "current_device", "set_device", "device", "synchronize",
    "manual_seed", "manual_seed_all", "seed", "seed_all", "initial_seed", "get_rng_state", "set_rng_state",
    "get_rng_state_all", "set_rng_state_all", "Stream", "Event", "current_stream", "default_stream", "stream",
    "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved", "memory_stats",
    "reset_peak_memory_stats", "empty_cache", "get_device_name", "is_initialized",
]


def is_available() -> bool:
    return _C.device_count() > 0


def is_initialized() -> bool:
    return True


def _is_in_bad_fork() -> bool:
    return False


def device_count() -> int:
    return _C.device_count()


def _index(dev=None) -> int:
    if dev is None:
        return _C.current_device()
    if isinstance(dev, int):
        return dev
    dev = torch.device(dev)
    if dev.type != "gems":
        raise ValueError(f"Expected a gems device, but got: {dev}")
    return _C.current_device() if dev.index is None else dev.index


def current_device() -> int:
    return _C.current_device()


def set_device(dev) -> None:
    _C.set_device(_index(dev))


def get_device_name(dev=None) -> str:
    return _C.device_name(_index(dev))


class device:
    """Context manager that changes the current gems device."""

    def __init__(self, dev):
        self.idx = _index(dev) if dev is not None else -1
        self.prev = -1

    def __enter__(self):
        self.prev = _C.current_device()
        if self.idx >= 0:
            _C.set_device(self.idx)

    def __exit__(self, *exc):
        if self.idx >= 0:
            _C.set_device(self.prev)
        return False


def synchronize(dev=None) -> None:
    _C.synchronize(_index(dev))


# ---- random numbers ----
def _generator(dev=None) -> torch.Generator:
    return _C.default_generator(_index(dev))


default_generators = tuple(_C.default_generator(i) for i in range(_C.device_count()))


def manual_seed(seed: int) -> None:
    _generator().manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    for g in default_generators:
        g.manual_seed(int(seed))


def seed() -> int:
    return _generator().seed()


def seed_all() -> None:
    s = seed()
    for g in default_generators:
        g.manual_seed(s)


def initial_seed() -> int:
    return _generator().initial_seed()


def get_rng_state(dev="gems") -> torch.Tensor:
    return _generator(dev).get_state()


def set_rng_state(state: torch.Tensor, dev="gems") -> None:
    _generator(dev).set_state(state)


def get_rng_state_all():
    return [g.get_state() for g in default_generators]


def set_rng_state_all(states) -> None:
    for g, s in zip(default_generators, states):
        g.set_state(s)


# ---- streams and events: PyTorch's generic ones, on gems ----
class Stream(torch.Stream):
    """A gems stream; a plain torch.Stream on the gems device."""

    def __new__(cls, device=None, priority=0, **kwargs):
        if "stream_id" in kwargs:  # rebuilding an existing stream
            return super().__new__(cls, **kwargs)
        with globals()["device"](device):
            return super().__new__(cls, device=torch.device("gems", _C.current_device()), priority=priority)


def Event(enable_timing=False, blocking=False, interprocess=False) -> torch.Event:  # noqa: N802
    """A torch.Event on the current gems device (torch.Event's methods check
    for that exact type, so this is a factory rather than a subclass)."""
    return torch.Event(device=torch.device("gems", _C.current_device()), enable_timing=enable_timing,
                       blocking=blocking, interprocess=interprocess)


def current_stream(dev=None) -> torch.Stream:
    return torch.accelerator.current_stream(torch.device("gems", _index(dev)))


_PRIVATEUSE1 = 20  # c10::DeviceType::PrivateUse1, the slot gems occupies


def default_stream(dev=None) -> torch.Stream:
    # Stream id 0 is each device's default stream.
    return torch.Stream(stream_id=0, device_index=_index(dev), device_type=_PRIVATEUSE1)


@contextlib.contextmanager
def stream(s):
    if s is None:
        yield
        return
    prev = torch.accelerator.current_stream(s.device)
    torch.accelerator.set_stream(s)
    try:
        yield
    finally:
        torch.accelerator.set_stream(prev)


# ---- memory ----
def memory_stats(dev=None) -> dict:
    return _C.memory_stats(_index(dev))


def memory_allocated(dev=None) -> int:
    return memory_stats(dev)["allocated_bytes.all.current"]


def max_memory_allocated(dev=None) -> int:
    return memory_stats(dev)["allocated_bytes.all.peak"]


def memory_reserved(dev=None) -> int:
    return memory_stats(dev)["reserved_bytes.all.current"]


def max_memory_reserved(dev=None) -> int:
    return memory_stats(dev)["reserved_bytes.all.peak"]


def reset_peak_memory_stats(dev=None) -> None:
    _C.reset_peak_memory_stats(_index(dev))


def empty_cache() -> None:
    _C.empty_cache()


def get_amp_supported_dtype():
    return [torch.float16, torch.bfloat16]


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return True
