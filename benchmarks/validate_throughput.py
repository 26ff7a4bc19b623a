"""Validation throughput against plain tiktoken, and the validator's peak memory.

Generates a synthetic chat JSONL (default 200,000 examples of realistic
length: a system prompt, one to four user/assistant turns, some tool calls),
then, in the same run:

* ``raw``: plain tiktoken ``encode_ordinary`` over the same message texts in a
  serial loop (only the encode calls are timed; parsing the file is not);
* ``validate``: ``python -m cli.main validate FILE --json`` in a child process,
  the real CLI code path, timed end to end (start-up, reading, checks,
  counting, report); its peak memory is sampled every 50 ms over the whole
  process tree (the CLI and its worker processes) and summed.

Both rates are over the same megabytes (the file's size), so ``ratio`` is
raw seconds / validate seconds. Prints one JSON line.

Usage::

    .venv/bin/python benchmarks/validate_throughput.py [--examples N | --size-mb MB]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.tokens import get_encoding, resolve_model  # noqa: E402

# Common English and support-desk words: realistic tokenisation (mostly one
# token per word), unlike random letters, which BPE splits into many pieces.
_WORD_TEXT = """
the be to of and a in that have it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who
get which go me when make can like time no just him know take people into year your good
some could them see other than then now look only come its over think also back after
use two how our work first well way even new want because any these give day most us is
are was were been has had did said made found thanks please sorry help order account
password refund invoice payment card billing plan upgrade downgrade subscription email
address shipping delivery tracking number package box damaged missing item return
exchange store app update version phone laptop browser login reset code link settings
profile team admin invite user permission error message screen page button click open
close save delete sync export import file report data backup restore calendar reminder
notification alert night morning today tomorrow week month yesterday hour minute second
again still already soon sure right here there check try restart reinstall clear cache
cookies network wifi router support agent ticket case issue problem question answer
solution step steps next first last then finally also however because while until unless
although since during before
"""
_WORDS = _WORD_TEXT.split()
_PUNCT = (".", ".", ".", ",", ",", "?", "!", ":", ";")


def _vocabulary(rng: random.Random) -> list[str]:
    numbers = [str(rng.randrange(10, 99_999)) for _ in range(200)]
    names = ["Avery", "Jordan", "Kim", "Priya", "Mateo", "Chen", "Sofia", "Omar", "Lena"]
    return sorted(set(_WORDS)) + numbers + names + [f"#{n}" for n in numbers[:50]]


def _text(rng: random.Random, words: list[str], n_words: int) -> str:
    chosen = rng.choices(words, k=n_words)
    for i in range(7, n_words, rng.randint(6, 14)):
        chosen[i] += rng.choice(_PUNCT)
    if rng.random() < 0.2:
        chosen.insert(rng.randrange(1, len(chosen)), "\n\n-")
    return " ".join(chosen).capitalize()


def _example(rng: random.Random, words: list[str], system: str) -> dict[str, object]:
    messages: list[dict[str, object]] = [{"role": "system", "content": system}]
    for turn in range(rng.choice((1, 1, 2, 2, 3, 4))):
        messages.append({"role": "user", "content": _text(rng, words, rng.randint(5, 60))})
        if turn == 0 and rng.random() < 0.05:
            call = {
                "id": f"call_{rng.randrange(10**9)}",
                "type": "function",
                "function": {
                    "name": "lookup_order",
                    "arguments": json.dumps({"order_id": rng.randrange(10**6)}),
                },
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": json.dumps({"status": "shipped"}),
                }
            )
        messages.append({"role": "assistant", "content": _text(rng, words, rng.randint(15, 150))})
    return {"messages": messages}


def generate(path: Path, *, examples: int | None, size_mb: float | None, seed: int) -> int:
    """Write the dataset; return how many examples it has."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    systems = [_text(rng, words, rng.randint(20, 60)) for _ in range(20)]
    limit = int(size_mb * 1_048_576) if size_mb else None
    written = size = 0
    with path.open("w", encoding="utf-8") as out:
        while (limit is None and written < (examples or 0)) or (limit is not None and size < limit):
            line = json.dumps(_example(rng, words, rng.choice(systems)), ensure_ascii=False) + "\n"
            out.write(line)
            size += len(line.encode("utf-8"))
            written += 1
    return written


def raw_tiktoken_seconds(path: Path, encoding_name: str) -> tuple[float, float, int]:
    """(wall, CPU) seconds of a serial encode_ordinary loop over every message text,
    and the bytes of text encoded. Only the encode loop is timed."""
    encode = get_encoding(encoding_name).encode_ordinary
    wall = cpu = 0.0
    text_bytes = 0
    batch: list[str] = []
    with path.open("rb") as handle:
        for raw in handle:
            for message in json.loads(raw)["messages"]:
                batch.extend(v for v in message.values() if isinstance(v, str))
            if len(batch) >= 20_000 or not raw:
                wall, cpu = _timed_encode(encode, batch, wall, cpu)
                text_bytes += sum(len(t.encode("utf-8")) for t in batch)
                batch = []
    wall, cpu = _timed_encode(encode, batch, wall, cpu)
    text_bytes += sum(len(t.encode("utf-8")) for t in batch)
    return wall, cpu, text_bytes


def _timed_encode(encode: Any, texts: list[str], wall: float, cpu: float) -> tuple[float, float]:
    cpu_start = time.process_time()
    start = time.perf_counter()
    for text in texts:
        encode(text)
    return wall + time.perf_counter() - start, cpu + time.process_time() - cpu_start


def validate_in_child(path: Path, model: str) -> tuple[float, Peaks, dict[str, Any]]:
    """(seconds, peak memory, report) of the real CLI in a child process."""
    env = dict(os.environ, TUNEBOT_MAX_FILE_BYTES=str(64 * 1024**3))
    command = [sys.executable, "-m", "cli.main", "validate", str(path), "--json", "--model", model]
    # The report goes to a file, not a pipe: a large report would fill the pipe
    # and block the child while we only poll its memory.
    with tempfile.TemporaryFile() as out:
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        child = psutil.Popen(command, cwd=ROOT, env=env, stdout=out)
        peaks = Peaks()
        while child.poll() is None:
            peaks.sample(child)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        if child.returncode not in (0, 1):
            raise SystemExit(f"validate exited {child.returncode}")
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        peaks.cpu = (used.ru_utime + used.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        out.seek(0)
        return seconds, peaks, json.loads(out.read())


class Peaks:
    """Peak memory of the validating process and of its whole tree.

    ``rss``: the CLI process itself. ``tree_rss``: RSS summed over it and its
    workers, which counts the encoding pages they share once per process.
    ``tree_pss``: proportional set size summed, each shared page split among
    its sharers: the memory the validation really occupies.
    """

    def __init__(self) -> None:
        self.rss = self.tree_rss = self.tree_pss = 0
        self.cpu = 0.0  # CPU seconds of the whole tree (workers are waited for)

    def sample(self, process: psutil.Process) -> None:
        rss = pss = 0
        try:
            own = process.memory_full_info()
            self.rss = max(self.rss, own.rss)
            rss, pss = own.rss, own.pss
            for member in process.children(recursive=True):
                info = member.memory_full_info()
                rss += info.rss
                pss += info.pss
        except psutil.Error:
            return
        self.tree_rss = max(self.tree_rss, rss)
        self.tree_pss = max(self.tree_pss, pss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument(
        "--size-mb", type=float, default=None, help="Generate this many MB instead."
    )
    parser.add_argument("--model", default="gpt-4o-mini-2024-07-18")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", type=Path, default=None, help="Write the dataset here and keep it."
    )
    args = parser.parse_args()
    spec = resolve_model(args.model)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.keep or Path(scratch) / "synthetic_chat.jsonl"
        examples = generate(path, examples=args.examples, size_mb=args.size_mb, seed=args.seed)
        mb = path.stat().st_size / 1_048_576
        raw_seconds, raw_cpu, text_bytes = raw_tiktoken_seconds(path, spec.encoding)
        seconds, peaks, report = validate_in_child(path, spec.id)
    if report["examples"] != examples:
        raise SystemExit(f"validator saw {report['examples']} examples, wrote {examples}")
    print(
        json.dumps(
            {
                "examples": examples,
                "mb": round(mb, 1),
                "seconds": round(seconds, 2),
                "mb_per_s": round(mb / seconds, 2),
                "raw_tiktoken_mb_per_s": round(mb / raw_seconds, 2),
                "ratio": round(raw_seconds / seconds, 3),
                "peak_rss_mb": round(peaks.rss / 1_048_576, 1),
                "peak_tree_rss_mb": round(peaks.tree_rss / 1_048_576, 1),
                "peak_tree_pss_mb": round(peaks.tree_pss / 1_048_576, 1),
                "raw_tiktoken_seconds": round(raw_seconds, 2),
                "raw_cpu_seconds": round(raw_cpu, 2),
                "validate_cpu_seconds": round(peaks.cpu, 2),
                "cpu_ratio": round(raw_cpu / peaks.cpu, 3),
                "text_mb": round(text_bytes / 1_048_576, 1),
                "verdict": report["verdict"],
                "cpus": len(os.sched_getaffinity(0)),
            }
        )
    )


if __name__ == "__main__":
    main()
