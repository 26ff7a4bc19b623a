"""Progress of a training subprocess as JSON lines the API process reads.

Why lines in a file: the trainer must not talk to the API (it may outlive it),
and an append-only file survives both processes crashing. The runner tails the
file (:func:`worker.job_spec.read_new_lines`) and turns each line into a
``fine_tuning.job.event`` or a checkpoint record.

Line kinds (``"kind"`` key): ``metrics`` (every logged step), ``eval`` (when a
validation file exists), ``checkpoint`` (after a checkpoint is complete) and
``message`` (human-readable milestones). DPO jobs add ``*_reward_margin`` and
``*_reward_accuracy`` to ``metrics`` and ``eval`` lines.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


# TrainerCallback is Any to mypy (transformers is read untyped; see pyproject).
class ProgressCallback(TrainerCallback):  # type: ignore[misc]
    """Writes metrics per logged step and stops (with a checkpoint) on request.

    ``stop`` is set by the trainer's SIGTERM handler; the callback
    turns it into "save a checkpoint, then stop" at the next step boundary, so a
    cancel never leaves a half-written checkpoint.
    """

    def __init__(self, path: Path, *, stop: threading.Event) -> None:
        self.path = path
        self.stop = stop
        self._started = 0.0
        self._cpu_started = 0.0
        self._first_step = 0
        self._first_tokens = 0

    def write(self, kind: str, **fields: Any) -> None:
        record = {"kind": kind, "time": time.time(), **fields}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        self._started = time.monotonic()
        self._cpu_started = time.process_time()
        self._first_step = state.global_step
        self._first_tokens = state.num_input_tokens_seen
        resumed = f" (resumed at step {state.global_step})" if state.global_step else ""
        self.write("message", message=f"Training started{resumed}: {state.max_steps} steps.")

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        if _any_rank(self.stop.is_set()):
            control.should_save = True
            control.should_training_stop = True

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **_: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if "eval_loss" in logs:
            self.write(
                "eval",
                step=state.global_step,
                valid_loss=logs["eval_loss"],
                valid_mean_token_accuracy=logs.get("eval_mean_token_accuracy"),
                **_preference(logs, source="eval_", target="valid_"),
            )
        if "loss" in logs:
            self.write("metrics", **self._metrics(state, logs))

    def _metrics(self, state: TrainerState, logs: dict[str, float]) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        steps_done = state.global_step - self._first_step
        tokens = state.num_input_tokens_seen - self._first_tokens
        per_step = elapsed / steps_done if steps_done else None
        return {
            "step": state.global_step,
            "total_steps": state.max_steps,
            "train_loss": logs["loss"],
            "train_mean_token_accuracy": logs.get("mean_token_accuracy"),
            "learning_rate": logs.get("learning_rate"),
            "tokens_per_second": tokens / elapsed,
            "trained_tokens": state.num_input_tokens_seen,
            "epoch": logs.get("epoch", state.epoch),
            "eta_seconds": per_step * (state.max_steps - state.global_step) if per_step else None,
            "run_tokens": tokens,
            "run_cpu_seconds": time.process_time() - self._cpu_started,
            **_preference(logs, source="", target="train_"),
        }

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        if args.output_dir is None:  # hf_config always sets it; without it nothing was saved
            raise RuntimeError("the trainer saved a checkpoint without an output_dir")
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        last = state.log_history[-1] if state.log_history else {}
        self.write(
            "checkpoint",
            step=state.global_step,
            path=str(folder),
            train_loss=last.get("loss"),
            train_mean_token_accuracy=last.get("mean_token_accuracy"),
        )


def _any_rank(flag: bool) -> bool:
    """``flag`` OR-ed over DDP ranks, so all stop at the same step.

    Why: SIGTERM reaches the ranks at slightly different steps; a rank that
    stopped alone would leave the others blocked in their next all-reduce.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def _preference(logs: dict[str, float], *, source: str, target: str) -> dict[str, float]:
    """DPO's reward margin (chosen minus rejected implicit reward) and accuracy (share
    of pairs whose chosen answer has the higher reward), when the trainer logged them."""
    names = {"rewards/margins": "reward_margin", "rewards/accuracies": "reward_accuracy"}
    return {target + name: logs[source + k] for k, name in names.items() if source + k in logs}
