"""A/B generation latency: a pair costs the slower model's time, not the sum; held-out
evaluation scales with its concurrency bound.

FakeOpenAI on loopback answers each model after a fixed delay (awaited, so
concurrent requests overlap as they would at a real provider); the real
openai-SDK provider calls it. Two measurements, each compared in the same run:

- ``pair``: ``--pairs`` prompts through ``core.evaluation.sessions.generate``
  with the fine-tuned model answering after ``--slow`` s and the base after
  ``--fast`` s. Prints the median pair time, the slower delay and the sum, and
  ``pair_over_max`` (goal: close to 1, far below ``sum_over_max``).
- ``heldout``: ``--prompts`` held-out prompts with concurrency 1 and then
  ``--concurrency``; prints both wall times and the speed-up.

Run: ``.venv/bin/python benchmarks/ab_generation.py [--pairs 10] [--prompts 40]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.evaluation import sessions  # noqa: E402
from core.evaluation.arms import Arm, Generation  # noqa: E402
from core.evaluation.examples import Example  # noqa: E402
from core.evaluation.heldout import run_heldout  # noqa: E402
from core.providers import Provider, build_providers  # noqa: E402
from core.store.engine import create_db_engine, init_db  # noqa: E402
from tests.fakes.openai_api import FakeOpenAI  # noqa: E402

FT = "ft:gpt-4o-mini-2024-07-18:org-tunebot::bench"
BASE = "gpt-4o-mini"


def _provider(fake: FakeOpenAI) -> Provider:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        OPENAI_API_KEY=fake.api_key,
        OPENAI_BASE_URL=fake.base_url,
        TUNEBOT_PROVIDER_MAX_RETRIES=0,
    )
    return build_providers(settings)["openai"]


def measure_pairs(provider: Provider, pairs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        init_db(engine)
        session, _ = sessions.create_session(
            engine,
            request_id="bench",
            channel_id="C",
            created_by="U",
            candidate=Arm("candidate", "openai", FT),
            baseline=Arm("baseline", "openai", BASE),
        )
        seconds = []
        for number in range(pairs):
            prompt = sessions.record_prompt(
                engine, session, slack_ts=f"{number}.0", author_id="U", text=f"prompt {number}"
            )
            assert prompt is not None
            started = time.perf_counter()
            sessions.generate(engine, session, prompt, providers={"openai": provider})
            seconds.append(time.perf_counter() - started)
        engine.dispose()
    return seconds


def measure_heldout(provider: Provider, prompts: int, concurrency: int) -> float:
    examples = [Example([{"role": "user", "content": f"q{i}"}], f"a{i}") for i in range(prompts)]
    started = time.perf_counter()
    run_heldout(
        examples,
        candidate=Arm("candidate", "openai", FT),
        baseline=Arm("baseline", "openai", BASE),
        providers={"openai": provider},
        generation=Generation(temperature=0.0, max_tokens=32),
        concurrency=concurrency,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--slow", type=float, default=0.5)
    parser.add_argument("--fast", type=float, default=0.3)
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with FakeOpenAI() as fake:
        fake.set_responder(FT, lambda m, b: "fine-tuned answer", delay=args.slow)
        fake.set_responder(BASE, lambda m, b: "base answer", delay=args.fast)
        provider = _provider(fake)
        pair = statistics.median(measure_pairs(provider, args.pairs))
        fake.set_responder(FT, lambda m, b: "fine-tuned answer", delay=0.1)
        fake.set_responder(BASE, lambda m, b: "base answer", delay=0.1)
        serial = measure_heldout(provider, args.prompts, 1)
        bounded = measure_heldout(provider, args.prompts, args.concurrency)
    print(
        json.dumps(
            {
                "pair_median_seconds": round(pair, 3),
                "slower_model_seconds": args.slow,
                "sum_seconds": args.slow + args.fast,
                "pair_over_max": round(pair / args.slow, 2),
                "sum_over_max": round((args.slow + args.fast) / args.slow, 2),
                "heldout_prompts": args.prompts,
                "heldout_seconds_concurrency_1": round(serial, 2),
                f"heldout_seconds_concurrency_{args.concurrency}": round(bounded, 2),
                "heldout_speedup": round(serial / bounded, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
