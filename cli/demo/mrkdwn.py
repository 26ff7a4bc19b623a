"""Slack's mrkdwn to rich markup and to HTML, for the demo's two views of the channel.

Only what Slack renders in messages: ``*bold*``, ``_italic_``, ``~strike~``,
```` `code` ````, fenced blocks, ``<url|label>`` links, ``<@U…>`` mentions
and ``:emoji:`` codes. Anything else stays as typed, as Slack shows it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from rich.markup import escape

__all__ = ["EMOJI", "to_html", "to_rich"]

# The emoji codes tunebot's messages use, and a few common ones.
EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "no_entry_sign": "🚫",
    "mag": "🔍",
    "grey_question": "❔",
    "gear": "⚙️",
    "tada": "🎉",
    "rocket": "🚀",
    "page_facing_up": "📄",
    "checkered_flag": "🏁",
    "bar_chart": "📊",
    "vs": "🆚",
    "chart_with_downwards_trend": "📉",
    "chart_with_upwards_trend": "📈",
    "robot_face": "🤖",
    "thumbsup": "👍",
    "+1": "👍",
    "stopwatch": "⏱️",
    "moneybag": "💰",
    "memo": "📝",
    "bulb": "💡",
    "lock": "🔒",
    "arrows_counterclockwise": "🔄",
    "large_green_circle": "🟢",
    "red_circle": "🔴",
    "large_yellow_circle": "🟡",
}

_EMOJI_RE = re.compile(r":([a-z0-9_+-]+):")
_FENCE_RE = re.compile(r"```\n?(.*?)```", re.S)
_CODE_RE = re.compile(r"`([^`\n]+)`")
_LINK_RE = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
_BOLD_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC_RE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")


def emoji(text: str) -> str:
    """``:tada:`` -> 🎉 for known codes; unknown codes stay as typed."""
    return _EMOJI_RE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _unescape(text: str) -> str:
    # Slack escapes &, < and > in message text.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _link_label(target: str, label: str | None, names: Callable[[str], str]) -> str:
    if target.startswith("@"):
        return "@" + names(target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):
        return "@" + target[1:]
    return label or target


def _convert(
    text: str,
    *,
    literal: Callable[[str], str],
    code: Callable[[str], str],
    pre: Callable[[str], str],
    link: Callable[[str, str], str],
    bold: Callable[[str], str],
    italic: Callable[[str], str],
    strike: Callable[[str], str],
    names: Callable[[str], str],
) -> str:
    """Set code and links aside (never formatted inside), format the rest, put them back."""
    kept: list[str] = []

    def keep(rendered: str) -> str:
        kept.append(rendered)
        return f"\x00{len(kept) - 1}\x00"

    def keep_link(match: re.Match[str]) -> str:
        label = _link_label(match.group(1), match.group(2), names)
        url = match.group(1) if "://" in match.group(1) else ""
        return keep(link(emoji(_unescape(label)), url))

    text = _FENCE_RE.sub(lambda m: keep(pre(_unescape(m.group(1)).rstrip("\n"))), text)
    text = _CODE_RE.sub(lambda m: keep(code(_unescape(m.group(1)))), text)
    text = _LINK_RE.sub(keep_link, text)
    text = literal(emoji(_unescape(text)))
    text = _BOLD_RE.sub(lambda m: bold(m.group(1)), text)
    text = _ITALIC_RE.sub(lambda m: italic(m.group(1)), text)
    text = _STRIKE_RE.sub(lambda m: strike(m.group(1)), text)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def to_rich(text: str, *, names: Callable[[str], str] = str) -> str:
    """mrkdwn as rich console markup (escaped: brackets in the text stay literal)."""
    return _convert(
        text,
        literal=escape,
        code=lambda s: f"[cyan]{escape(s)}[/cyan]",
        pre=lambda s: f"\n[cyan]{escape(s)}[/cyan]\n",
        link=lambda label, url: f"[underline]{escape(label)}[/underline]",
        bold=lambda s: f"[bold]{s}[/bold]",
        italic=lambda s: f"[italic]{s}[/italic]",
        strike=lambda s: f"[strike]{s}[/strike]",
        names=names,
    )


def to_html(text: str, *, names: Callable[[str], str] = str) -> str:
    """mrkdwn as HTML (escaped), newlines as ``<br>``."""

    def link(label: str, url: str) -> str:
        if url:
            return f'<a href="{html.escape(url)}">{html.escape(label)}</a>'
        return f'<span class="mention">{html.escape(label)}</span>'

    converted = _convert(
        text,
        literal=html.escape,
        code=lambda s: f"<code>{html.escape(s)}</code>",
        pre=lambda s: f"<pre>{html.escape(s)}</pre>",
        link=link,
        bold=lambda s: f"<b>{s}</b>",
        italic=lambda s: f"<i>{s}</i>",
        strike=lambda s: f"<s>{s}</s>",
        names=names,
    )
    # Newlines inside <pre> are kept by the browser; elsewhere they become <br>.
    parts = re.split(r"(<pre>.*?</pre>)", converted, flags=re.S)
    return "".join(p if p.startswith("<pre>") else p.replace("\n", "<br>") for p in parts)
