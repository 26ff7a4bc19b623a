"""Entry point of a training subprocess: ``python -m worker.train SPEC``.

SPEC is a local ``spec.json``, or its URI in object storage (``s3://…``),
in which case :func:`worker.storage.run_remote` brings the job's files to a
scratch folder and keeps storage in sync while it trains.
"""

from __future__ import annotations

import sys

from worker.storage import is_remote

if __name__ == "__main__":
    if len(sys.argv) == 2 and is_remote(sys.argv[1]):
        from worker.storage import run_remote

        sys.exit(run_remote(sys.argv[1]))
    from worker.trainer import run

    sys.exit(run(sys.argv[1:]))
