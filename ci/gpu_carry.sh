#!/usr/bin/env bash
# Prepares, on a machine with network (after ci/install.sh), the three
# git-ignored folders that ci/gpu_session.sh uses on a GPU machine without
# network; the device tool carries them there:
#   .whl             wheels of the test tools the GPU machine's Python (3.12) lacks
#   .gtest_src       googletest's source (Debian's libgtest-dev), for the ABI suite
#   .cudnn_frontend  cuDNN's header-only C++ frontend and cuDNN's own headers, so that
#                    the nvidia module is built with its fused attention kernels
set -euo pipefail
cd "$(dirname "$0")/.."
py=${GEMS_GPU_PYTHON:-3.12}
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --python-version "$py" --only-binary=:all: -d .whl \
  expecttest hypothesis sortedcontainers attrs
rm -rf .gtest_src && cp -r /usr/src/googletest .gtest_src
site=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
[ -f "$site/include/cudnn_frontend.h" ] || { echo "no cudnn_frontend.h under $site/include: run ci/install.sh where nvcc is" >&2; exit 1; }
rm -rf .cudnn_frontend && mkdir -p .cudnn_frontend
cp -r "$site/include" .cudnn_frontend/
cp "$site"/nvidia/cudnn/include/*.h .cudnn_frontend/include/
rm -rf .hip_nvidia && mkdir -p .hip_nvidia
if [ -d /usr/include/hip ]; then cp -r /usr/include/hip .hip_nvidia/; fi
du -sh .whl .gtest_src .cudnn_frontend .hip_nvidia
