"""The demo's channel as one self-contained HTML page (no external file, no script).

Top-level messages in order, each thread's replies under its parent, the
final version of every message with its earlier versions folded below it,
images inlined as ``data:`` URLs (the loss curve), buttons as labels.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from typing import Any

from bot.fakeslack.transcript import Attachment, Post
from cli.demo.mrkdwn import emoji, to_html

__all__ = ["render_page"]

_CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0; background: #f8f8f8; color: #1d1c1d; }
header { background: #3f0e40; color: #fff; padding: 14px 24px; }
header h1 { font-size: 18px; margin: 0; }
header p { margin: 4px 0 0; opacity: .85; font-size: 13px; }
main { max-width: 900px; margin: 0 auto; padding: 16px 24px 48px; }
.note { background: #fff8e1; border: 1px solid #f2d48a; border-radius: 6px; padding: 8px 12px; }
.msg { background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: 10px 14px;
       margin: 12px 0 0; }
.thread { margin-left: 36px; border-left: 3px solid #e0d7e6; padding-left: 12px; }
.who { font-weight: 700; }
.app { font-size: 10px; background: #e8e8e8; border-radius: 3px; padding: 1px 4px;
       margin-left: 4px; color: #616061; vertical-align: middle; }
.edited { color: #868686; font-size: 12px; margin-left: 6px; }
.block { margin: 6px 0; }
.long { max-height: 14em; overflow-y: auto; border-left: 3px solid #eee; padding-left: 6px; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 24px; }
.context { color: #616061; font-size: 13px; }
.header { font-size: 17px; font-weight: 700; }
hr { border: 0; border-top: 1px solid #e2e2e2; }
.button { display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px;
          margin: 2px 6px 2px 0; font-weight: 700; font-size: 13px; background: #fff; }
.button.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.button.danger { background: #e01e5a; color: #fff; border-color: #e01e5a; }
.file { display: inline-block; color: #1264a3; }
img.upload { max-width: 100%; border: 1px solid #ddd; border-radius: 6px; margin-top: 6px; }
code { background: #f3f3f3; border: 1px solid #e0e0e0; border-radius: 3px; padding: 0 3px;
       color: #c01343; font-size: 13px; }
pre { background: #f6f6f6; border: 1px solid #e0e0e0; border-radius: 4px; padding: 8px;
      overflow-x: auto; font-size: 12.5px; }
details { margin-top: 6px; color: #616061; font-size: 13px; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
"""


def _text(obj: Any, names: Callable[[str], str]) -> str:
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        return to_html(raw, names=names)
    return html.escape(emoji(raw)).replace("\n", "<br>")


def _element(element: dict[str, Any], names: Callable[[str], str]) -> str:
    kind = element.get("type")
    if kind == "button":
        label = html.escape(emoji(str((element.get("text") or {}).get("text") or "")))
        style = html.escape(str(element.get("style") or ""))
        return f'<span class="button {style}">{label}</span>'
    if kind == "image":
        return f"<span>🖼 {html.escape(str(element.get('alt_text') or 'image'))}</span>"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element, names)
    return f"<span>[{html.escape(str(kind))}]</span>"


def _blocks(blocks: Sequence[dict[str, Any]], names: Callable[[str], str]) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.append(f'<div class="block header">{_text(block.get("text"), names)}</div>')
        elif kind == "section":
            if block.get("text"):
                accessory = block.get("accessory")
                extra = f" {_element(accessory, names)}" if isinstance(accessory, dict) else ""
                # Long texts (the tiny model's noise answers) scroll inside their block.
                size = "block long" if len(str(block["text"].get("text") or "")) > 600 else "block"
                out.append(f'<div class="{size}">{_text(block["text"], names)}{extra}</div>')
            if block.get("fields"):
                cells = "".join(f"<div>{_text(f, names)}</div>" for f in block["fields"])
                out.append(f'<div class="block fields">{cells}</div>')
        elif kind == "context":
            parts = " ".join(_element(e, names) for e in block.get("elements") or [])
            out.append(f'<div class="block context">{parts}</div>')
        elif kind == "actions":
            parts = "".join(_element(e, names) for e in block.get("elements") or [])
            out.append(f'<div class="block actions">{parts}</div>')
        elif kind == "divider":
            out.append("<hr>")
        elif kind == "image":
            title = (block.get("title") or {}).get("text") or block.get("alt_text") or "image"
            out.append(f'<div class="block">🖼 {html.escape(str(title))}</div>')
        else:
            out.append(f'<div class="block context">[{html.escape(str(kind))} block]</div>')
    return "".join(out)


def _attachment(attachment: Attachment) -> str:
    name = html.escape(attachment.name)
    if attachment.mimetype.startswith("image/") and attachment.content:
        data = base64.b64encode(attachment.content).decode("ascii")
        return (
            f'<div class="block"><span class="file">🖼 {name}</span><br>'
            f'<img class="upload" alt="{html.escape(attachment.title)}" '
            f'src="data:{html.escape(attachment.mimetype)};base64,{data}"></div>'
        )
    return f'<div class="block"><span class="file">📎 {name}</span></div>'


def _body(post: Post, names: Callable[[str], str]) -> str:
    body = _blocks(post.blocks, names) if post.blocks else to_html(post.text, names=names)
    return body + "".join(_attachment(a) for a in post.attachments)


def _message(versions: list[Post], names: Callable[[str], str]) -> str:
    post = versions[-1]
    app = '<span class="app">APP</span>' if post.is_bot else ""
    count = len(versions) - 1
    times = "once" if count == 1 else f"{count} times"
    edited = f'<span class="edited">(edited {times})</span>' if count else ""
    history = ""
    if len(versions) > 1:
        earlier = "".join(
            f"<li>{to_html(v.text, names=names)}</li>" for v in versions[:-1] if v.text
        )
        history = f"<details><summary>Earlier versions</summary><ol>{earlier}</ol></details>"
    classes = "msg thread" if post.thread_ts else "msg"
    return (
        f'<div class="{classes}"><div><span class="who">{html.escape(post.author)}</span>'
        f"{app}{edited}</div>{_body(post, names)}{history}</div>"
    )


def render_page(
    posts: Sequence[Post],
    *,
    title: str,
    intro: str,
    note: str,
    names: Callable[[str], str] = str,
) -> str:
    """The whole channel as HTML; ``posts`` as returned by Transcript.poll (all versions)."""
    versions: dict[str, list[Post]] = {}
    for post in posts:
        versions.setdefault(post.ts, []).append(post)
    roots = [ts for ts, vs in versions.items() if vs[0].thread_ts is None]
    replies: dict[str, list[str]] = {}
    for ts, vs in versions.items():
        parent = vs[-1].thread_ts
        if parent is not None:
            replies.setdefault(parent, []).append(ts)
    body: list[str] = []
    for root in roots:
        body.append(_message(versions[root], names))
        body.extend(_message(versions[ts], names) for ts in replies.get(root, []))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p></header><main>"
        f'<p class="note">{html.escape(note)}</p>{"".join(body)}</main></body></html>\n'
    )
