"""One progress-scheduler tick over 500 active jobs on a slow fake provider.

Setup (not timed): FakeOpenAI runs in its own process (as OpenAI is remote:
its request handling must not share the bot's GIL), FakeSlack on loopback,
500 jobs created through the real provider client, each with its "job
started" message in a dataset thread. Then the provider answers every request
after 100 ms (``--latency``) and one tick runs with the default settings
(poll concurrency 32, 40 chat.update per minute). Prints one JSON line:

- ``tick_seconds``: wall time of the tick (goal: under 5 s);
- ``api_calls_per_job``: HTTP requests to the provider per polled job, counted
  by the client's transport (goal: at most 2);
- ``chat_update_calls`` vs ``chat_update_budget_per_minute``;
- ``tick_cpu_seconds``: CPU the bot process spent in the tick (polling is
  CPU-bound on a small machine: the SDK costs a few ms of CPU per request);
- ``latency_bound_seconds``: the least the poll phase can take at this
  concurrency, two requests in a row per job.

The tick polls through the async reader ``build_providers`` makes (SDK async
client on the aiohttp transport), with a request counter added.
``--concurrency`` compares pool sizes in the same conditions.

Run: ``.venv/bin/python benchmarks/progress_tick.py [--jobs 500] [--latency 0.1]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from openai import AsyncOpenAI, DefaultAioHttpClient, OpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.fakeslack.api import FakeSlack  # noqa: E402
from core.providers import Provider  # noqa: E402
from tests.core.training.harness import Rig  # noqa: E402

# The fake provider's process: prints its URL, then reads "latency SECONDS" lines.
SERVER = """
import sys
from tests.fakes.openai_api import FakeOpenAI
fake = FakeOpenAI().start()
print(fake.url, fake.api_key, flush=True)
for line in sys.stdin:
    fake.latency = float(line.split()[1])
    print("ok", flush=True)
"""


@dataclass
class RemoteFake:
    """What the rig needs of FakeOpenAI when it runs in another process."""

    process: subprocess.Popen[str]
    url: str
    api_key: str

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def set_latency(self, seconds: float) -> None:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(f"latency {seconds}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"


def start_remote_fake() -> RemoteFake:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    url, key = process.stdout.readline().split()
    return RemoteFake(process=process, url=url, api_key=key)


class RequestCounter:
    """Counts HTTP requests per fine-tuning job id, from the client's side."""

    def __init__(self) -> None:
        self.per_job: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        parts = request.url.path.split("/")
        if "jobs" in parts and parts.index("jobs") + 1 < len(parts):
            with self._lock:
                self.per_job[parts[parts.index("jobs") + 1]] += 1

    async def count(self, request: httpx.Request) -> None:
        """The same, as the async client's event hook (the poller's requests)."""
        self(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per provider request")
    parser.add_argument("--concurrency", type=int, default=32, help="TUNEBOT_POLL_CONCURRENCY")
    args = parser.parse_args()
    remote = start_remote_fake()
    try:
        with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
            slack.add_channel("C0TUNEBOT", name="fine-tuning")
            for user in ("U0ALICE", "U0BOB"):
                slack.add_user(user)
            result = run(
                remote,
                slack,
                Path(tmp),
                jobs=args.jobs,
                latency=args.latency,
                concurrency=args.concurrency,
            )
            print(json.dumps(result))
    finally:
        remote.process.kill()


def run(
    remote: RemoteFake, slack: FakeSlack, tmp: Path, *, jobs: int, latency: float, concurrency: int
) -> dict:
    # Default tick settings; only the fakes' addresses and the database differ.
    rig = Rig(
        slack=slack,
        openai=remote,
        tmp=tmp,
        overrides={  # type: ignore[arg-type]
            "TUNEBOT_POLL_SECONDS": "30",
            "TUNEBOT_MIN_EDIT_SECONDS": "20",
            "TUNEBOT_EDITS_PER_MINUTE": "40",
            "TUNEBOT_PROVIDER_MAX_RETRIES": "2",
            "TUNEBOT_POLL_CONCURRENCY": str(concurrency),
        },
    )
    counter = RequestCounter()
    client = OpenAI(
        api_key=remote.api_key,
        base_url=remote.base_url,
        max_retries=2,
        http_client=httpx.Client(
            event_hooks={"request": [counter]}, limits=httpx.Limits(max_connections=64)
        ),
    )

    # The poller's reader: the async client as build_providers makes it, counted the same way.
    def polling() -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=remote.api_key,
            base_url=remote.base_url,
            max_retries=2,
            http_client=DefaultAioHttpClient(event_hooks={"request": [counter.count]}),
        )

    rig.providers["openai"] = Provider(name="openai", client=client, async_client=polling)
    training = rig.providers["openai"].upload_file(rig.data)
    with ThreadPoolExecutor(16) as pool:
        created = list(pool.map(lambda _: rig.start_job(training_file=training), range(jobs)))
    remote.set_latency(latency)
    counter.per_job.clear()
    updates_before = len(slack.calls("chat.update"))
    scheduler = rig.scheduler()
    cpu = time.process_time()
    summary = scheduler.tick()
    cpu = time.process_time() - cpu
    scheduler.poller.close()
    updates = len(slack.calls("chat.update")) - updates_before
    polled = [counter.per_job[j.provider_job_id or ""] for j in created]
    return {
        "jobs": len(created),
        "provider_latency_s": latency,
        "poll_concurrency": rig.settings.poll_concurrency,
        "tick_seconds": round(summary.seconds, 3),
        "poll_phase_seconds": round(summary.poll_seconds, 3),
        "tick_cpu_seconds": round(cpu, 3),
        # what the latency alone allows: two sequential requests per job over the pool
        "latency_bound_seconds": round(2 * latency * jobs / rig.settings.poll_concurrency, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "jobs_polled": summary.polled,
        "poll_failures": summary.poll_failures,
        "api_calls_per_job": round(sum(polled) / max(1, len(polled)), 3),
        "max_api_calls_one_job": max(polled, default=0),
        "chat_update_calls": updates,
        "chat_update_budget_per_minute": rig.settings.edits_per_minute,
        "edits_deferred": summary.edits_deferred,
        "goal_met": summary.seconds < 5
        and max(polled, default=0) <= 2
        and updates <= rig.settings.edits_per_minute,
    }


if __name__ == "__main__":
    main()
