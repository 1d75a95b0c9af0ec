"""Builds flag_gems with CMake against the torch that is installed.

    pip install --no-build-isolation .        (or -e . for development)

The core extension (flag_gems._C) and every vendor module whose toolchain is
present (cpu always, nvidia when nvcc is found) land inside the package.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The build imports torch; torch's device-backend autoload must not try to
# import a flag_gems that is half built.
os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _cuda_wheel_dirs():
    """Roots of NVIDIA's CUDA wheels (nvidia/cu13/...) in site-packages: where
    cuBLASLt's headers and library are when they come from PyPI (the
    nvidia-cublas wheel, or the ones a CUDA torch depends on)."""
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = []
    for root in spec.submodule_search_locations:
        for sub in ("cu13", "cublas"):
            if os.path.isdir(os.path.join(root, sub)):
                dirs.append(os.path.join(root, sub))
    return dirs


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        import torch
        from torch.utils import cpp_extension

        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(os.environ.get("GEMS_BUILD_DIR", ROOT / "build" / "cmake")).resolve()
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
        cuda_wheels = _cuda_wheel_dirs()
        if cuda_wheels:
            args.append(f"-DGEMS_CUDA_WHEEL_DIRS={';'.join(cuda_wheels)}")
        if subprocess.call(["which", "ninja"], stdout=subprocess.DEVNULL) == 0:
            args.append("-GNinja")
        if subprocess.call(["which", "ccache"], stdout=subprocess.DEVNULL) == 0:
            args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"]
        subprocess.check_call(["cmake", str(ROOT), *args], cwd=build_dir)
        jobs = os.environ.get("GEMS_BUILD_JOBS", str(os.cpu_count() or 2))
        subprocess.check_call(["cmake", "--build", ".", "--parallel", jobs], cwd=build_dir)
        if getattr(self, "editable_mode", False) or self.inplace:
            # An editable install imports the package from python/flag_gems:
            # the vendor modules must sit beside the extension there too.
            package_dir = ROOT / "python" / "flag_gems"
            for lib in out_dir.glob("libgems_vendor_*.so"):
                shutil.copy2(lib, package_dir / lib.name)


setup(
    name="flag_gems",
    version="0.1.0",
    description="A multi-vendor PyTorch device backend in C++ with FlagGems' Python API",
    license="Apache-2.0",
    packages=find_packages("python"),
    py_modules=["flag_gems_autoload"],
    package_dir={"": "python"},
    ext_modules=[CMakeExtension("flag_gems._C")],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.10",
    install_requires=["torch>=2.9"],
    entry_points={"torch.backends": ["flag_gems = flag_gems_autoload:load"]},
    zip_safe=False,
)
