"""``tunebot demo`` end to end: the real command, its terminal output, its HTML page in Chromium.

The demo runs as a newcomer runs it (``tunebot demo --html out.html``), with
its own bot, worker and fake Slack; the test then reads what it printed,
opens the page in headless Chromium (screenshot and DOM), and checks that no
process the demo started is left and that its temporary folder is gone.
Chromium is a CI requirement (``.ci/run`` installs it): without it the test
fails, it does not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 600  # a safety net for a hung demo, not a speed check (benchmarks do speed)
WINDOW = (1100, 2400)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

pytestmark = pytest.mark.slow


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is needed to check the demo's HTML page: "
        "apt-get install -y chromium (.ci/run installs it)."
    )


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def processes_in(folder: Path) -> list[str]:
    """Processes whose working folder or command line is under ``folder``."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cwd = process.info.get("cwd") or ""
        cmdline = " ".join(process.info.get("cmdline") or [])
        if cwd.startswith(str(folder)) or str(folder) in cmdline:
            found.append(f"{process.info['pid']}: {cmdline}")
    return found


def test_the_demo_runs_the_whole_loop_and_writes_a_page(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"  # the demo's temporary folders go here (TMPDIR)
    temp.mkdir()
    page = tmp_path / "out.html"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_"))
    }
    env.update(TMPDIR=str(temp), COLUMNS="100", PYTHONPATH=str(ROOT))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--html", str(page)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(output)  # shown by pytest on failure: the whole channel as the user saw it
    print(f"demo: {elapsed:.0f} s")
    assert result.returncode == 0, output[-4000:]

    # The terminal showed each scene, from the bot's real messages (lines wrap anywhere).
    flat = " ".join(output.split())
    for text in (
        "alice drops a dataset",
        "support_chat.jsonl",
        "Fine-tune on worker",  # the report's button, as a label
        "modal for alice",
        "updated its message",  # the progress message, followed as it is edited
        "loss-curve-",  # the loss curve, by file name
        "Start A/B test",
        "A is better",
        "votes: 9 from 3 people",
        "answers are noise: that is expected",
        "The demo took",
    ):
        assert text in flat, f"{text!r} not in the demo's output"
    assert re.search(r"Response A.*Response B", output, re.S)
    assert re.search(r"step (\d+)/\1\b", output), "the progress message never reached its last step"

    # Nothing left running, temporary folder removed.
    assert processes_in(temp) == []
    assert list(temp.iterdir()) == []

    # The page: self-contained, the loss curve inlined, the key texts in the DOM.
    markup = page.read_text(encoding="utf-8")
    assert "data:image/png;base64,iVBORw0KGgo" in markup  # base64 of the PNG signature
    assert not re.search(r"<(script|link)\b|src=\"(?!data:)", markup), "the page loads nothing"
    profile = tmp_path / "chromium-profile"
    dom = run_chromium(page, profile, "--dump-dom").stdout
    for text in (
        "tunebot demo",
        "support_chat.jsonl",
        "Fine-tune on worker",
        "Succeeded",
        "ft:tiny:",
        "Start A/B test",
        "Response A",
        "Response B",
        "from 3 people",
        "answers are noise: that is expected",
    ):
        assert text in dom, f"{text!r} not in the page as Chromium read it"
    screenshot = tmp_path / "demo.png"
    run_chromium(
        page, profile, f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}"
    )
    assert png_size(screenshot) == WINDOW
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one

    keep = os.environ.get("TUNEBOT_DEMO_ARTIFACTS")  # e.g. CI keeps what a person would look at
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for path in (page, screenshot):
            shutil.copy(path, Path(keep) / path.name)
        (Path(keep) / "demo-output.txt").write_text(output + f"\ndemo: {elapsed:.0f} s\n")
