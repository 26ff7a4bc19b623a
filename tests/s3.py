"""A real S3-compatible server for the ``s3://`` storage tests: moto in server mode on loopback.

``s3_env`` starts ``moto_server`` on a free loopback port, creates the bucket
and yields the ``AWS_*`` variables that point s3fs (and any ``tunebot``
process given them) at it; the test's process environment gets them too,
so code under test reads them the way a deployment does.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

__all__ = ["S3_BUCKET", "s3_env"]

S3_BUCKET = "tunebot-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """``AWS_*`` variables of a fresh moto server holding an empty bucket ``S3_BUCKET``."""
    s3fs = pytest.importorskip("s3fs", reason="s3fs missing: pip install -e '.[s3,dev]'")
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        pytest.fail(f"{server} not found: pip install -e '.[dev]' (moto[server])")
    port = _free_port()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    with (tmp_path / "moto.log").open("wb") as log:
        process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(env["AWS_ENDPOINT_URL"], timeout=1)
                break
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"moto_server did not start: {(tmp_path / 'moto.log').read_text()}")
            time.sleep(0.2)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()  # none may keep an old endpoint
        s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"]).mkdir(S3_BUCKET)
        yield env
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        process.terminate()
        process.wait(timeout=30)
