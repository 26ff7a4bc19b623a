"""Block Kit builders: ``build_*()`` functions that return dicts, with no I/O.

Built with slack_sdk's block models so field names and types are checked, and
kept inside Slack's limits (:mod:`bot.blocks.limits`).
"""
