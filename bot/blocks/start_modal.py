"""The "start a fine-tuning job" modal opened by the report's buttons."""

from __future__ import annotations

from collections.abc import Sequence
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
from bot.blocks.limits import MAX_OPTION_TEXT, MAX_OPTIONS, MAX_PRIVATE_METADATA, truncate
from bot.blocks.mrkdwn import escape

AUTO = "auto"
EPOCH_CHOICES = (AUTO, *[str(n) for n in range(1, 26)])
SPLIT_CHOICES = {"none": "No validation split", "0.05": "5%", "0.1": "10%", "0.2": "20%"}
LORA_RANKS = ("8", "16", "32", "64")
FOUR_BIT_CHOICES = {AUTO: "Auto (4-bit on GPU)", "on": "On (QLoRA)", "off": "Off"}
PROVIDER_NAMES = {"worker": "the team's worker", "openai": "OpenAI", "azure": "Azure OpenAI"}
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
    # Ids too long for an option (a provider's odd names) leave a free-text field.
    shown = [m for m in models if len(m) <= MAX_OPTION_TEXT][:MAX_OPTIONS]
    if not shown:
        return InputBlock(
            block_id="base_model",
            label="Base model",
            hint="The provider's model list could not be read; type the model id.",
            element=PlainTextInputElement(
                action_id="base_model", initial_value=default_model or None
            ),
        )
    initial = default_model if default_model in shown else shown[0]
    return _select("base_model", "Base model", shown, initial)


def build_start_modal(
    *,
    provider: str,
    dataset_short_id: str,
    file_name: str,
    models: Sequence[str],
    default_model: str | None,
    private_metadata: str,
    method: str = "supervised",
) -> dict[str, Any]:
    """The modal for one provider and dataset.

    Parameters:
        models: what the provider can fine-tune (a free-text field when empty).
        private_metadata: opaque state returned with the submission (dataset, channel).
        method: ``"dpo"`` for a preference file: says so and asks for beta.
    """
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError("private_metadata is over Slack's 3,000 characters")
    where = PROVIDER_NAMES.get(provider, provider)
    how = " with preference training (DPO)" if method == "dpo" else ""
    intro = f"Dataset `{dataset_short_id}` ({escape(file_name)}) on {escape(where)}{how}."
    intro = truncate(intro, 2000)
    blocks: list[Any] = [
        ContextBlock(elements=[MarkdownTextObject(text=intro)]),
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
