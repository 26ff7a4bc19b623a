"""Work that runs on schedules, not on Slack requests.

``poster`` (exactly-once thread replies), ``progress_scheduler`` (job progress,
the only writer of it), ``edit_budget`` (chat.update rate), ``evaluations``
(held-out runs, abandoned A/B prompts). :mod:`bot.runtime` starts and stops them.
"""
