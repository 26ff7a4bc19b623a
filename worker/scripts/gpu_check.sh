#!/usr/bin/env bash
# Check the worker's real QLoRA path on this machine (CUDA by default), offline,
# in under five minutes: tiny model in 4-bit NF4, a few steps, adapter served,
# tokens/s and peak GPU memory printed. Extra arguments go to the Python module,
# e.g. `worker/scripts/gpu_check.sh --cpu` or `--steps 50 --size small`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec timeout 300 "$PYTHON" -m worker.scripts.gpu_check "$@"
