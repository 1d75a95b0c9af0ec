"""Choices made once per process at import, in fresh processes: GEMS_VENDOR and
the probe (a named vendor that cannot be used is an error, never a switch),
autoload, strict mode and GEMS_DEVICE."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()


def run(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("GEMS_VENDOR", "GEMS_CPU_DEVICES", "GEMS_VENDOR_DIR")}
    full.update(env)
    full["TORCH_DEVICE_BACKEND_AUTOLOAD"] = full.get("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


def test_probe_without_gems_vendor_takes_the_first_usable_vendor():
    r = run("import flag_gems; print(flag_gems.vendor_name)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("nvidia" if HAS_CUDA else "cpu")


@pytest.mark.parametrize("value", ["cpu", "CPU"])
def test_explicit_cpu(value):
    r = run("import flag_gems; print(flag_gems.vendor_name)", GEMS_VENDOR=value)
    assert r.stdout.strip() == "cpu", r.stderr


def test_bad_name_lists_the_valid_names():
    r = run("import flag_gems", GEMS_VENDOR="tpu")
    assert r.returncode != 0
    assert "GEMS_VENDOR='tpu' is not a vendor" in r.stderr
    assert "cpu, nvidia, amd, intel" in r.stderr


@pytest.mark.parametrize("value,vendor", [("cuda", "nvidia"), ("nvidia", "nvidia"), ("rocm", "amd"), ("ze", "intel")])
def test_named_but_unusable_vendor_is_an_error_not_a_switch(value, vendor):
    if vendor == "nvidia" and HAS_CUDA:
        pytest.skip("the nvidia vendor is usable on this machine")
    r = run("import flag_gems; print(flag_gems.vendor_name)", GEMS_VENDOR=value)
    assert r.returncode != 0, r.stdout
    assert f"the {vendor} vendor module" in r.stderr
    assert "not found" in r.stderr or "no usable device" in r.stderr or "could not load" in r.stderr


def test_configurable_cpu_device_count():
    r = run("import torch, flag_gems; print(torch.gems.device_count())", GEMS_CPU_DEVICES="3", GEMS_VENDOR="cpu")
    assert r.stdout.strip() == "3", r.stderr


def test_malformed_cpu_device_count_is_an_error():
    r = run("import flag_gems", GEMS_VENDOR="cpu", GEMS_CPU_DEVICES="zero")
    assert r.returncode != 0 and "GEMS_CPU_DEVICES must be an integer" in r.stderr


def _entry_point_installed():
    from importlib.metadata import entry_points
    return any(ep.name == "flag_gems" for ep in entry_points(group="torch.backends"))


@pytest.mark.skipif(not _entry_point_installed(), reason="flag_gems is not pip-installed here (no entry point)")
def test_import_torch_alone_registers_gems_through_autoload():
    r = run("import torch; x = torch.ones(2, device='gems'); print(x.device, torch.gems.device_count())",
            TORCH_DEVICE_BACKEND_AUTOLOAD="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "gems:0"


@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
def test_explicit_nvidia_on_a_gpu_machine():
    r = run("import flag_gems; print(flag_gems.vendor_name)", GEMS_VENDOR="cuda")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "nvidia"


@pytest.mark.skipif(not _entry_point_installed(), reason="flag_gems is not pip-installed here (no entry point)")
def test_autoload_with_unusable_vendor_warns_and_leaves_torch_importable():
    r = run("import torch; print(torch.ones(1).item())", TORCH_DEVICE_BACKEND_AUTOLOAD="1", GEMS_VENDOR="tpu")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1.0"
    assert "flag_gems was not loaded" in r.stderr


def test_strict_mode_from_the_environment():
    code = ("import torch, flag_gems\n"
            "x = torch.ones(3, device='gems')\n"
            "(x + x).sum()\n"
            "try:\n    torch.cumprod(x, 0)\nexcept NotImplementedError as e:\n    print('strict:', e)\n")
    r = run(code, GEMS_STRICT="1", GEMS_VENDOR="cpu")
    assert r.returncode == 0, r.stderr
    assert "strict: flag_gems strict mode: 'cumprod.out'" in r.stdout


PATCH_ONLY_TRAINING = """
import torch, flag_gems
native = "cuda" if torch.cuda.is_available() else "cpu"
assert not flag_gems.device_registered and flag_gems.device == native, flag_gems.device
accelerator = torch.accelerator.current_accelerator()
assert accelerator is None or accelerator.type == native, accelerator
try:
    torch.empty(1, device="gems")
    raise AssertionError("a gems tensor was made with the device unregistered")
except RuntimeError:
    pass
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4)).to(native)
x = torch.randn(8, 16, device=native)

def gradients():
    model.zero_grad()
    model(x).square().mean().backward()
    return [p.grad.clone() for p in model.parameters()]

reference = gradients()
flag_gems.reset_counts()
with flag_gems.use_gems():
    patched = gradients()
assert flag_gems.native_counts(), "no op of the backward ran a gems kernel"
for a, b in zip(patched, reference):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
print("trained", len(flag_gems.native_counts()))
"""


def test_patch_only_mode_leaves_the_native_device_torchs_accelerator_and_trains_on_it():
    # GEMS_DEVICE=0: no gems device, so torch's accelerator stays CUDA and its backward works (with gems
    # registered, PyTorch's engine asserts on every CUDA backward: pytorch/pytorch#161129); FlagGems'
    # patch mode still runs the forward and backward ops on gems kernels.
    r = run(PATCH_ONLY_TRAINING, GEMS_DEVICE="0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("trained"), r.stdout


def test_vendor_dir_names_where_modules_are_loaded_from(tmp_path):
    """GEMS_VENDOR_DIR: modules built elsewhere (the sanitized build of CI)."""
    import flag_gems

    shutil.copy(Path(flag_gems.__file__).parent / "libgems_vendor_cpu.so", tmp_path / "libgems_vendor_cpu.so")
    proc = run("import flag_gems, torch; torch.ones(2, device='gems').sum().item();"
               "print([l.split()[-1] for l in open('/proc/self/maps') if 'libgems_vendor' in l][0])",
               GEMS_VENDOR="cpu", GEMS_VENDOR_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "libgems_vendor_cpu.so")
    proc = run("import flag_gems", GEMS_VENDOR="cpu", GEMS_VENDOR_DIR=str(tmp_path / "none"))
    assert proc.returncode != 0 and str(tmp_path / "none" / "libgems_vendor_cpu.so") in proc.stderr
