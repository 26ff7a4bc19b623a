"""One module per user journey (drop, start, ab, heldout, home): core calls and Slack replies.

Listeners call a flow after their ack; flows render through :mod:`bot.blocks`.
"""
