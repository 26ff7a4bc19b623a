"""Outside text made inert in Slack's mrkdwn: the one escape every builder uses.

Anything tunebot did not write itself — dataset content and validator findings
quoting it, file names, model answers, model ids, provider errors, labels
people chose — goes through :func:`escape` before it lands in a ``mrkdwn``
text or a message's ``text``. Slack gives ``<…>`` meaning (``<!channel>``
pings everyone, ``<https://evil.example|docs>`` is a disguised link) and
``&`` starts an entity, so those three characters become ``&amp;``, ``&lt;``
and ``&gt;``. Slack renders the entities as the characters, so code such as
``List<String>`` still reads as written. ``plain_text`` objects (headers,
buttons, modal options) are not parsed, so they are left alone.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """``&``, ``<``, ``>`` as Slack's entities; ``&`` first so nothing is escaped twice."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
