"""Slack's Block Kit and message limits, and the helpers that keep text inside them."""

from __future__ import annotations

MAX_MESSAGE_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_SECTION_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_ACTION_VALUE = 2000
MAX_PRIVATE_METADATA = 3000
MAX_MODAL_TITLE = 24
# Slack truncates message text over 40,000 characters; far shorter reads better
# as the notification/fallback text of a message that also has blocks.
MAX_MESSAGE_TEXT = 3900


def truncate(text: str, limit: int, *, marker: str = "…") -> str:
    """``text`` cut to ``limit`` characters, ending with ``marker`` when cut."""
    return text if len(text) <= limit else text[: limit - len(marker)] + marker
