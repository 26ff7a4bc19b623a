"""Slack view methods of the fake: modals (views.open/update) and the App Home.

Trigger ids are checked like Slack does: well-formed, used once
(``exchanged_trigger_id``), and fresh (``expired_trigger_id`` after 3 s).
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from bot.fakeslack.blocks import check_view
from bot.fakeslack.errors import SlackError
from bot.fakeslack.workspace import Workspace

__all__ = ["ViewMethods"]

_TRIGGER = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")


class ViewMethods:
    """Mixin of :class:`SlackMethods`: needs ``ws``, ``_base_url`` and the trigger sets."""

    ws: Workspace
    _base_url: Callable[[], str]
    trigger_ttl: float | None
    expired_triggers: set[str]
    _used_triggers: set[str]

    def _check_trigger(self, trigger_id: str) -> None:
        if not _TRIGGER.match(trigger_id):
            raise SlackError("invalid_trigger_id")
        issued_ms = int(trigger_id.split(".", 1)[0])
        too_old = (
            self.trigger_ttl is not None
            and issued_ms > 10**12
            and time.time() * 1000 - issued_ms > self.trigger_ttl * 1000
        )
        if trigger_id in self.expired_triggers or too_old:
            raise SlackError("expired_trigger_id")
        if trigger_id in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger_id)

    def _stored_view(
        self, view: dict[str, Any], *, view_id: str, root: str | None
    ) -> dict[str, Any]:
        ws = self.ws
        return {
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": ws.team_id,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "root_view_id": root or view_id,
            "previous_view_id": None,
            "app_id": ws.app_id,
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
            "clear_on_close": False,
            "notify_on_close": False,
        }

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = check_view(args["view"])
        with self.ws.lock:
            self._check_trigger(str(args["trigger_id"]))
            view_id = self.ws.new_id("V")
            self.ws.views[view_id] = self._stored_view(view, view_id=view_id, root=None)
            return {"view": copy.deepcopy(self.ws.views[view_id])}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("view_id") and not args.get("external_id"):
            raise SlackError(
                "invalid_arguments", "[ERROR] missing required field: view_id or external_id"
            )
        view = check_view(args["view"])
        with self.ws.lock:
            old = self.ws.views.get(str(args.get("view_id")))
            if old is None:
                old = next(
                    (
                        v
                        for v in self.ws.views.values()
                        if args.get("external_id") and v["external_id"] == args["external_id"]
                    ),
                    None,
                )
            if old is None:
                raise SlackError("not_found")
            if args.get("hash") and args["hash"] != old["hash"]:
                raise SlackError("hash_conflict")
            new = self._stored_view(view, view_id=old["id"], root=old["root_view_id"])
            self.ws.views[old["id"]] = new
            return {"view": copy.deepcopy(new)}

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = check_view(args["view"])
        if view["type"] != "home":
            raise SlackError("invalid_arguments", "[ERROR] must be home [json-pointer:/view/type]")
        user = str(args["user_id"])
        with self.ws.lock:
            self.ws.user(user)
            old = self.ws.home_views.get(user)
            if old is not None and args.get("hash") and args["hash"] != old["hash"]:
                raise SlackError("hash_conflict")
            view_id = old["id"] if old else self.ws.new_id("V")
            self.ws.home_views[user] = self._stored_view(view, view_id=view_id, root=None)
            return {"view": copy.deepcopy(self.ws.home_views[user])}
