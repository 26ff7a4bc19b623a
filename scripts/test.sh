#!/usr/bin/env bash
# Install what the tests need into .venv and run the whole suite.
# torch's CPU build goes first: a plain `torch` requirement pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium: tests/cli/test_demo.py opens the demo's HTML page in it (screenshot, DOM);
# the emoji font lets that screenshot show the bot's emoji. Installed only when missing.
need=()
command -v chromium >/dev/null || need+=(chromium)
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need+=(fonts-noto-color-emoji)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}"
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[train,ray,postgres,s3,dev]'
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
# Types: strict on core, bot, worker and cli (pyproject [tool.mypy] lists them).
.venv/bin/python -m mypy
.venv/bin/python -m pytest -q "$@"
