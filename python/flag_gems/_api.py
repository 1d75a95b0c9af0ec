"""FlagGems' Python API over the op table of the C++ core.

Op names are aten names: "add" means every overload of add (and its in-place
form add_), "add.Tensor" one overload. A name that matches nothing in the op
table is an error, never a silent no-op.
"""
import contextlib

from . import _C

_ALL = tuple(_C.all_overloads())
_state = {"gems": list(_ALL), "native": [], "record": (False, "")}


def _family(overload: str) -> str:
    return overload.split(".")[0].rstrip("_") or overload


def _resolve(names) -> set:
    """The overloads named by `names` (families or exact overloads)."""
    if names is None:
        return set()
    if isinstance(names, str):
        names = [names]
    out = set()
    for name in names:
        hits = {o for o in _ALL if o == name or _family(o) == name.rstrip("_")}
        if not hits:
            raise ValueError(f"flag_gems: '{name}' names no op served by gems; served ops are: "
                             f"{sorted({_family(o) for o in _ALL})}")
        out |= hits
    return out


def _apply(gems_ops, native_ops, record=None, path=None):
    _C.set_enabled_ops(sorted(gems_ops), sorted(native_ops))
    _state["gems"], _state["native"] = sorted(gems_ops), sorted(native_ops)
    if record is not None:
        _C.set_record(bool(record), path or "")
        _state["record"] = (bool(record), path or "")


def enable(lib=None, unused=None, registrar=None, record=False, once=False, path=None):
    """Turns every gems kernel on except those in `unused`, on gems tensors and
    on the vendor's native device (CPU tensors for the cpu vendor, CUDA tensors
    for nvidia), as FlagGems' enable() does. `lib`, `registrar` and `once` are
    accepted for FlagGems compatibility and have no effect."""
    ops = set(_ALL) - _resolve(unused)
    _apply(ops, ops, record=record, path=path)


def only_enable(include=None, record=False, path=None, **kwargs):
    """Only the ops in `include` run gems kernels; all other ops fall back."""
    ops = _resolve(include)
    _apply(ops, ops, record=record, path=path)


@contextlib.contextmanager
def use_gems(include=None, exclude=None, record=False, path=None):
    """enable()/only_enable() for the body of a with block; leaving it restores
    the previous state exactly. `include` wins over `exclude`."""
    saved = (list(_state["gems"]), list(_state["native"]), _state["record"])
    ops = _resolve(include) if include is not None else set(_ALL) - _resolve(exclude)
    try:
        _apply(ops, ops, record=record or saved[2][0], path=path if record else saved[2][1])
        yield
    finally:
        _apply(saved[0], saved[1], record=saved[2][0], path=saved[2][1])


def all_registered_ops():
    """The aten overloads currently served by gems kernels on gems tensors."""
    return list(_C.enabled_ops(False))


def all_registered_keys():
    """The dispatch keys gems kernels are registered on right now."""
    keys = ["PrivateUse1"] if _C.enabled_ops(False) else []
    if _C.enabled_ops(True):
        keys.append(_C.native_key())
    return keys


def fallback_counts() -> dict:
    """Op calls on gems tensors that ran through the fallback, per overload."""
    return dict(_C.fallback_counts())


def native_counts() -> dict:
    """Op calls that ran gems kernels, per overload."""
    return dict(_C.native_counts())


def reset_counts() -> None:
    _C.reset_fallback_counts()
    _C.reset_native_counts()
