"""One bot replica starting jobs: ``python -m tests.reliability.spend_cap_replica DATASET N RUNS``.

Settings come from the environment, as in a real replica (DATABASE_URL,
OPENAI_*, TUNEBOT_MONTHLY_BUDGET_USD, TUNEBOT_PRICES). For each run the
process waits for the file ``$SPEND_CAP_GO-<run>`` so that every replica
starts at once, then claims and launches a job through core (the fake OpenAI
on loopback) and prints ``started`` or ``refused``. One process serves all
runs: starting Python and its imports is the slow part on a busy machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from core.config import load_settings
from core.providers import build_providers
from core.store.engine import create_db_engine
from core.training.start import (
    BudgetExceeded,
    JobOptions,
    StartRequest,
    claim_job,
    launch_job,
)


def main(dataset_id: int, number: int, runs: int) -> None:
    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    providers = build_providers(settings)
    engine.connect().close()  # connect before the race, as a running replica would be
    for run in range(runs):
        go = Path(f"{os.environ['SPEND_CAP_GO']}-{run}")
        while not go.exists():
            time.sleep(0.005)
        request = StartRequest(
            request_id=f"view:V{run}-{number}",
            dataset_id=dataset_id,
            options=JobOptions(provider="openai", base_model="gpt-4o-mini-2024-07-18", n_epochs=1),
            user_id="U0ALICE",
        )
        try:
            job = claim_job(engine, request, settings=settings, providers=providers)
        except BudgetExceeded:
            print("refused", flush=True)
            continue
        launch_job(engine, job, settings=settings, providers=providers)
        print("started", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
