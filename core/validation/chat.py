"""Chat examples: ``{"messages": [...], "tools": [...], ...}``.

More exact than the OpenAI cookbook's checker, which crashes on ``weight`` and
flags valid ``tool_calls`` messages (content ``null``) as missing content: here
an assistant message may omit content when it calls a tool, ``weight`` must be
0 or 1 and only on assistant messages, and every tool reply must answer a call
made earlier in the same example.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from core.validation.content import (
    Problem,
    describe,
    is_padded,
    padding_problem,
    special_token_problem,
    special_tokens_in,
)

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
)
EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_ROLE_LIST = "system, developer, user, assistant, tool, function"
# OpenAI fetches http(s) images or decodes inline ones of these types.
_IMAGE_URL = re.compile(
    r"(?:https?://\S|data:image/(?:jpeg|jpg|png|gif|webp);base64,[A-Za-z0-9+/])"
)
_IMAGE_FIX = (
    'Write {"type": "image_url", "image_url": {"url": "https://..." or '
    '"data:image/png;base64,...", "detail": "auto"}}.'
)


@dataclass(slots=True)
class MessageSummary:
    """What the message loop learned that example-level checks need."""

    has_system: bool = False
    has_user: bool = False
    has_assistant: bool = False
    has_trained: bool = False


def _plain_role(message: object) -> str | None:
    """The role of a ``{"role", "content"}`` message whose text needs no closer look:
    a known role, content neither blank nor padded, no ``<|`` that could start a
    special token. Anything else (None) goes through the full checks."""
    if type(message) is not dict or len(message) != 2:
        return None
    role = message.get("role")
    content = message.get("content")
    if (
        type(role) is str
        and role in _PLAIN_ROLES
        and type(content) is str
        and content
        and not content[0].isspace()
        and not content[-1].isspace()
        and "<|" not in content
    ):
        return role
    return None


def _mark(summary: MessageSummary, role: object, message: dict[str, object]) -> None:
    if role == "system" or role == "developer":
        summary.has_system = True
    elif role == "user":
        summary.has_user = True
    elif role == "assistant":
        summary.has_assistant = True
        if message.get("weight", 1) != 0:
            summary.has_trained = True


class MessageChecker:
    """Checks one list of messages, appending problems; built once per example."""

    __slots__ = ("call_ids", "deprecated", "padded", "padded_where", "problems", "specials")

    def __init__(self, problems: list[Problem], specials: frozenset[str]) -> None:
        self.problems = problems
        self.specials = specials
        self.call_ids: set[str] = set()
        self.deprecated = False
        self.padded = 0
        self.padded_where = ""

    def check(self, messages: list[object], *, prefix: str = "messages") -> MessageSummary:
        summary = MessageSummary()
        for index, message in enumerate(messages):
            role = _plain_role(message)
            if role is not None:  # the common case, decided without building any text
                summary.has_system |= role == "system" or role == "developer"
                summary.has_user |= role == "user"
                summary.has_assistant |= role == "assistant"
                summary.has_trained |= role == "assistant"  # no weight key: trained
                continue
            where = f"{prefix}[{index}]"
            if not isinstance(message, dict):
                self._add(
                    "data_type",
                    f"{where} must be an object, got {describe(message)}.",
                    'Write each message as {"role": ..., "content": ...}.',
                )
                continue
            role = message.get("role")
            if role is None:
                self._add(
                    "message_missing_key",
                    f"{where} has no 'role'.",
                    f"Add a role: one of {_ROLE_LIST}.",
                )
            elif type(role) is not str or role not in ROLES:  # a list role is unhashable
                self._add(
                    "unrecognized_role", f"{where} has role {role!r}.", f"Use one of {_ROLE_LIST}."
                )
            plain = type(role) is str and role in _PLAIN_ROLES
            if not (plain and len(message) == 2 and "content" in message):
                self._keys(message, where, role)
            self._content(message, where, role)
            _mark(summary, role, message)
        if self.padded:
            self.problems.append(padding_problem(self.padded_where, self.padded))
        return summary

    def _add(self, code: str, message: str, fix: str | None) -> None:
        self.problems.append((code, message, fix))

    def _text(self, where: str, text: str) -> None:
        tokens = special_tokens_in(text, self.specials)
        if tokens:
            self.problems.append(special_token_problem(where, tokens))
        if is_padded(text):
            if not self.padded:
                self.padded_where = where
            self.padded += 1

    def _content(self, message: dict[str, object], where: str, role: object) -> None:
        content = message.get("content")
        calls = role == "assistant" and ("tool_calls" in message or "function_call" in message)
        if type(content) is str:
            if content.strip():
                self._text(f"{where}.content", content)
            elif not calls:
                self._add(
                    "missing_content",
                    f"{where} ({role}) has empty content.",
                    "Give every message text, or drop the message.",
                )
        elif content is None:
            if "content" not in message and not calls:
                self._add(
                    "message_missing_key",
                    f"{where} has no 'content'.",
                    "Add the message text as 'content'.",
                )
            elif not calls:
                self._add(
                    "missing_content",
                    f"{where} ({role}) has null content.",
                    "Only an assistant message that calls a tool may have null content.",
                )
        elif isinstance(content, list):
            self._parts(content, where)
        else:
            self._add(
                "data_type",
                f"{where}.content must be a string, got {describe(content)}.",
                "Write the content as a JSON string.",
            )

    def _parts(self, parts: list[object], where: str) -> None:
        if not parts:
            self._add(
                "missing_content", f"{where}.content is an empty list.", "Give the message text."
            )
        for number, part in enumerate(parts):
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(part, dict) and kind == "text" and isinstance(part.get("text"), str):
                self._text(f"{where}.content[{number}]", part["text"])
            elif isinstance(part, dict) and kind == "image_url":
                self._image(part, f"{where}.content[{number}]")
            else:
                self._add(
                    "data_type",
                    f"{where}.content[{number}] must be a text or image_url part.",
                    'Use {"type": "text", "text": "..."}.',
                )

    def _image(self, part: dict[str, object], where: str) -> None:
        """An image part as OpenAI accepts it: {"type": "image_url", "image_url": {"url": ...}}."""
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if type(url) is not str:
            self._add(
                "invalid_image",
                f"{where}.image_url must be an object with a string 'url', got {describe(image)}.",
                _IMAGE_FIX,
            )
            return
        assert isinstance(image, dict)
        extra = [key for key in part if key not in ("type", "image_url")]
        extra += [key for key in image if key not in ("url", "detail")]
        if extra:
            self._add(
                "invalid_image",
                f"{where} has unrecognised key(s) " + ", ".join(map(repr, extra)) + ".",
                _IMAGE_FIX,
            )
        if not _IMAGE_URL.match(url):
            self._add(
                "invalid_image",
                f"{where}.image_url.url is neither an http(s) URL nor a base64 image data URL "
                f"(starts {url[:40]!r}).",
                _IMAGE_FIX,
            )
        detail = image.get("detail", "auto")
        if detail not in ("auto", "low", "high"):
            self._add(
                "invalid_image",
                f"{where}.image_url.detail is {detail!r}; use auto, low or high.",
                _IMAGE_FIX,
            )

    def _keys(self, message: dict[str, object], where: str, role: object) -> None:
        """Everything beyond role and content: weight, name, tool calls, tool replies."""
        unknown = [key for key in message if key not in MESSAGE_KEYS]
        if unknown:
            self._add(
                "message_unrecognized_key",
                f"{where} has unrecognised key(s) " + ", ".join(repr(k) for k in unknown) + ".",
                "Remove them; messages may have role, content, name, weight, "
                "tool_calls, tool_call_id, function_call.",
            )
        if "weight" in message:
            weight = message["weight"]
            if role != "assistant":
                self._add(
                    "invalid_weight",
                    f"{where} ({role}) has a weight; only assistant messages can.",
                    "Remove 'weight' from non-assistant messages.",
                )
            elif type(weight) is not int or weight not in (0, 1):
                self._add(
                    "invalid_weight",
                    f"{where} has weight {weight!r}.",
                    "Use weight 0 (do not train this reply) or 1 (train it).",
                )
        if "name" in message and type(message["name"]) is not str:
            self._add("data_type", f"{where}.name must be a string.", None)
        if "tool_calls" in message:
            self._tool_calls(message["tool_calls"], where, role)
        if "function_call" in message:
            self._function_call(message["function_call"], where, role)
        if role == "tool":
            self._tool_reply(message.get("tool_call_id"), where)
        elif role == "function":
            self.deprecated = True
        if role == "function" and type(message.get("name")) is not str:
            self._add(
                "invalid_tool_call",
                f"{where} (function) has no 'name'.",
                "Name the function whose result this is (or move to tool messages).",
            )

    def _tool_calls(self, calls: object, where: str, role: object) -> None:
        if role != "assistant":
            self._add(
                "invalid_tool_call",
                f"{where} ({role}) has tool_calls; only assistant messages can.",
                None,
            )
        if not isinstance(calls, list) or not calls:
            self._add("invalid_tool_call", f"{where}.tool_calls must be a non-empty list.", None)
            return
        for number, call in enumerate(calls):
            spot = f"{where}.tool_calls[{number}]"
            if not isinstance(call, dict):
                self._add("invalid_tool_call", f"{spot} must be an object.", None)
                continue
            call_id = call.get("id")
            if type(call_id) is not str or not call_id:
                self._add(
                    "invalid_tool_call",
                    f"{spot} has no string 'id'.",
                    "Give each call an id that its tool reply repeats as tool_call_id.",
                )
            else:
                self.call_ids.add(call_id)
            if call.get("type", "function") != "function":
                self._add("invalid_tool_call", f"{spot}.type must be 'function'.", None)
            self._function_call(call.get("function"), spot, "assistant", field="function")

    def _function_call(
        self, call: object, where: str, role: object, *, field: str = "function_call"
    ) -> None:
        spot = f"{where}.{field}"
        self.deprecated = self.deprecated or field == "function_call"
        if role != "assistant":
            self._add("invalid_tool_call", f"{spot} on a {role} message.", None)
        if not isinstance(call, dict) or type(call.get("name")) is not str:
            self._add(
                "invalid_tool_call",
                f"{spot} must be an object with a string 'name'.",
                'Write {"name": "...", "arguments": "{...}"}.',
            )
            return
        arguments = call.get("arguments")
        if type(arguments) is not str:
            self._add(
                "invalid_tool_call",
                f"{spot}.arguments must be a JSON string, got {describe(arguments)}.",
                'Encode the arguments as a string: "arguments": "{\\"city\\": \\"Paris\\"}".',
            )
            return
        try:
            json.loads(arguments)
        except (ValueError, RecursionError):
            self._add(
                "invalid_tool_call",
                f"{spot}.arguments is not valid JSON.",
                "The arguments string must hold a JSON object.",
            )

    def _tool_reply(self, call_id: object, where: str) -> None:
        if type(call_id) is not str:
            self._add(
                "invalid_tool_call",
                f"{where} (tool) has no 'tool_call_id'.",
                "Repeat the id of the assistant tool call this message answers.",
            )
        elif call_id not in self.call_ids:
            self._add(
                "invalid_tool_call",
                f"{where} (tool) answers tool_call_id {call_id!r}, which no earlier "
                "assistant message called.",
                "Match the id of an earlier tool call.",
            )
