"""manifest.yml is a valid Slack manifest and asks for exactly the scopes the code uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path("/work/shared/data/slack/schemas/manifest.schema.1.0.0.json")
if not SCHEMA.exists():  # CI checks out shared/ next to the project
    SCHEMA = ROOT.parent / "shared/data/slack/schemas/manifest.schema.1.0.0.json"

# Web API method (as slack_sdk names it) -> the bot scope it needs.
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    "files_upload_v2": "files:write",
    "files_info": "files:read",
    "reactions_add": "reactions:write",
    "reactions_remove": "reactions:write",
    "usergroups_users_list": "usergroups:read",
    "users_info": "users:read",
    "conversations_replies": "channels:history",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "auth_test": None,
}
# Scopes the events, downloads and the slash command need, not a method call.
ALWAYS = {
    "commands",  # /finetune
    "files:read",  # url_private_download with the bot token
    "channels:history",  # message.channels
    "groups:history",  # message.groups
    "im:history",  # message.im
}


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_validates_against_slacks_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(_manifest(), schema)


def test_scopes_are_exactly_those_used() -> None:
    used = set(ALWAYS)
    for path in (ROOT / "bot").rglob("*.py"):
        for method in re.findall(r"\.(\w+_\w+)\(", path.read_text()):
            scope = METHOD_SCOPES.get(method)
            if scope:
                used.add(scope)
    assert set(_manifest()["oauth_config"]["scopes"]["bot"]) == used


def test_events_command_and_interactivity() -> None:
    manifest = _manifest()
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {
        "message.channels",
        "message.groups",
        "message.im",
        "app_home_opened",
        # An uninstall deletes the workspace's OAuth install (bot.oauth); no scope needed.
        "app_uninstalled",
        "tokens_revoked",
    }
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/finetune"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
