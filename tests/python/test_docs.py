"""docs/ops.md is generated from the op table; it must match what the code serves."""
import subprocess
import sys
from pathlib import Path

import pytest

import flag_gems
from flag_gems import _C

ROOT = Path(__file__).resolve().parents[2]


def test_ops_md_is_current():
    for vendor, tool in (("nvidia", "nvcc"), ("amd", "hipcc"), ("intel", "clang-15 and llvm-spirv")):
        if not Path(_C.vendor_module_path(vendor)).exists():
            pytest.skip(f"the {vendor} module is not built here (no {tool}), so its column cannot be regenerated")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_ops_md.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_every_table_row_is_served_by_the_cpu_vendor():
    if flag_gems.vendor_name != "cpu":
        pytest.skip("the cpu vendor's kernel table is read only when it is the loaded vendor")
    kernels = {name for name, _ in _C.vendor_kernels()}
    for overload, needed in _C.op_table():
        assert set(needed.split(",")) <= kernels, overload
