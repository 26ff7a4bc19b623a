"""The start modal: fields per provider, model choices, Slack's view limits."""

from __future__ import annotations

import pytest

from bot.blocks.ids import START_MODAL_CALLBACK_ID as CALLBACK_ID
from bot.blocks.start_modal import Spend, build_start_modal, spend_text
from bot.fakeslack.blocks import check_view


def _block_ids(view: dict) -> list[str]:
    return [b.get("block_id") for b in view["blocks"] if b["type"] == "input"]


def test_worker_modal_has_lora_and_4bit() -> None:
    view = build_start_modal(
        provider="worker",
        dataset_short_id="ds-1",
        file_name="faq.jsonl",
        models=["Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"],
        default_model=None,
        private_metadata='{"dataset": "ds-1"}',
    )
    check_view(view)
    assert view["callback_id"] == CALLBACK_ID
    assert _block_ids(view) == [
        "base_model",
        "epochs",
        "suffix",
        "validation_split",
        "lora_r",
        "load_in_4bit",
    ]
    model = view["blocks"][1]["element"]
    assert model["initial_option"]["value"] == "Qwen/Qwen2.5-0.5B-Instruct"
    epochs = view["blocks"][2]["element"]
    assert epochs["initial_option"]["value"] == "auto"


def test_openai_modal_caps_options_and_picks_the_default() -> None:
    models = [f"model-{i:03d}" for i in range(150)] + ["gpt-4o-mini-2024-07-18"]
    view = build_start_modal(
        provider="openai",
        dataset_short_id="ds-1",
        file_name="faq.jsonl",
        models=["gpt-4o-mini-2024-07-18", *models],
        default_model="gpt-4o-mini-2024-07-18",
        private_metadata="{}",
    )
    check_view(view)
    assert "lora_r" not in _block_ids(view)
    element = view["blocks"][1]["element"]
    assert len(element["options"]) == 100
    assert element["initial_option"]["value"] == "gpt-4o-mini-2024-07-18"


def test_no_model_list_gives_a_text_field() -> None:
    view = build_start_modal(
        provider="openai",
        dataset_short_id="ds-1",
        file_name="faq.jsonl",
        models=[],
        default_model="gpt-4o-mini-2024-07-18",
        private_metadata="{}",
    )
    element = view["blocks"][1]["element"]
    assert element["type"] == "plain_text_input"
    assert element["initial_value"] == "gpt-4o-mini-2024-07-18"


def test_oversized_private_metadata_is_refused() -> None:
    with pytest.raises(ValueError):
        build_start_modal(
            provider="worker",
            dataset_short_id="ds-1",
            file_name="f",
            models=["m"],
            default_model=None,
            private_metadata="x" * 3001,
        )


def test_model_ids_longer_than_the_option_text_do_not_crash_the_builder() -> None:
    long_id = "ft:gpt-4o-mini-2024-07-18:acme-research-department::" + "x" * 60  # over 75 chars
    too_long = "org/" + "y" * 200  # over the 150-character option value
    for models in ([long_id], [too_long], [long_id, too_long, "gpt-4o-mini"]):
        view = build_start_modal(
            provider="openai",
            dataset_short_id="ds-1",
            file_name="faq.jsonl",
            models=models,
            default_model=None,
            private_metadata="{}",
        )
        check_view(view)
        (model,) = [b for b in view["blocks"] if b.get("block_id") == "base_model"]
        if models == [too_long]:
            assert model["element"]["type"] == "plain_text_input"  # nothing to pick: type it
        else:
            values = [o["value"] for o in model["element"]["options"]]
            assert long_id in values and too_long not in values
            assert all(len(o["text"]["text"]) <= 75 for o in model["element"]["options"])


def test_modal_shows_cost_and_what_is_left_of_the_budget() -> None:
    view = build_start_modal(
        provider="openai",
        dataset_short_id="ds-1",
        file_name="faq.jsonl",
        models=["gpt-4o-mini"],
        default_model="gpt-4o-mini",
        private_metadata="{}",
        spend=Spend(estimated_cost_usd=1.2, model="gpt-4o-mini", budget_usd=50, spent_usd=45.5),
    )
    check_view(view)
    text = str(view["blocks"][1])
    assert "$1.20" in text and "budget left this month: *$4.50* of $50.00" in text
    worker = spend_text(Spend(), provider="worker")
    assert "no API cost" in worker and "budget" not in worker
