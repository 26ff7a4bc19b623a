"""Slack's request payloads, as plain dicts a test can tweak before sending.

Shapes follow Slack's docs for the Events API envelope, ``message`` /
``app_home_opened`` events, slash command forms, ``block_actions`` and
``view_submission`` payloads; ids default to FakeSlack's workspace.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

__all__ = [
    "app_home_opened_event",
    "block_actions_payload",
    "event_callback",
    "find_element",
    "make_trigger_id",
    "message_changed_event",
    "message_event",
    "modal_state_values",
    "slash_command_form",
    "view_submission_payload",
]

TEAM_ID = "T0TUNEBOT"
APP_ID = "A0TUNEBOT"
BOT_USER_ID = "U0TUNEBOT"


def make_trigger_id() -> str:
    """A trigger_id shaped like Slack's; the first part is the issue time in ms.

    FakeSlack uses that time to answer ``expired_trigger_id`` after 3 s.
    """
    return f"{int(time.time() * 1000)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


# ---- events ------------------------------------------------------------------
def event_callback(
    event: dict[str, Any],
    *,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    event_id: str | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """Wrap an inner event in Slack's Events API envelope."""
    return {
        "token": "verification-token-deprecated",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_urlsafe(24)}",
    }


def message_event(
    channel: str, message: dict[str, Any], *, channel_type: str | None = None
) -> dict[str, Any]:
    """A ``message`` event for a stored message (e.g. from ``FakeSlack.file_message``).

    Messages with files keep subtype ``file_share``; thread replies keep ``thread_ts``.
    """
    kind = channel_type or {"C": "channel", "G": "group", "D": "im"}.get(channel[:1], "channel")
    event = {
        k: v
        for k, v in message.items()
        if k not in ("reply_count", "reply_users", "reply_users_count", "latest_reply", "reactions")
    }
    event.update(
        {"type": "message", "channel": channel, "event_ts": message["ts"], "channel_type": kind}
    )
    return event


def message_changed_event(
    channel: str, message: dict[str, Any], *, new_text: str
) -> dict[str, Any]:
    """The ``message_changed`` event Slack sends when ``message`` is edited (bots ignore it)."""
    edited = {
        **message,
        "text": new_text,
        "edited": {"user": message.get("user"), "ts": f"{time.time():.6f}"},
    }
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "channel_type": {"C": "channel", "G": "group", "D": "im"}.get(channel[:1], "channel"),
        "ts": f"{time.time():.6f}",
        "event_ts": f"{time.time():.6f}",
        "message": edited,
        "previous_message": message,
    }


def app_home_opened_event(
    user: str, *, channel: str | None = None, tab: str = "home", view: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``app_home_opened``; ``view`` is absent the first time a user opens the Home tab."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel or "D" + user[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return event


# ---- commands and interactions -------------------------------------------------
def slash_command_form(
    text: str,
    *,
    user_id: str,
    channel_id: str,
    response_url: str,
    command: str = "/finetune",
    user_name: str | None = None,
    channel_name: str = "fine-tuning",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    api_app_id: str = APP_ID,
) -> dict[str, str]:
    """The form fields Slack posts for a slash command."""
    return {
        "token": "verification-token-deprecated",
        "team_id": team_id,
        "team_domain": "tunebot-test",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or make_trigger_id(),
    }


def _user(user_id: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
    """The (block_id, element) with ``action_id`` in Block Kit ``blocks``, if any."""
    for block in blocks:
        elements = block.get("elements") if block.get("type") == "actions" else None
        candidates = [*(elements or []), block.get("accessory"), block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    return None


def _action(
    action_id: str,
    element: dict[str, Any] | None,
    *,
    value: str | None,
    block_id: str | None,
    action_type: str,
) -> dict[str, Any]:
    kind = str(element.get("type", action_type)) if element else action_type
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or secrets.token_hex(3),
        "type": kind,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        text = element.get("text") if element else None
        action["text"] = text or {"type": "plain_text", "text": action_id, "emoji": True}
        value = value if value is not None else (element or {}).get("value")
        if value is not None:
            action["value"] = value
    elif value is not None:
        action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    return action


def block_actions_payload(
    action_id: str,
    *,
    user_id: str,
    value: str | None = None,
    block_id: str | None = None,
    channel_id: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    response_url: str | None = None,
    action_type: str = "button",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload: a click on an element of a message or a view.

    Pass ``message`` (the stored message holding the button) and ``channel_id``
    for a message button, or ``view`` for a button inside a modal/home tab.
    When the element is in that message/view's blocks, its block_id, text
    and value are taken from it unless given; when it is not (a click on a
    message edited since, or a forged payload) the given values are sent.

    Raises
    ------
    ValueError
        A message button without ``channel_id``/``message``.
    """
    surface = view if view is not None else message
    found = find_element(surface.get("blocks") or [], action_id) if surface else None
    element = found[1] if found else None
    if found is not None:
        block_id = block_id or found[0]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token-deprecated",
        "trigger_id": trigger_id or make_trigger_id(),
        "team": {"id": team_id, "domain": "tunebot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [
            _action(action_id, element, value=value, block_id=block_id, action_type=action_type)
        ],
        "state": {"values": {}},
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
        payload["view"] = view
        return payload
    if channel_id is None or message is None:
        raise ValueError("a message button needs channel_id and message")
    payload["container"] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    if "thread_ts" in message:
        payload["container"]["thread_ts"] = message["thread_ts"]
    payload["channel"] = {"id": channel_id, "name": "fine-tuning"}
    payload["message"] = message
    payload["response_url"] = response_url or "https://hooks.slack.com/actions/unused"
    return payload


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    user_id: str,
    private_metadata: str = "",
    view: dict[str, Any] | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``view_submission`` payload.

    ``values`` is ``state.values``: ``{block_id: {action_id: {"type": ..., "value": ...}}}``.
    ``view`` (e.g. from ``FakeSlack.views()``) supplies id, blocks and hash when given.
    """
    base = dict(view or {})
    base.update(
        {
            "id": base.get("id", f"V{secrets.token_hex(4).upper()}"),
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": base.get("hash", f"{int(time.time())}.{secrets.token_hex(4)}"),
            "title": base.get("title", {"type": "plain_text", "text": "Fine-tune"}),
            "blocks": base.get("blocks", []),
            "app_id": api_app_id,
            "bot_id": "B0TUNEBOT",
        }
    )
    base.setdefault("root_view_id", base["id"])
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "tunebot-test"},
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token-deprecated",
        "trigger_id": make_trigger_id(),
        "view": base,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def modal_state_values(view: dict[str, Any], **chosen: str) -> dict[str, dict[str, Any]]:
    """The ``state.values`` Slack sends back for a modal: each input's initial value unless
    ``chosen`` (by block_id) says otherwise, as a person who changed only those would."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        value = chosen.get(block_id)
        if element["type"] == "static_select":
            value = value or element["initial_option"]["value"]
            state = {
                "type": "static_select",
                "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
            }
        else:
            state = {"type": "plain_text_input", "value": value or element.get("initial_value")}
        values[block_id] = {element["action_id"]: state}
    return values
