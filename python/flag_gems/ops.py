"""flag_gems.ops.<name>(...): call one gems kernel directly, without enable().

``flag_gems.ops.add(a, b)`` runs aten's add with the gems kernel switched on
for that call, on gems tensors or on the vendor's native device, whatever the
enable() state is.
"""
import torch

from . import _api


class _Op:
    def __init__(self, name):
        self.name = name
        base, _, overload = name.partition(".")
        packet = getattr(torch.ops.aten, base)
        self.fn = getattr(packet, overload) if overload else packet
        _api._resolve(name)  # raises when gems serves no such op

    def __call__(self, *args, **kwargs):
        with _api.use_gems(include=[self.name]):
            return self.fn(*args, **kwargs)

    def __repr__(self):
        return f"<flag_gems.ops.{self.name}>"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return _Op(name)
    except (AttributeError, ValueError) as e:
        raise AttributeError(f"flag_gems.ops has no op '{name}': {e}") from None
