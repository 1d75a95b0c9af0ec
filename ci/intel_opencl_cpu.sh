#!/usr/bin/env bash
# Intel's OpenCL runtime for x86 CPUs, from PyPI, so that the intel vendor's
# SPIR-V kernels run on machines without an Intel GPU (CI). Installed into
# build/intel_opencl_cpu; its wheel's .icd file points at a placeholder path,
# so an .icd of our own goes to build/intel_opencl_cpu/icd. Use it with
#   source ci/intel_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=build/intel_opencl_cpu
if [ ! -f "$prefix/lib/libintelocl.so" ]; then
  # Pinned: the runtime, the compiler runtime libraries it links (libimf,
  # libsvml, libirng, libintlc), oneTBB and its thread-composability manager.
  python3 -m pip install -q --disable-pip-version-check --no-deps --prefix "$prefix" \
    intel-opencl-rt==2026.2.0 intel-cmplr-lib-rt==2026.2.0 tbb==2023.2.0 tcmlib==1.6.0 umf==1.2.0
fi
mkdir -p "$prefix/icd"
echo "$PWD/$prefix/lib/libintelocl.so" > "$prefix/icd/intel-cpu.icd"
