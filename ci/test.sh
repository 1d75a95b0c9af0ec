#!/usr/bin/env bash
# The test command of the README: sets up, then runs every test.
#   1. googletest ABI conformance suite against the cpu vendor module
#   2. the pytest suite (device semantics, op conformance, API, errors)
#   3. both again on a cpu vendor module built with ASan and UBSan (ci/sanitize.sh)
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

bash ci/sanitize.sh
