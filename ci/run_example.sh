#!/usr/bin/env bash
# The main job of the README: sets up, then trains and runs a model on gems
# with whatever vendor the probe finds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install.sh
python3 examples/train_and_infer.py "$@"
