"""A faulty vendor module gives a Python error that names the file and the
cause, never a crash; a kernel that fails leaves the device usable. The faulty
modules are built here from faulty_vendor/faulty_vendor.c, installed as the
amd module of a copy of the package, and chosen with GEMS_VENDOR=amd."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import flag_gems

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGE = Path(flag_gems.__file__).resolve().parent
# A C compiler; g++ (which ci/install.sh installs) compiles C with -x c.
CC = ([shutil.which("cc") or shutil.which("gcc")] if shutil.which("cc") or shutil.which("gcc")
      else [shutil.which("g++"), "-x", "c"] if shutil.which("g++") else None)
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the faulty modules")


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """flag_gems without its real vendor modules but the cpu one."""
    root = tmp_path_factory.mktemp("faulty")
    dest = root / "flag_gems"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("libgems_vendor_*.so", "__pycache__"))
    shutil.copy2(PACKAGE / "libgems_vendor_cpu.so", dest)
    return root


def build(root, out_name, *defines):
    out = root / "flag_gems" / out_name
    subprocess.run([*CC, "-shared", "-fPIC", "-o", str(out), str(HERE / "faulty_vendor" / "faulty_vendor.c"),
                    f"-I{ROOT / 'backends' / 'abi'}", *defines, "-ldl"], check=True)
    return out


def run(root, code):
    env = {k: v for k, v in os.environ.items() if k != "GEMS_VENDOR_DIR"}  # the copy's own modules
    env.update(PYTHONPATH=str(root), GEMS_VENDOR="amd", TORCH_DEVICE_BACKEND_AUTOLOAD="0")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("defines,cause", [
    (["-DFAULT=1"], "implements vendor ABI version"),
    (["-DFAULT=2"], "failed to initialise"),
    (["-DFAULT=3"], "no usable device"),
    (["-DNO_ENTRY"], "is not a flag_gems vendor module"),
], ids=["wrong_abi", "init_fails", "no_device", "no_entry_point"])
def test_faulty_module_is_a_python_error_naming_file_and_cause(package_copy, defines, cause):
    path = build(package_copy, "libgems_vendor_amd.so", *defines)
    r = run(package_copy, "import flag_gems")
    assert r.returncode == 1, r.stderr          # a Python exception, not a signal
    assert "Traceback" in r.stderr and cause in r.stderr, r.stderr
    assert str(path) in r.stderr or "amd" in r.stderr, r.stderr


def test_a_file_that_is_not_a_shared_library(package_copy):
    path = package_copy / "flag_gems" / "libgems_vendor_amd.so"
    path.write_text("not an ELF file\n")
    r = run(package_copy, "import flag_gems")
    assert r.returncode == 1 and "could not load the amd vendor module" in r.stderr, r.stderr
    assert str(path) in r.stderr


def test_a_failing_kernel_raises_and_the_device_stays_usable(package_copy):
    build(package_copy, "libgems_vendor_amd.so", "-DFAULT=4",
          f'-DCPU_MODULE="{package_copy / "flag_gems" / "libgems_vendor_cpu.so"}"')
    r = run(package_copy, """
import torch, flag_gems
x = torch.ones(4, device="gems")
try:
    x + x
    print("no error")
except RuntimeError as e:
    print("raised:", e)
print("still usable:", (x * 3).sum().item())
""")
    assert r.returncode == 0, r.stderr
    assert "raised:" in r.stdout and "injected fault" in r.stdout and "'add'" in r.stdout, r.stdout
    assert "still usable: 12.0" in r.stdout, r.stdout
