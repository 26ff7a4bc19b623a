"""Chat throughput of the worker, batched versus one request at a time.

Two real ``tunebot worker`` processes serve the same tiny model, one with
``--max-batch-size 16`` and one with ``--max-batch-size 1``. Each round sends
16 concurrent chat requests (greedy, ``max_tokens`` each, through the
``openai`` SDK from 16 threads) to one worker and times them until the last
answer; rounds alternate between the workers so both see the same machine
load, and medians are reported. The ratio batched/unbatched is the figure
with a goal (>= 3x). The answers of both workers are compared too: batching
must not change a greedy answer.

Usage::

    python benchmarks/serving_batch.py [--requests 16] [--max-tokens 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTIONS = [
    "What colour is the sky?", "First day of the week?", "Capital of France?",
    "Say hello in French.", "Two plus two?", "Opposite of red?", "Last day of the week?",
    "Name a fruit.", "Name a number.", "Name a pet.", "Summarise the ticket.",
    "Translate hello.", "Count to ten.", "Name a colour.", "What is JSON?", "Write code.",
]  # fmt: skip


def round_trip(client: Any, requests: int, max_tokens: int) -> tuple[float, list[str], int]:
    """Seconds for ``requests`` concurrent chats, their answers, and tokens generated."""

    def ask(i: int) -> Any:
        question = QUESTIONS[i % len(QUESTIONS)]
        return client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": question}],
            temperature=0,
            max_tokens=max_tokens,
        )

    with ThreadPoolExecutor(requests) as pool:
        started = time.perf_counter()
        replies = list(pool.map(ask, range(requests)))
        seconds = time.perf_counter() - started
    tokens = sum(r.usage.completion_tokens for r in replies)
    return seconds, [r.choices[0].message.content for r in replies], tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", choices=["tiny", "small"], default="tiny")
    args = parser.parse_args()

    import httpx

    from tests.worker.harness import WorkerProcess
    from worker.tiny_model import write_tiny_model

    with tempfile.TemporaryDirectory(prefix="tunebot-serving-") as tmp:
        root = Path(tmp)
        model = write_tiny_model(root / "model", size=args.size)
        workers = {
            name: WorkerProcess(
                root / name, model, root / f"{name}.log", args=("--max-batch-size", str(size))
            ).start()
            for name, size in (("batched", args.requests), ("one at a time", 1))
        }
        try:
            clients = {name: w.client() for name, w in workers.items()}
            answers: dict[str, list[str]] = {}
            for name, client in clients.items():  # warm-up: load the model, first batch
                _, answers[name], _ = round_trip(client, args.requests, args.max_tokens)
            times: dict[str, list[float]] = {name: [] for name in workers}
            tokens: dict[str, int] = {}
            for _ in range(args.rounds):
                for name, client in clients.items():
                    seconds, replies, tokens[name] = round_trip(
                        client, args.requests, args.max_tokens
                    )
                    assert replies == answers[name], "greedy answers changed between rounds"
                    times[name].append(seconds)
            health = {
                name: httpx.get(w.base_url + "/healthz").json()["serving"]
                for name, w in workers.items()
            }
        finally:
            for w in workers.values():
                w.stop()

    print(f"{args.requests} concurrent chat requests, {args.size} model, greedy, "
          f"max_tokens={args.max_tokens}, {args.rounds} rounds each (medians)")  # fmt: skip
    rates = {}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        rates[name] = args.requests / median
        print(
            f"  {name:14s} {median:6.2f} s  {rates[name]:6.1f} requests/s  "
            f"{tokens[name] / median:7.0f} tokens/s  largest batch {health[name]['largest_batch']}"
        )
    same = answers["batched"] == answers["one at a time"]
    print(
        f"  batched / one at a time: {rates['batched'] / rates['one at a time']:.1f}x (goal >= 3x)"
    )
    print(f"  greedy answers identical batched and unbatched: {same}")


if __name__ == "__main__":
    main()
