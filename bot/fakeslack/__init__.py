"""A strict stand-in for Slack that ships with tunebot, as a test double.

Like httpx's ``MockTransport``, it is part of the package rather than of the
tests so that anyone can run the real bot without a Slack workspace:
``tunebot demo`` drives the real ``tunebot serve`` process through it, and the
test suite uses the same code. It is a real HTTP server on loopback (the bot's
real ``WebClient`` talks to it) and is strict: unknown methods, missing
arguments, bad tokens and broken Block Kit limits all fail as on Slack.

- ``api.FakeSlack``: the Web API, file downloads and uploads, response_urls,
  seeding, inspection, failure injection.
- ``events``: signed requests into a bolt app the way Slack sends them
  (``SlackEventSender``) and the payload builders (``payloads``).
- ``socket_mode``: FakeSlack's Socket Mode WebSocket (serving it needs the
  ``websockets`` package).
- ``server.LoopbackServer``: serves an ASGI app on 127.0.0.1 in a thread.
"""
