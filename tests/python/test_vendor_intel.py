"""The intel vendor module (backends/intel: SPIR-V kernels from C++ for
OpenCL over an OpenCL + USM runtime): its table against nvidia's, how it
refuses without an Intel device, and a run on Intel's OpenCL CPU runtime
(ci/intel_opencl_cpu.sh) in a child process. The whole op suite runs on it
from ci/test.sh (GEMS_VENDOR=intel). No Intel GPU has run it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flag_gems
from flag_gems import _C

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(flag_gems.__file__).parent
INTEL = PACKAGE / "libgems_vendor_intel.so"
NVIDIA = PACKAGE / "libgems_vendor_nvidia.so"
ICD = ROOT / "build" / "intel_opencl_cpu" / "icd"
pytestmark = pytest.mark.skipif(not INTEL.exists(), reason="the intel vendor module is not built (no clang-15/llvm-spirv)")
needs_cpu_runtime = pytest.mark.skipif(not (ICD / "intel-cpu.icd").exists(),
                                       reason="Intel's OpenCL CPU runtime is not installed (ci/intel_opencl_cpu.sh)")



def run(code, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("GEMS_VENDOR", "GEMS_VENDOR_DIR", "GEMS_INTEL_DEVICES", "GEMS_INTEL_RUNTIME", "OCL_ICD_VENDORS")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)


def test_module_is_the_intel_vendor_at_this_abi():
    name, abi, kernels = _C.inspect_vendor_module(str(INTEL))
    assert name == "intel"
    assert abi == _C.inspect_vendor_module(str(PACKAGE / "libgems_vendor_cpu.so"))[1]
    assert len(kernels) > 0


@pytest.mark.skipif(not NVIDIA.exists(), reason="the nvidia vendor module is not built (no nvcc)")
def test_kernel_table_is_the_nvidia_modules():
    intel = dict(_C.inspect_vendor_module(str(INTEL))[2])
    nvidia = dict(_C.inspect_vendor_module(str(NVIDIA))[2])
    assert set(intel) == set(nvidia)
    # every dtype nvidia's kernel serves (intel's attention also serves float32 and float64, which
    # cuDNN's does not: the math path serves them on nvidia)
    assert {k: intel[k] & nvidia[k] for k in intel} == nvidia
    assert {k for k in intel if intel[k] != nvidia[k]} <= {"attention", "attention_backward"}


@needs_cpu_runtime
def test_named_without_an_intel_gpu_fails_at_import_saying_so():
    r = run("import flag_gems", GEMS_VENDOR="intel", OCL_ICD_VENDORS=str(ICD))
    assert r.returncode != 0
    assert "the intel vendor module loaded but reports no usable device" in r.stderr
    assert "GEMS_INTEL_DEVICES=cpu admits" in r.stderr


@needs_cpu_runtime
def test_the_probe_moves_past_it_quietly():
    r = run("import flag_gems; print(flag_gems.vendor_name)", OCL_ICD_VENDORS=str(ICD))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != "intel"


@pytest.mark.skipif(os.path.exists("/dev/dri"), reason="this machine has a GPU driver (DRM)")
def test_level_zero_forced_without_a_driver_is_refused_naming_zeinit():
    r = run("import flag_gems", GEMS_VENDOR="intel", GEMS_INTEL_RUNTIME="level_zero")
    assert r.returncode != 0
    assert "zeInit" in r.stderr and "ZE_RESULT_ERROR_UNINITIALIZED" in r.stderr, r.stderr[-2000:]


@needs_cpu_runtime
def test_runs_on_intels_opencl_cpu_runtime_and_caches_its_programs(tmp_path):
    code = """
import torch, flag_gems
from flag_gems import _C
assert flag_gems.vendor_name == "intel", flag_gems.vendor_name
_C.set_strict(True)
g = torch.Generator().manual_seed(0)
a, b = torch.randn(70, 33, generator=g), torch.randn(33, 45, generator=g)
ga, gb = a.to("gems"), b.to("gems")
torch.testing.assert_close((torch.softmax(ga @ gb, -1) * 2 - 1).cpu(), torch.softmax(a @ b, -1) * 2 - 1)
idx = torch.tensor([3, 0, 69])
assert torch.equal(ga[idx.to("gems")].cpu(), a[idx])
print(torch.gems.get_device_name(0))
"""
    env = dict(GEMS_VENDOR="intel", GEMS_INTEL_DEVICES="cpu", OCL_ICD_VENDORS=str(ICD), GEMS_CACHE_DIR=str(tmp_path))
    first = run(code, **env)
    assert first.returncode == 0, first.stderr
    assert "(OpenCL)" in first.stdout
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert cached and all(name.startswith("intel-") and name.endswith(".bin") for name in cached)
    second = run(code, **env)  # from the cache
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == cached


@needs_cpu_runtime
def test_training_scripts_exit_cleanly_with_backward_in_the_calling_thread():
    """A thread other than the main one that called into Intel's OpenCL CPU
    runtime and is alive at exit (autograd's device thread for gems) made such
    scripts abort after their last line in 1-2 of 8 runs. flag_gems runs
    backward in the importing thread on the intel vendor; eight runs of a
    group_norm training loop must all exit with status 0."""
    code = """
import torch, flag_gems
import torch.nn.functional as F
assert not torch.autograd.is_multithreading_enabled()
x = torch.randn(4, 8, 6, 6).to("gems").requires_grad_()
w = torch.randn(8).to("gems").requires_grad_()
b = torch.randn(8).to("gems").requires_grad_()
for _ in range(5):
    F.group_norm(x, 4, w, b).sum().backward()
print(float(x.grad.abs().sum().cpu()) >= 0)
"""
    env = dict(GEMS_VENDOR="intel", GEMS_INTEL_DEVICES="cpu", OCL_ICD_VENDORS=str(ICD))
    for attempt in range(8):
        r = run(code, **env)
        assert r.returncode == 0 and r.stdout.strip() == "True", (attempt, r.returncode, r.stderr[-2000:])
