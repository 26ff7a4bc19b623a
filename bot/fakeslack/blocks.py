"""Block Kit checks the fake Slack applies, with Slack's own limits.

Why: the bot must stay inside Slack's limits (50 blocks per message, 3,000
characters per section text, 100 blocks per view...). Real Slack rejects a
message that breaks them with ``invalid_blocks`` and a json-pointer; the
fake does the same, so a test catches the breach instead of production.
Limits are from Slack's Block Kit reference.
"""

from __future__ import annotations

import json
from typing import Any

from bot.fakeslack.errors import SlackError

__all__ = ["MAX_MESSAGE_BLOCKS", "MAX_TEXT_CHARS", "MAX_VIEW_BLOCKS", "check_view", "parse_blocks"]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000
MAX_PRIVATE_METADATA = 3000

_BLOCK_TYPES = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
    "table",
}
_INTERACTIVE = {
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "email_text_input",
    "file_input",
    "image",
    "multi_static_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "multi_external_select",
    "number_input",
    "overflow",
    "plain_text_input",
    "radio_buttons",
    "rich_text_input",
    "static_select",
    "external_select",
    "timepicker",
    "url_text_input",
    "users_select",
    "conversations_select",
    "channels_select",
}


def _fail(pointer: str, message: str) -> SlackError:
    return SlackError("invalid_blocks", f"[ERROR] {message} [json-pointer:{pointer}]")


def parse_blocks(
    raw: Any, *, limit: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[Any]:
    """Decode ``blocks`` (a JSON string from form bodies, a list from JSON bodies) and check it.

    Raises
    ------
    SlackError
        ``invalid_blocks_format`` when not a JSON array, ``invalid_blocks`` on a limit.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise SlackError("invalid_blocks_format") from None
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    if len(raw) > limit:
        raise _fail(pointer, f"no more than {limit} items allowed")
    seen_ids: set[str] = set()
    for i, block in enumerate(raw):
        _check_block(block, f"{pointer}/{i}", seen_ids)
    return raw


def _check_text(obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        raise _fail(pointer, "must provide an object with type plain_text or mrkdwn")
    if plain_only and obj["type"] != "plain_text":
        raise _fail(f"{pointer}/type", "must be plain_text")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise _fail(f"{pointer}/text", "must be more than 0 characters")
    if len(text) > max_len:
        raise _fail(f"{pointer}/text", f"must be less than {max_len + 1} characters")


def _check_block(block: Any, pointer: str, seen_ids: set[str]) -> None:
    if not isinstance(block, dict):
        raise _fail(pointer, "must be an object")
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        raise _fail(f"{pointer}/type", f"unsupported type `{kind}`")
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or len(block_id) > 255:
            raise _fail(f"{pointer}/block_id", "must be a string of at most 255 characters")
        if block_id in seen_ids:
            raise _fail(f"{pointer}/block_id", f"duplicate block_id `{block_id}`")
        seen_ids.add(block_id)
    if kind == "section":
        _check_section(block, pointer)
    elif kind == "header":
        _check_text(block.get("text"), f"{pointer}/text", max_len=150, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > 25:
            raise _fail(f"{pointer}/elements", "must provide between 1 and 25 elements")
        for j, element in enumerate(elements):
            _check_element(element, f"{pointer}/elements/{j}")
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > 10:
            raise _fail(f"{pointer}/elements", "must provide between 1 and 10 elements")
    elif kind == "input":
        _check_text(block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
        _check_element(block.get("element"), f"{pointer}/element")
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or len(text) > 12_000:
            raise _fail(f"{pointer}/text", "must be a string of at most 12000 characters")


def _check_section(block: dict[str, Any], pointer: str) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        raise _fail(pointer, "must provide either `text` or `fields`")
    if text is not None:
        _check_text(text, f"{pointer}/text", max_len=3000)
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > 10:
            raise _fail(f"{pointer}/fields", "no more than 10 items allowed")
        for j, field in enumerate(fields):
            _check_text(field, f"{pointer}/fields/{j}", max_len=2000)
    if "accessory" in block:
        _check_element(block["accessory"], f"{pointer}/accessory")


def _check_element(element: Any, pointer: str) -> None:
    if not isinstance(element, dict) or element.get("type") not in _INTERACTIVE:
        raise _fail(pointer, "must provide a supported element object")
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        raise _fail(f"{pointer}/action_id", "must be a string of at most 255 characters")
    if element["type"] == "button":
        _check_text(element.get("text"), f"{pointer}/text", max_len=75, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            raise _fail(f"{pointer}/value", "must be a string of at most 2000 characters")
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 3000):
            raise _fail(f"{pointer}/url", "must be a string of at most 3000 characters")
        if element.get("style") not in (None, "primary", "danger"):
            raise _fail(f"{pointer}/style", "must be one of primary, danger")
    elif element["type"] in ("static_select", "multi_static_select"):
        options = element.get("options")
        groups = element.get("option_groups")
        if groups is None and (not isinstance(options, list) or not 0 < len(options) <= 100):
            raise _fail(f"{pointer}/options", "must provide between 1 and 100 options")


def check_view(raw: Any) -> dict[str, Any]:
    """Decode and check a ``view`` argument (modal or home tab).

    Raises
    ------
    SlackError
        ``invalid_arguments`` with a json-pointer message, like views.open does.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise SlackError("invalid_arguments", "[ERROR] failed to parse view") from None
    if not isinstance(raw, dict):
        raise SlackError("invalid_arguments", "[ERROR] must provide an object [json-pointer:/view]")
    kind = raw.get("type")
    if kind not in ("modal", "home"):
        raise SlackError(
            "invalid_arguments", "[ERROR] must be modal or home [json-pointer:/view/type]"
        )
    try:
        blocks = parse_blocks(raw.get("blocks"), limit=MAX_VIEW_BLOCKS, pointer="/view/blocks")
    except SlackError as exc:
        raise SlackError("invalid_arguments", *exc.messages or ["[ERROR] invalid blocks"]) from None
    if kind == "modal":
        for key in ("title", "submit", "close"):
            if key in raw or key == "title":
                try:
                    _check_text(raw.get(key), f"/view/{key}", max_len=24, plain_only=True)
                except SlackError as exc:
                    raise SlackError("invalid_arguments", *exc.messages) from None
        if any(b.get("type") == "input" for b in blocks) and "submit" not in raw:
            raise SlackError(
                "invalid_arguments",
                "[ERROR] must provide `submit` when the view has input blocks [json-pointer:/view]",
            )
    metadata = raw.get("private_metadata", "")
    if not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA:
        raise SlackError(
            "invalid_arguments",
            "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]",
        )
    callback_id = raw.get("callback_id", "")
    if not isinstance(callback_id, str) or len(callback_id) > 255:
        raise SlackError(
            "invalid_arguments",
            "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]",
        )
    return raw
