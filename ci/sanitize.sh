#!/usr/bin/env bash
# The core (flag_gems._C) and the cpu vendor module built under AddressSanitizer
# and UndefinedBehaviorSanitizer (GEMS_SANITIZE in CMakeLists.txt) into a
# package of their own (build/sanitize/pkg: the Python files and the sanitized
# libraries), then run by the googletest ABI suite and by the pytest suite
# imported from that package (the sanitizer runtimes preloaded into Python).
# Any error report ends the process (-fno-sanitize-recover), so it fails the run.
#   bash ci/sanitize.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$PWD/build/sanitize
pkg=$build/pkg/flag_gems
mkdir -p "$pkg"
cp python/flag_gems/*.py "$pkg"/
GEMS_BUILD_DIR="$build/cmake" GEMS_NVIDIA=OFF \
  GEMS_CMAKE_ARGS="-DGEMS_AMD=OFF -DGEMS_INTEL=OFF -DGEMS_BUILD_TESTS=ON -DGEMS_SANITIZE=address,undefined" \
  python3 tools/build_native.py "$pkg" > "$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
# allocator_may_return_null: the out-of-memory tests ask for more than exists and
# expect the vendor's error, not ASan's report. Leaks are not checked: Python and
# torch keep their allocations until exit.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
"$build"/cmake/tests/cpp/gems_abi_conformance "$pkg"/libgems_vendor_cpu.so --gtest_brief=1
export LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libubsan.so)" PYTHONPATH="$build/pkg"
python3 -c "import flag_gems, sys; assert flag_gems.__file__.startswith(sys.argv[1]), flag_gems.__file__" "$build/pkg"
python3 -m pytest -q tests/python -p no:cacheprovider --deselect tests/python/test_crash_sweep.py "$@"
