#!/usr/bin/env bash
# The main job of the README: sets up, then, on gems with whatever vendor the
# probe finds, trains a small model and runs inference with it, and runs a
# HuggingFace transformers Llama model (random weights) forward and generate().
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install.sh
python3 examples/train_and_infer.py
python3 examples/llama_generate.py
