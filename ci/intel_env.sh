# Sourced: points the OpenCL ICD loader at Intel's CPU runtime that
# ci/intel_opencl_cpu.sh installed, and lets the intel vendor use a CPU device
# (it takes Intel GPUs only otherwise).
export OCL_ICD_VENDORS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/intel_opencl_cpu/icd"
export GEMS_INTEL_DEVICES=cpu
