"""The QLoRA worker: an OpenAI-compatible fine-tuning and inference service.

Start it with ``tunebot worker`` (see ``cli/worker.py``); ``worker.app`` builds
the FastAPI app, ``worker.runner`` runs jobs, ``worker.trainer`` trains one.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tunebot")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+checkout"
