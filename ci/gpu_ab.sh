#!/usr/bin/env bash
# An A/B of two builds on one GPU machine: the tree in OLD_TREE (another
# commit, unpacked beside the working tree) against the working tree, built
# side by side, then the benchmark rows whose names contain one of WORDS timed
# in each build in turn, ROUNDS times, interleaved, so that machine state hits
# both alike (a single run per side has read a few percent apart on one card).
# From the repository root; prepare the old tree where the sources are:
#   mkdir .ab_old && git archive REV | tar -x -C .ab_old
# then on the GPU machine (the device tool carries .ab_old, which is ignored):
#   bash ci/gpu_ab.sh .ab_old "sum(dim,softmax,linear bf16 1 tokens" [ROUNDS]
set -uo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: ci/gpu_ab.sh OLD_TREE WORDS [ROUNDS]}
words=${2:?usage: ci/gpu_ab.sh OLD_TREE WORDS [ROUNDS]}
rounds=${3:-2}
old=$(cd "$old" && pwd)
OUT=${OUT:-/tmp/gems_out}
mkdir -p "$OUT"
export TORCH_DEVICE_BACKEND_AUTOLOAD=0 GEMS_VENDOR=nvidia PYTHONUNBUFFERED=1
export GEMS_CUDA_GENCODE="${GEMS_CUDA_GENCODE:--gencode=arch=compute_90a,code=sm_90a}"
[ -d .cudnn_frontend/include ] && export GEMS_CUDNN_FRONTEND_INCLUDE="$PWD/.cudnn_frontend/include"
(cd "$old" && python3 tools/build_native.py python/flag_gems > "$OUT/build_old.log" 2>&1; echo "old build: exit $?") &
python3 tools/build_native.py python/flag_gems > "$OUT/build_new.log" 2>&1; echo "new build: exit $?"
wait
# The same benchmark script times both builds (its --only exists in this tree).
for round in $(seq "$rounds"); do
  for side in old new; do
    root=$PWD; [ "$side" = old ] && root=$old
    echo "== $side, round $round"
    PYTHONPATH="$root/python" python3 benchmarks/bench_ops.py --only "$words" 2>&1 | grep -v Warning
  done
done
