"""Module conversions to and from gems keep shared parameters shared.

``nn.Module.to(device)`` replaces each parameter's data in place only when
PyTorch deems the old and new tensors "shallow-copy compatible", which it never
does for its PrivateUse1 device (pytorch/pytorch#116255): every parameter
becomes a new ``Parameter``, so tied weights (an LM head sharing the embedding,
as GPT-2, BERT, Gemma and most small models do) come apart on gems and train as
two tensors, and an optimizer made before the move holds stale parameters.
PyTorch's own remedy is its swap-tensors conversion
(``torch.__future__.set_swap_module_params_on_conversion``), which keeps each
``Parameter`` object and so every tie; it is switched on here for conversions
that move tensors to or from gems, and left as the user set it for any other.
"""
import itertools
import threading
import warnings

import torch

_original_apply = torch.nn.Module._apply


def _moves_gems_tensors(module, fn):
    """Whether the conversion fn touches gems tensors: a first tensor of the module on gems, or fn taking
    an empty tensor like it to gems (conversions map each tensor alone)."""
    for t in itertools.chain(module.parameters(), module.buffers()):
        if t.device.type == "gems":
            return True
        probe = fn(torch.empty(0, dtype=t.dtype, device=t.device))
        return isinstance(probe, torch.Tensor) and probe.device.type == "gems"
    return False


_plain = threading.local()  # set while a conversion retries PyTorch's default way


def _apply(self, fn, recurse=True):
    if (getattr(_plain, "on", False) or torch.__future__.get_swap_module_params_on_conversion()
            or not _moves_gems_tensors(self, fn)):
        return _original_apply(self, fn, recurse)
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        return _original_apply(self, fn, recurse)
    except RuntimeError as e:
        # A tensor referenced elsewhere (a live autograd graph holds its parameters) cannot be swapped;
        # PyTorch's default way still converts (the tensors already swapped convert to themselves).
        if "Couldn't swap" not in str(e):
            raise
        warnings.warn(f"flag_gems: {e} (referenced elsewhere, e.g. by a live autograd graph); the module was "
                      "converted by replacing its parameters, which unties tied ones")
    finally:
        torch.__future__.set_swap_module_params_on_conversion(False)
    _plain.on = True
    try:
        return _original_apply(self, fn, recurse)
    finally:
        _plain.on = False


torch.nn.Module._apply = _apply
