"""Builds flag_gems with CMake against the torch that is installed.

    pip install --no-build-isolation .        (or -e . for development)

The core extension (flag_gems._C) and every vendor module whose toolchain is
present (cpu always, nvidia when nvcc is found) land inside the package;
tools/build_native.py holds the CMake step.
"""
import os
import shutil
import sys
from pathlib import Path

# The build imports torch; torch's device-backend autoload must not try to
# import a flag_gems that is half built.
os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"

from setuptools import Extension, find_packages, setup  # noqa: E402
from setuptools.command.build_ext import build_ext  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
import build_native  # noqa: E402


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = build_native.build(Path(self.get_ext_fullpath(ext.name)).resolve().parent)
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
