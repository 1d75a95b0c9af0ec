#!/usr/bin/env bash
# The test command of the README: sets up, then runs every test.
#   1. googletest ABI conformance suite against the cpu vendor module
#   2. the pytest suite (device semantics, op conformance, API, errors)
#   3. the intel vendor's SPIR-V kernels on Intel's OpenCL CPU runtime: the ABI
#      suite and the pytest suite
#   4. both again on the core and the cpu vendor module built with ASan and UBSan
#      (ci/sanitize.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install.sh

cmake -S . -B build/gtest -G Ninja -DGEMS_BUILD_CORE=OFF -DGEMS_BUILD_TESTS=ON -DGEMS_NVIDIA=OFF -DGEMS_AMD=OFF >/dev/null
cmake --build build/gtest >/dev/null
build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_cpu.so --gtest_brief=1
# The GPU modules built here: what runs without their device (entry, ABI, table).
for module in python/flag_gems/libgems_vendor_nvidia.so python/flag_gems/libgems_vendor_amd.so; do
  if [ -f "$module" ]; then build/gtest/tests/cpp/gems_abi_conformance "$module" --gtest_brief=1; fi
done

python3 -m pytest -q tests/python "$@"

# The intel vendor run, not only built: its kernels as SPIR-V on Intel's OpenCL
# CPU runtime (ci/intel_opencl_cpu.sh; one device): the ABI suite and the
# pytest suite with GEMS_VENDOR=intel (the vendor-selection tests assume the
# probe ends on cpu, which GEMS_INTEL_DEVICES=cpu changes; the crash sweep runs
# on the cpu vendor only).
if [ -f python/flag_gems/libgems_vendor_intel.so ]; then
  (
    source ci/intel_env.sh
    build/gtest/tests/cpp/gems_abi_conformance python/flag_gems/libgems_vendor_intel.so --gtest_brief=1
    GEMS_VENDOR=intel GEMS_TEST_EXPECTED_DEVICES=1 python3 -m pytest -q -p no:cacheprovider tests/python \
      --deselect tests/python/test_crash_sweep.py --ignore tests/python/test_vendor_selection.py
  )
fi

bash ci/sanitize.sh
