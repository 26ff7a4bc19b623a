"""The fake OpenAI API as a real HTTP server on loopback, and the pytest fixtures.

Why real servers: the code under test talks to them with its real clients
(slack_sdk's WebClient, the openai SDK, bolt's signature check), so encoding,
retries (429 + Retry-After) and error classes behave as in production, and the
fakes are strict (unknown methods, missing arguments, Block Kit limits, bad
keys all fail) so a mistake fails a test rather than a deployment.

The fake Slack ships with tunebot, in ``bot/fakeslack`` (``tunebot demo`` runs
the real bot against it); the tests use that same package:

- ``bot.fakeslack.api.FakeSlack``: Web API at ``fake.base_url`` (``.../api/``),
  file downloads, files_upload_v2, response_urls; seeding (add_user,
  add_channel, add_usergroup, add_file, post_user_message), inspection (calls,
  messages, thread, edits, ephemerals, responses, uploads, reactions,
  home_view, views), failure injection (fail_next, rate_limit), ``wait_for``.
- ``bot.fakeslack.socket_mode``: FakeSlack's Socket Mode
  (``apps.connections.open`` with the app token, the WebSocket): socket_env,
  socket_send_event/command/interaction, acks, wait_for_ack,
  wait_for_socket_client.
- ``bot.fakeslack.events``: signed requests to a bolt app
  (``SlackEventSender``) and Slack payload builders (event_callback,
  message_event, slash_command_form, block_actions_payload,
  view_submission_payload, ...).
- ``bot.fakeslack.server.LoopbackServer`` and ``bot.fakeslack.waiting.wait_for``
  serve and await both fakes.

Here:

- ``openai_api.FakeOpenAI``: files, fine-tuning jobs scripted by
  ``JobScript``, events/checkpoints, models, chat; ``/v1`` and Azure's
  ``/openai`` paths; fail_next / fail_for / deny_job_creation; request log.
- ``fixtures``: ``fake_slack``, ``fake_openai``, ``slack_sender`` (registered
  by ``tests/conftest.py``).
"""
