"""Every action id, callback id and block id tunebot's messages and views carry.

Builders in :mod:`bot.blocks` put them on buttons and views; listeners in
:mod:`bot.listeners` match on them. One place, so the two cannot drift apart.
"""

from __future__ import annotations

# Report buttons: START_ACTION_PREFIX + provider name; value is the dataset's short id.
START_ACTION_PREFIX = "start_job:"
START_BUTTONS_BLOCK_ID = "start_job"
# The start modal (view callback id); its input blocks use the field names below.
START_MODAL_CALLBACK_ID = "start_job_modal"
# Cancel on a job's progress message; value is the job's short id.
CANCEL_ACTION_ID = "progress_cancel"
# "Start A/B test" on a succeeded job's result message; value is the job's short id.
AB_START_ACTION_ID = "ab_start"
# A/B votes: VOTE_ACTION_PREFIX + a|b|tie|both_bad; value is the prompt id.
VOTE_ACTION_PREFIX = "ab_vote_"
# "Validate fixed file" under a not-ready report; value is the dataset's short id.
VALIDATE_FIXED_ACTION_ID = "validate_fixed"
# "Retry" / "Retry on worker" under a failure post: START_ACTION_PREFIX + provider, so they
# open the same start modal as the report's buttons; value is the dataset's short id.
# "Refresh" on App Home: republish the viewer's home.
HOME_REFRESH_ACTION_ID = "home_refresh"
# "Train on these votes" on an A/B session's results; value is the session's short id.
TRAIN_ON_VOTES_ACTION_ID = "ab_train_on_votes"
# "Post the results" under `/finetune ab results`, behind a confirm dialog; value is the
# session's short id.
AB_RESULTS_ACTION_ID = "ab_results"
