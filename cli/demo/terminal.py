"""The channel in the terminal: each post and each edit as a panel, from its real Block Kit.

Sections (text, fields, accessory), headers, context lines, dividers, buttons
shown as labels and images as their file names; a message without blocks
shows its text. An edit is shown as an update of the message it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.fakeslack.transcript import Post
from cli.demo.mrkdwn import emoji, to_rich

__all__ = [
    "render_blocks",
    "render_edit_line",
    "render_ephemeral",
    "render_modal",
    "render_post",
    "shape",
]

_BUTTON_STYLES = {"primary": "bold white on green", "danger": "bold white on red"}
# Longer texts are cut in the terminal (the HTML page and Slack show them whole):
# the tiny model's noise answers run to ~1,000 tokens each.
MAX_SHOWN_CHARS = 400


def _cut(text: str) -> str:
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return f"{text[:MAX_SHOWN_CHARS]}… ({len(text) - MAX_SHOWN_CHARS:,} more characters)"


def _text(obj: Any, names: Callable[[str], str]) -> Text:
    """A Block Kit text object (mrkdwn or plain_text) as rich Text."""
    if not isinstance(obj, dict):
        return Text("")
    raw = _cut(str(obj.get("text") or ""))
    if obj.get("type") == "mrkdwn":
        return Text.from_markup(to_rich(raw, names=names))
    return Text(emoji(raw))


def _element(element: dict[str, Any], names: Callable[[str], str]) -> Text:
    kind = element.get("type")
    if kind == "button":
        label = emoji(str((element.get("text") or {}).get("text") or ""))
        style = _BUTTON_STYLES.get(str(element.get("style")), "bold black on grey85")
        return Text(f" {label} ", style=style)
    if kind == "image":
        return Text(f"🖼 {element.get('alt_text') or 'image'}", style="dim")
    if kind in ("mrkdwn", "plain_text"):
        return _text(element, names)
    if kind in ("static_select", "overflow", "users_select", "datepicker"):
        placeholder = (element.get("placeholder") or {}).get("text") or "choose"
        return Text(f" {placeholder} ▾ ", style="black on grey85")
    return Text(f"[{kind}]", style="dim")


def _rich_text(block: dict[str, Any]) -> Text:
    """rich_text blocks: their words, without styling."""
    words: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "text" in node and isinstance(node["text"], str):
                words.append(node["text"])
            for child in node.get("elements") or []:
                walk(child)

    walk(block)
    return Text("".join(words))


def render_blocks(
    blocks: list[dict[str, Any]], *, names: Callable[[str], str] = str
) -> list[RenderableType]:
    """Block Kit blocks as rich renderables, one or more per block."""
    out: list[RenderableType] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.append(Text(emoji(str(block["text"].get("text", ""))), style="bold underline"))
        elif kind == "section":
            if block.get("text"):
                body: RenderableType = _text(block["text"], names)
                accessory = block.get("accessory")
                if isinstance(accessory, dict):
                    grid = Table.grid(expand=True, padding=(0, 2))
                    grid.add_column(ratio=1)
                    grid.add_column(justify="right")
                    grid.add_row(body, _element(accessory, names))
                    body = grid
                out.append(body)
            fields = block.get("fields") or []
            if fields:
                grid = Table.grid(padding=(0, 3))
                grid.add_column()
                grid.add_column()
                cells = [_text(f, names) for f in fields]
                for left in range(0, len(cells), 2):
                    grid.add_row(*cells[left : left + 2], *([Text("")] * (left + 2 - len(cells))))
                out.append(grid)
        elif kind == "context":
            line = Text(" ").join(_element(e, names) for e in block.get("elements") or [])
            line.stylize("dim")
            out.append(line)
        elif kind == "actions":
            out.append(Text("  ").join(_element(e, names) for e in block.get("elements") or []))
        elif kind == "divider":
            out.append(Rule(style="grey50"))
        elif kind == "image":
            title = (block.get("title") or {}).get("text") or block.get("alt_text") or "image"
            out.append(Text(f"🖼 image: {title}", style="magenta"))
        elif kind == "rich_text":
            out.append(_rich_text(block))
        elif kind == "input":
            label = str((block.get("label") or {}).get("text") or "")
            element = block.get("element") or {}
            chosen = (element.get("initial_option") or {}).get("text") or {}
            value = chosen.get("text") or element.get("initial_value") or ""
            line = Text(f"{label}: ", style="bold")
            line.append(str(value) or "…", style="black on grey93")
            out.append(line)
        else:
            out.append(Text(f"[{kind} block]", style="dim"))
    return out


def render_post(
    post: Post, *, names: Callable[[str], str] = str, at: float | None = None
) -> RenderableType:
    """One post (or edit) as a panel; replies are indented under their thread."""
    parts: list[RenderableType] = (
        render_blocks(post.blocks, names=names)
        if post.blocks
        else [Text.from_markup(to_rich(post.text, names=names))]
        if post.text
        else []
    )
    for attachment in post.attachments:
        icon = "🖼" if attachment.mimetype.startswith("image/") else "📎"
        parts.append(Text(f"{icon} {attachment.name}", style="magenta"))
    who = f"[bold]{post.author}[/bold]" + (" [dim]APP[/dim]" if post.is_bot else "")
    if post.kind == "edited":
        title = f"{who} [yellow]✎ updated its message[/yellow] [dim](edit {post.version})[/dim]"
        border = "yellow"
    else:
        title = who
        border = "blue" if post.is_bot else "green"
    where = "in thread" if post.thread_ts else "#fine-tuning"
    if at is not None:
        where += f" · {at:.0f} s"
    panel = Panel(
        Group(*parts) if parts else Text(""),
        title=title,
        title_align="left",
        subtitle=f"[dim]{where}[/dim]",
        subtitle_align="right",
        border_style=border,
    )
    return Padding(panel, (0, 0, 0, 4)) if post.thread_ts else panel


def render_modal(view: dict[str, Any], *, user: str) -> RenderableType:
    """A modal the bot opened for ``user``: its title, fields and submit button."""
    title = str((view.get("title") or {}).get("text") or "")
    submit = str((view.get("submit") or {}).get("text") or "Submit")
    parts = render_blocks(view.get("blocks") or [])
    parts.append(Text(f" {submit} ", style=_BUTTON_STYLES["primary"]))
    return Panel(
        Group(*parts),
        title=f"[bold]modal for {user}[/bold]: {title}",
        title_align="left",
        border_style="cyan",
    )


def render_ephemeral(note: dict[str, Any], *, names: Callable[[str], str] = str) -> RenderableType:
    """A message only one person sees (chat.postEphemeral), as one dim line."""
    text = " ".join(str(note.get("text") or "").split())
    line = Text.from_markup(f"[dim]only {names(str(note.get('user')))} sees:[/dim] ")
    line.append_text(Text.from_markup(to_rich(text, names=names)))
    return Padding(line, (0, 0, 0, 4))


def shape(post: Post) -> tuple[str, ...]:
    """What makes an edit worth a full panel: its block types and button labels.

    A progress message edited every second keeps its shape (only numbers
    change) and is shown as one line per edit; a message that turns into
    something else (a placeholder into a report, running into succeeded) is
    shown in full.
    """
    kinds = [str(b.get("type")) for b in post.blocks]
    labels = [
        str((e.get("text") or {}).get("text"))
        for b in post.blocks
        if b.get("type") == "actions"
        for e in b.get("elements") or []
    ]
    return (*kinds, *labels)


def _lines(post: Post) -> list[str]:
    """The message's texts (section texts, fields as "Name: value"), one per line."""
    lines: list[str] = []
    for block in post.blocks:
        if block.get("type") == "section":
            fields = [
                str(f.get("text") or "").replace("\n", ": ", 1) for f in block.get("fields") or []
            ]
            texts = [str((block.get("text") or {}).get("text") or ""), *fields]
            for raw in texts:
                lines.extend(" ".join(part.split()) for part in raw.split("\n") if part.strip())
    return lines or [" ".join(post.text.split())]


def render_edit_line(
    post: Post,
    *,
    previous: Post | None = None,
    names: Callable[[str], str] = str,
    at: float | None = None,
) -> RenderableType:
    """An edit that kept the message's shape: only the lines it changed, on one line."""
    before = set(_lines(previous)) if previous is not None else set()
    changed = [line for line in _lines(post) if line not in before] or _lines(post)[:1]
    when = f" at {at:.0f} s" if at is not None else ""
    line = Text.from_markup(
        f"[yellow]✎ {post.author} updated its message (edit {post.version}{when}):[/yellow] "
    )
    line.append_text(Text.from_markup(to_rich(_cut(" · ".join(changed)), names=names)))
    return Padding(line, (0, 0, 0, 4 if post.thread_ts else 0))
