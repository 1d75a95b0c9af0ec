#!/usr/bin/env bash
# The cpu vendor module built under AddressSanitizer and UndefinedBehaviorSanitizer
# (GEMS_SANITIZE in CMakeLists.txt), then run by the googletest ABI suite and by
# the pytest suite through the normal core (GEMS_VENDOR_DIR points the loader
# at it; the sanitizer runtimes are preloaded into Python). Any error report
# ends the process (-fno-sanitize-recover), so it fails the run.
#   bash ci/sanitize.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/sanitize
cmake -S . -B "$build" -G Ninja -DGEMS_BUILD_CORE=OFF -DGEMS_BUILD_TESTS=ON -DGEMS_NVIDIA=OFF -DGEMS_AMD=OFF \
  -DGEMS_SANITIZE=address,undefined >/dev/null
cmake --build "$build" >/dev/null
# allocator_may_return_null: the out-of-memory tests ask for more than exists and
# expect the vendor's error, not ASan's report. Leaks are not checked: Python and
# torch keep their allocations until exit.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
"$build"/tests/cpp/gems_abi_conformance "$build"/backends/cpu/libgems_vendor_cpu.so --gtest_brief=1
LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libubsan.so)" \
  GEMS_VENDOR_DIR="$PWD/$build/backends/cpu" \
  python3 -m pytest -q tests/python -p no:cacheprovider --deselect tests/python/test_crash_sweep.py "$@"
