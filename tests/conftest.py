"""Shared pytest setup.

Fixtures of the fake Slack / OpenAI servers live in tests/fakes/fixtures.py.
"""

pytest_plugins = ["tests.fakes.fixtures"]
