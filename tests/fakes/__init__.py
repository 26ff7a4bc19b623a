"""Fakes of Slack's Web API and OpenAI's API as real HTTP servers on loopback.

Why real servers: the code under test talks to them with its real clients
(slack_sdk's WebClient, the openai SDK, bolt's signature check), so encoding,
retries (429 + Retry-After) and error classes behave as in production, and the
fakes are strict (unknown methods, missing arguments, Block Kit limits, bad
keys all fail) so a mistake fails a test rather than a deployment.

- ``slack_api.FakeSlack``: Web API at ``fake.base_url`` (``.../api/``), file
  downloads, files_upload_v2, response_urls; seeding (add_user, add_channel,
  add_usergroup, add_file, post_user_message), inspection (calls, messages,
  thread, edits, ephemerals, responses, uploads, reactions, home_view, views),
  failure injection (fail_next, rate_limit), ``wait_for``.
- ``slack_socket``: FakeSlack's Socket Mode (``apps.connections.open`` with the
  app token, the WebSocket): socket_env, socket_send_event/command/interaction,
  acks, wait_for_ack, wait_for_socket_client.
- ``slack_events``: signed requests to a bolt app (``SlackEventSender``) and
  Slack payload builders (event_callback, message_event, slash_command_form,
  block_actions_payload, view_submission_payload, ...).
- ``openai_api.FakeOpenAI``: files, fine-tuning jobs scripted by
  ``JobScript``, events/checkpoints, models, chat; ``/v1`` and Azure's
  ``/openai`` paths; fail_next / fail_for / deny_job_creation; request log.
- ``fixtures``: ``fake_slack``, ``fake_openai``, ``slack_sender`` (registered
  by ``tests/conftest.py``).
"""
