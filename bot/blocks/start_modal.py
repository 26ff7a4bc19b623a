"""The "start a fine-tuning job" modal opened by the report's buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks.ids import START_MODAL_CALLBACK_ID
from bot.blocks.limits import (
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    MAX_PRIVATE_METADATA,
    truncate,
)
from bot.blocks.mrkdwn import escape
from bot.blocks.text import provider_name

AUTO = "auto"
EPOCH_CHOICES = (AUTO, *[str(n) for n in range(1, 26)])
SPLIT_CHOICES = {"none": "No validation split", "0.05": "5%", "0.1": "10%", "0.2": "20%"}
LORA_RANKS = ("8", "16", "32", "64")
FOUR_BIT_CHOICES = {AUTO: "Auto (4-bit on GPU)", "on": "On (QLoRA)", "off": "Off"}
# DPO's beta: how closely the model stays to where it started (OpenAI's "auto" is 0.1).
BETA_CHOICES = {AUTO: "Auto (0.1)", "0.05": "0.05", "0.1": "0.1", "0.2": "0.2", "0.5": "0.5"}


def _options(choices: dict[str, str] | Sequence[str]) -> list[Option]:
    items = choices.items() if isinstance(choices, dict) else ((c, c) for c in choices)
    return [Option(value=value, text=truncate(label, MAX_OPTION_TEXT)) for value, label in items]


def _select(
    block_id: str, label: str, choices: dict[str, str] | Sequence[str], initial: str
) -> InputBlock:
    options = _options(choices)
    chosen = next(option for option in options if option.value == initial)
    return InputBlock(
        block_id=block_id,
        label=label,
        element=StaticSelectElement(action_id=block_id, options=options, initial_option=chosen),
    )


def _model_input(models: Sequence[str], default_model: str | None) -> InputBlock:
    if not models:
        return InputBlock(
            block_id="base_model",
            label="Base model",
            hint="The provider's model list could not be read; type the model id.",
            element=PlainTextInputElement(
                action_id="base_model", initial_value=default_model or None
            ),
        )
    # An option's text is cut at 75 characters; its value (the id we use) may hold 150.
    shown = [m for m in models if 0 < len(m) <= MAX_OPTION_VALUE][:MAX_OPTIONS]
    if not shown:
        return _model_input((), default_model)
    initial = default_model if default_model in shown else shown[0]
    return _select("base_model", "Base model", shown, initial)


@dataclass(frozen=True)
class Spend:
    """What the job would cost and what is left of the monthly budget (None: unknown/unset)."""

    estimated_cost_usd: float | None = None
    model: str | None = None
    budget_usd: float | None = None
    spent_usd: float = 0.0

    @property
    def left_usd(self) -> float | None:
        return None if self.budget_usd is None else max(0.0, self.budget_usd - self.spent_usd)


def spend_text(spend: Spend, *, provider: str) -> str:
    """``Estimated cost: $1.20 on gpt-4o-mini (auto epochs) · Budget left this month: …``."""
    if provider == "worker":
        parts = ["Estimated cost: no API cost on the team's worker"]
    elif spend.estimated_cost_usd is None:
        parts = ["Estimated cost: unknown for this model"]
    else:
        on = f" on `{escape(spend.model)}`" if spend.model else ""
        parts = [f"Estimated cost: *${spend.estimated_cost_usd:,.2f}*{on} (before epoch changes)"]
    left = spend.left_usd
    if left is not None and spend.budget_usd is not None:
        parts.append(f"budget left this month: *${left:,.2f}* of ${spend.budget_usd:,.2f}")
    return " · ".join(parts)


def build_start_modal(
    *,
    provider: str,
    dataset_short_id: str,
    file_name: str,
    models: Sequence[str],
    default_model: str | None,
    private_metadata: str,
    spend: Spend | None = None,
    method: str = "supervised",
) -> dict[str, Any]:
    """The modal for one provider and dataset.

    Parameters:
        models: what the provider can fine-tune (a free-text field when empty; ids
            over Slack's option value limit are left out).
        private_metadata: opaque state returned with the submission (dataset, channel).
        spend: the estimated cost and the monthly budget, shown under the intro.
        method: ``"dpo"`` for a preference file: says so and asks for beta.
    """
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError("private_metadata is over Slack's 3,000 characters")
    how = " with preference training (DPO)" if method == "dpo" else ""
    intro = f"Dataset `{dataset_short_id}` ({escape(file_name)}) on {provider_name(provider)}{how}."
    blocks: list[Any] = [ContextBlock(elements=[MarkdownTextObject(text=truncate(intro, 2000))])]
    if spend is not None:
        text = truncate(spend_text(spend, provider=provider), 2000)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text)]))
    blocks += [
        _model_input(models, default_model),
        _select("epochs", "Epochs", EPOCH_CHOICES, AUTO),
        InputBlock(
            block_id="suffix",
            label="Model name suffix",
            optional=True,
            hint="Up to 40 letters, digits, '-' or '_'; added to the fine-tuned model's name.",
            element=PlainTextInputElement(action_id="suffix", max_length=40),
        ),
        _select("validation_split", "Hold out for validation", SPLIT_CHOICES, "none"),
    ]
    if method == "dpo":
        blocks.append(_select("beta", "DPO beta", BETA_CHOICES, AUTO))
    if provider == "worker":
        blocks.append(_select("lora_r", "LoRA rank", LORA_RANKS, "16"))
        blocks.append(_select("load_in_4bit", "4-bit quantisation", FOUR_BIT_CHOICES, AUTO))
    view = View(
        type="modal",
        callback_id=START_MODAL_CALLBACK_ID,
        title="Start DPO training" if method == "dpo" else "Start fine-tuning",
        submit="Start",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=blocks,
    )
    return view.to_dict()
