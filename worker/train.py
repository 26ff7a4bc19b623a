"""Entry point of a training subprocess: ``python -m worker.train SPEC.json``."""

from __future__ import annotations

import sys

from worker.trainer import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
