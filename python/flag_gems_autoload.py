"""Entry point of PyTorch's device-backend autoload (group ``torch.backends``).

``import torch`` calls load(), which imports flag_gems and so registers the
gems device. A vendor that cannot be used must not make ``import torch``
itself fail: the reason is given as a warning here, and ``import flag_gems``
raises it as an error.
"""
import warnings


def load():
    try:
        import flag_gems  # noqa: F401
    except Exception as e:  # noqa: BLE001 - reported, and raised again by import flag_gems
        warnings.warn(f"flag_gems was not loaded by torch's backend autoload: {e}", RuntimeWarning, stacklevel=2)
