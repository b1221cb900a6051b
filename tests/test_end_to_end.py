"""The real thing: gunicorn serving Inkwell over HTTP, and a reader commenting through the form."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {url} within {timeout}s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """Start gunicorn with two workers on a free loopback port and a fresh SQLite file; stop it by PID."""
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "SECRET_KEY": "end-to-end-secret",
        "COMMENT_MODERATION": "off",
    }
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "init-db"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "app:create_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def test_reader_comments_on_the_welcome_post_over_real_http(server):
    browser = requests.Session()
    home = browser.get(server)
    assert home.status_code == 200 and "Welcome to Inkwell" in home.text

    post_page = browser.get(f"{server}/posts/welcome")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', post_page.text).group(1)
    assert "No comments yet" in post_page.text

    sent = browser.post(
        f"{server}/posts/welcome/comments",
        data={"csrf_token": token, "name": "Ada", "body": "Posted over **real** HTTP."},
        allow_redirects=False,
    )

    assert sent.status_code == 303
    location = sent.headers["Location"]
    assert re.fullmatch(r"/posts/welcome#comment-\d+", location)
    after = browser.get(server + location)
    assert "Thank you, your comment is published." in after.text
    assert "<p>Posted over <strong>real</strong> HTTP.</p>" in after.text
    for _ in range(4):  # whichever worker answers, a stranger sees the comment
        assert "Posted over" in requests.get(f"{server}/posts/welcome").text


def test_invalid_comment_over_real_http_keeps_the_input(server):
    browser = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      browser.get(f"{server}/posts/welcome").text).group(1)

    refused = browser.post(f"{server}/posts/welcome/comments",
                           data={"csrf_token": token, "name": "", "body": "Keep this text"})

    assert refused.status_code == 400
    assert "Please enter your name." in refused.text and "Keep this text" in refused.text
