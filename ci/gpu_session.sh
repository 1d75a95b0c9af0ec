#!/usr/bin/env bash
# Builds flag_gems on the GPU machine (no network there) and runs what proves
# the nvidia vendor: the googletest ABI suite on the nvidia module, the pytest
# suite with GEMS_VENDOR=nvidia, the example and the benchmarks. Logs go to
# $OUT (the device tool brings them back). Usage, from the repository root:
#   bash ci/gpu_session.sh [build|test|sweep|amd|bench|vision|pytest|sanitize|all]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gems_out}
mkdir -p "$OUT"
what=${1:-all}
export PYTHONUNBUFFERED=1 TORCH_DEVICE_BACKEND_AUTOLOAD=0
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

# The test tools travel as wheels in .whl when the machine lacks one of them.
if ! python3 -c "import pytest, expecttest, hypothesis" 2>/dev/null && [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi

build() {
  python3 -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'python', sys.version.split()[0])"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "c++: $(c++ --version | head -1); libstdc++.so: $(c++ -print-file-name=libstdc++.so)"
  export GEMS_CUDA_GENCODE="${GEMS_CUDA_GENCODE:--gencode=arch=compute_90a,code=sm_90a}"
  # cuDNN comes with the CUDA torch there; its header-only frontend (and a copy
  # of cudnn.h, used only when that wheel has no headers) travels in .cudnn_frontend.
  [ -d .cudnn_frontend/include ] && export GEMS_CUDNN_FRONTEND_INCLUDE="$PWD/.cudnn_frontend/include"
  python3 -c "import torch; print('cudnn', torch.backends.cudnn.version())"
  # No pip install there: build in place and import from python/.
  python3 tools/build_native.py python/flag_gems > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; return 1; }
  grep -E "warning: flag_gems|cuBLASLt|cuDNN|C\+\+ runtime" "$OUT/build.log" | head
  for so in python/flag_gems/_C*.so python/flag_gems/libgems_vendor_*.so; do
    echo "$(basename "$so") defines $(nm -C --defined-only "$so" | grep -c 'std::ostream::_M_insert') ostream inserters (0 = the shared C++ runtime is used)"
  done
  if [ -d .gtest_src ]; then
    cmake -S . -B build/gtest -G Ninja -DGEMS_BUILD_CORE=OFF -DGEMS_BUILD_TESTS=ON -DGEMS_NVIDIA=OFF \
      -DGEMS_GTEST_SOURCE_DIR="$PWD/.gtest_src" >/dev/null && cmake --build build/gtest >/dev/null
  fi
}

diagnose() {
  # A native backtrace of a crash, when one happens (cuda-gdb debugs host code too).
  GEMS_VENDOR=nvidia timeout 120 cuda-gdb -q -batch -ex run -ex bt --args python3 -c "$1" 2>&1 | grep -E "^#|signal|Error" | head -30
}

run_tests() {
  if [ -x build/gtest/tests/cpp/gems_abi_conformance ]; then
    build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_nvidia.so --gtest_brief=1 2>&1 | tee "$OUT/gtest_nvidia.log" | tail -15
    # The same suite under compute-sanitizer's memcheck: no out-of-bounds or misaligned access, no leak
    # (the CUDA API errors the suite provokes on purpose are not reported).
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    if [ -x "$sanitizer" ]; then
      timeout 600 "$sanitizer" --tool memcheck --leak-check full --report-api-errors no --error-exitcode 9 \
        build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_nvidia.so --gtest_brief=1 \
        > "$OUT/memcheck_nvidia.log" 2>&1
      echo "compute-sanitizer memcheck exit $? ($(grep -c 'Invalid\|Leaked' "$OUT/memcheck_nvidia.log") error lines)"
      tail -3 "$OUT/memcheck_nvidia.log"
    fi
  fi
  # The crash sweep has a call of its own (sweep below): it needs most of one.
  GEMS_VENDOR=nvidia python3 -m pytest -q --maxfail=40 tests/python -p no:cacheprovider \
    --deselect tests/python/test_crash_sweep.py 2>&1 | tee "$OUT/pytest_nvidia.log" | tail -25
}

sweep() {
  # All OpInfos in child processes on the GPU, 16 at a time (one per core).
  # GEMS_SWEEP_MODE=fallback|strict runs one mode (a call each: the whole
  # sweep does not fit one); GEMS_SWEEP_LIMIT stops it in time to keep the counts.
  GEMS_SWEEP_PARALLEL=${GEMS_SWEEP_PARALLEL:-16} GEMS_VENDOR=nvidia timeout "${GEMS_SWEEP_LIMIT:-560}" \
    python3 -m pytest -q tests/python/test_crash_sweep.py -p no:cacheprovider ${GEMS_SWEEP_MODE:+-k "$GEMS_SWEEP_MODE"} \
    2>&1 | tee "$OUT/sweep_nvidia.log" | tail -25
  tar czf "$OUT/sweep_nvidia.tgz" build/sweep 2>/dev/null
  python3 tools/sweep_summary.py 2>&1 | tee "$OUT/sweep_summary_nvidia.txt" | tail -30
}

bench() {
  GEMS_VENDOR=nvidia python3 examples/train_and_infer.py 2>&1 | tee "$OUT/example_nvidia.log" | tail -6
  GEMS_VENDOR=nvidia python3 examples/llama_generate.py --new-tokens 64 2>&1 | tee "$OUT/llama_nvidia.log" | tail -8
  GEMS_VENDOR=nvidia python3 benchmarks/bench_host_overhead.py --out "$OUT" 2>&1 | tail -6
  GEMS_VENDOR=nvidia python3 benchmarks/bench_collectives.py --out "$OUT" 2>&1 | grep -v Warning | tail -12
  if [ -f benchmarks/bench_ops.py ]; then
    GEMS_VENDOR=nvidia python3 benchmarks/bench_ops.py --out "$OUT" 2>&1 | tail -40
  fi
}

amd_on_nvidia() {
  # The amd vendor's HIP code built for HIP's NVIDIA platform and run here as
  # the amd vendor: the ABI suite, the pytest suite, the op benchmarks.
  [ -d .hip_nvidia/hip ] || { echo "no .hip_nvidia/hip: run ci/gpu_carry.sh where Debian's HIP headers are"; return 1; }
  cmake -S . -B build/amd_nv -G Ninja -DGEMS_BUILD_CORE=OFF -DGEMS_AMD=OFF -DGEMS_AMD_ON_NVIDIA=ON \
    -DGEMS_HIP_INCLUDE="$PWD/.hip_nvidia" -DGEMS_CUDA_GENCODE="$GEMS_CUDA_GENCODE" > "$OUT/amd_nv_build.log" 2>&1 &&
    cmake --build build/amd_nv --target gems_vendor_amd_on_nvidia >> "$OUT/amd_nv_build.log" 2>&1 ||
    { tail -30 "$OUT/amd_nv_build.log"; return 1; }
  local dir=$PWD/build/amd_nv/amd_on_nvidia
  build/gtest/tests/cpp/gems_abi_conformance "$dir/libgems_vendor_amd.so" --gtest_brief=1 2>&1 | tee "$OUT/gtest_amd_nv.log" | tail -4
  # GEMS_AMD_BENCH=1: the op benchmarks instead of the pytest suite (ops_<card>_amd_on_nvidia.*).
  if [ "${GEMS_AMD_BENCH:-0}" = 1 ]; then
    GEMS_VENDOR=amd GEMS_VENDOR_DIR="$dir" timeout "${GEMS_AMD_BENCH_LIMIT:-400}" python3 benchmarks/bench_ops.py \
      --out "$OUT" 2>&1 | tail -40
    return
  fi
  GEMS_VENDOR=amd GEMS_VENDOR_DIR="$dir" timeout "${GEMS_AMD_PYTEST_LIMIT:-400}" python3 -m pytest -q tests/python -p no:cacheprovider \
    --deselect tests/python/test_crash_sweep.py 2>&1 | tee "$OUT/pytest_amd_nv.log" | tail -8
}

vision() {
  # One call for vision work: the ABI suite (no memcheck), the pytest suite
  # (GEMS_PYTEST_PATHS: a part of it), then the vision benchmark (cuDNN and the
  # core's im2col + GEMM against torch) and, with GEMS_VISION_AUTOTUNE=1, its
  # convolutions again with timed algorithm choices on both sides.
  build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_nvidia.so --gtest_brief=1 2>&1 | tee "$OUT/gtest_nvidia.log" | tail -4
  GEMS_VENDOR=nvidia timeout "${GEMS_PYTEST_LIMIT:-330}" python3 -m pytest -q --maxfail=40 ${GEMS_PYTEST_PATHS:-tests/python} -p no:cacheprovider \
    --deselect tests/python/test_crash_sweep.py 2>&1 | tee "$OUT/pytest_nvidia.log" | tail -25
  GEMS_VENDOR=nvidia timeout 200 python3 benchmarks/bench_vision.py --out "$OUT" 2>&1 | tail -30
  # Where the rows below 1.0x lose: each side's kernels and their GPU time per step.
  GEMS_VENDOR=nvidia timeout 90 python3 tools/profile_vision.py ${GEMS_PROFILE_CASES:-"conv2d 3x3" max_pool2d} 2>&1 |
    grep -v -e USDT -e Warning -e self.profiler > "$OUT/profile_vision.txt"
  cut -c1-150 "$OUT/profile_vision.txt" | head -80
  if [ "${GEMS_VISION_AUTOTUNE:-0}" = 1 ]; then
    GEMS_AUTOTUNE=1 GEMS_VISION_CASES=conv GEMS_VENDOR=nvidia timeout 150 python3 benchmarks/bench_vision.py --out "$OUT" 2>&1 | tail -20
  fi
}

sanitize() {
  # compute-sanitizer's racecheck (shared-memory hazards) and synccheck (barriers
  # in divergent code, invalid syncs) over the ABI suite on the nvidia module.
  local sanitizer
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in ${GEMS_SANITIZER_TOOLS:-racecheck synccheck}; do
    timeout "${GEMS_SANITIZER_LIMIT:-250}" "$sanitizer" --tool "$tool" --error-exitcode 9 \
      build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_nvidia.so --gtest_brief=1 \
      > "$OUT/${tool}_nvidia.log" 2>&1
    echo "compute-sanitizer $tool exit $? ($(grep -c -i 'hazard\|error' "$OUT/${tool}_nvidia.log") hazard/error lines)"
    tail -4 "$OUT/${tool}_nvidia.log"
  done
}

pytest_paths() {
  # The ABI suite and a part of the pytest suite (GEMS_PYTEST_PATHS), for a change that touches only them.
  build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_nvidia.so --gtest_brief=1 2>&1 | tee "$OUT/gtest_nvidia.log" | tail -4
  GEMS_VENDOR=nvidia timeout "${GEMS_PYTEST_LIMIT:-330}" python3 -m pytest -q --maxfail=40 ${GEMS_PYTEST_PATHS:?} -p no:cacheprovider \
    --deselect tests/python/test_crash_sweep.py 2>&1 | tee "$OUT/pytest_nvidia.log" | tail -25
}

case "$what" in
  diag) build && diagnose "$2" ;;
  build) build ;;
  test) build && run_tests ;;
  sweep) build && sweep ;;
  amd) build && amd_on_nvidia ;;
  bench) build && bench ;;
  vision) build && vision ;;
  pytest) build && pytest_paths ;;
  sanitize) build && sanitize ;;
  all) build && run_tests; bench ;;
esac
