"""Configures and builds flag_gems' native parts with CMake against the active
torch: the core extension flag_gems._C and every vendor module whose
toolchain is present. setup.py calls build(); on a machine without pip or
setuptools it also runs alone:

    python3 tools/build_native.py python/flag_gems
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cuda_wheel_dirs():
    """Roots of NVIDIA's CUDA wheels (nvidia/cu13/...) in site-packages: where
    cuBLASLt's and cuDNN's headers and libraries are when they come from PyPI
    (nvidia-cublas and nvidia-cudnn-cu13, or the ones a CUDA torch depends on)."""
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = []
    for root in spec.submodule_search_locations:
        for sub in ("cu13", "cublas", "cudnn"):
            if os.path.isdir(os.path.join(root, sub)):
                dirs.append(os.path.join(root, sub))
    return dirs


def _cudnn_frontend_include():
    """The header-only cuDNN frontend: GEMS_CUDNN_FRONTEND_INCLUDE, or the
    include/ folder the nvidia-cudnn-frontend wheel puts beside its package."""
    if os.environ.get("GEMS_CUDNN_FRONTEND_INCLUDE"):
        return os.environ["GEMS_CUDNN_FRONTEND_INCLUDE"]
    import importlib.util

    spec = importlib.util.find_spec("cudnn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        include = os.path.join(os.path.dirname(root), "include")
        if os.path.isfile(os.path.join(include, "cudnn_frontend.h")):
            return include
    return None


def build(out_dir, build_dir=None):
    """Builds into out_dir (the directory of the flag_gems package)."""
    import torch
    from torch.utils import cpp_extension

    out_dir = Path(out_dir).resolve()
    build_dir = Path(build_dir or os.environ.get("GEMS_BUILD_DIR", ROOT / "build" / "cmake")).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    args = [
        f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
        f"-DPython3_EXECUTABLE={sys.executable}",
        f"-DTORCH_INCLUDE_DIRS={';'.join(cpp_extension.include_paths())}",
        f"-DTORCH_LIBRARY_DIR={os.path.join(os.path.dirname(torch.__file__), 'lib')}",
        f"-DTORCH_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
        f"-DCMAKE_BUILD_TYPE={os.environ.get('GEMS_BUILD_TYPE', 'Release')}",
        f"-DGEMS_NVIDIA={os.environ.get('GEMS_NVIDIA', 'AUTO')}",
    ]
    if os.environ.get("GEMS_CUDA_GENCODE"):
        args.append(f"-DGEMS_CUDA_GENCODE={os.environ['GEMS_CUDA_GENCODE']}")
    frontend = _cudnn_frontend_include()
    if frontend:
        args.append(f"-DGEMS_CUDNN_FRONTEND_DIR={frontend}")
    cuda_wheels = _cuda_wheel_dirs()
    if cuda_wheels:
        args.append(f"-DGEMS_CUDA_WHEEL_DIRS={';'.join(cuda_wheels)}")
    # Further CMake arguments, e.g. ci/sanitize.sh's sanitized build.
    args += os.environ.get("GEMS_CMAKE_ARGS", "").split()
    if shutil.which("ninja"):
        args.append("-GNinja")
    if shutil.which("ccache"):
        args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"]
    subprocess.check_call(["cmake", str(ROOT), *args], cwd=build_dir)
    jobs = os.environ.get("GEMS_BUILD_JOBS", str(os.cpu_count() or 2))
    subprocess.check_call(["cmake", "--build", ".", "--parallel", jobs], cwd=build_dir)
    return out_dir


if __name__ == "__main__":
    os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
    build(sys.argv[1] if len(sys.argv) > 1 else ROOT / "python" / "flag_gems")
