#!/usr/bin/env bash
# Check the worker's real QLoRA path on this machine (CUDA by default), offline,
# in a few minutes: in 4-bit NF4, a multi-turn supervised job, a DPO job that
# continues its adapter, the adapter served, and a merged export loaded back;
# tokens/s and peak GPU memory printed per job. Extra arguments go to the Python
# module, e.g. `--cpu`, `--steps 50 --size small`, or a small real model:
# `HF_HUB_OFFLINE=1 worker/scripts/gpu_check.sh --model Qwen/Qwen2.5-0.5B-Instruct`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec timeout 600 "$PYTHON" -m worker.scripts.gpu_check "$@"
