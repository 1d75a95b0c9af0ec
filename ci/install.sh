#!/usr/bin/env bash
# Sets up a fresh Debian machine for flag_gems and builds it in place:
# system packages (apt-get), torch and the test tools (pip), then
# `pip install --no-build-isolation -e .` against that torch.
set -euo pipefail
cd "$(dirname "$0")/.."

# hipcc, libamdhip64-dev, rocm-device-libs and librocprim-dev build the amd
# vendor module (the nvidia kernels as HIP for AMD GPUs; backends/amd).
packages=(cmake ninja-build g++ libopenblas-dev libgtest-dev hipcc libamdhip64-dev rocm-device-libs librocprim-dev)
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
# No build isolation: the build must use the torch installed above (an
# isolated build would download a CUDA torch of several GB).
python3 -m pip install -q --disable-pip-version-check --no-build-isolation -e .
