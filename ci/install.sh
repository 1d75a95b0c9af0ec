#!/usr/bin/env bash
# Sets up a fresh Debian machine for flag_gems and builds it in place:
# system packages (apt-get), torch and the test tools (pip), then
# `pip install --no-build-isolation -e .` against that torch.
set -euo pipefail
cd "$(dirname "$0")/.."

# hipcc, libamdhip64-dev, rocm-device-libs and librocprim-dev build the amd
# vendor module (the nvidia kernels as HIP for AMD GPUs; backends/amd);
# clang-15, llvm-spirv-15 and spirv-tools build and validate the intel
# vendor's SPIR-V kernels, opencl-headers and ocl-icd-libopencl1 (the ICD
# loader) serve its OpenCL runtime, libze-dev and libze1 its Level Zero one
# (backends/intel). libdnnl-dev is oneDNN, the cpu vendor's convolutions.
# The LLVM version is Debian 12's 15 where it is packaged, else the first of
# 16-19 that has both clang and llvm-spirv (Debian 13).
llvm=15
for v in 15 16 17 18 19; do
  if apt-cache show "llvm-spirv-$v" >/dev/null 2>&1 && apt-cache show "clang-$v" >/dev/null 2>&1; then llvm=$v; break; fi
done
packages=(cmake ninja-build g++ libopenblas-dev libdnnl-dev libgtest-dev hipcc libamdhip64-dev rocm-device-libs librocprim-dev
          "clang-$llvm" "llvm-spirv-$llvm" spirv-tools opencl-headers ocl-icd-libopencl1 libze-dev libze1)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "ci/install.sh: installing ${missing[*]}"
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check "torch==${GEMS_TORCH_VERSION:-2.13.0}" pytest hypothesis \
  "transformers==5.17.0" expecttest numpy
# cuBLASLt and cuDNN (headers and libraries) and cuDNN's header-only C++
# frontend, so that the nvidia vendor module is built with its gemm and fused
# attention kernels wherever nvcc is (CI compiles and links it too). The
# frontend stays at 1.17: later ones include NVRTC headers, which a toolkit
# without NVRTC (like CI's) lacks.
if command -v nvcc >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check "nvidia-cublas==13.0.2.14" "nvidia-cudnn-cu13==9.28.1.4" \
    "nvidia-cudnn-frontend==1.17.0"
fi
bash ci/intel_opencl_cpu.sh
# No build isolation: the build must use the torch installed above (an
# isolated build would download a CUDA torch of several GB).
python3 -m pip install -q --disable-pip-version-check --no-build-isolation -e .
