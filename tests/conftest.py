"""Shared pytest setup.

Fixtures of the fake Slack / OpenAI servers live in tests/fakes/fixtures.py; a
throwaway PostgreSQL (``postgres_url``) in tests/postgres.py; a moto S3 server
(``s3_env``) in tests/s3.py.
"""

pytest_plugins = ["tests.fakes.fixtures", "tests.postgres", "tests.s3"]
