"""Rate limits hold across every worker of one server on the embedded default (no Redis): the counters live in
a SQLite file in the instance folder (ratelimits.py), not in each worker's memory."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import requests

import ratelimits
from conftest import CSRF_FIELD
from conftest import post_comment
from ratelimits import SQLiteStorage
from ratelimits import storage_uri


def hold_a_worker(url: str) -> socket.socket:
    """Keep one free gunicorn sync worker busy reading a request whose headers never end."""
    host, port = re.fullmatch(r"http://([^:]+):(\d+)", url).groups()
    held = socket.create_connection((host, int(port)))
    held.sendall(b"GET /healthz HTTP/1.1\r\nHost: held\r\n")
    time.sleep(0.5)  # accepted by then; if not, both workers would see the same comments and this test not fail
    return held


def comment_through_the_form(url: str, body: str) -> requests.Response:
    browser = requests.Session()
    token = CSRF_FIELD.search(browser.get(f"{url}/posts/welcome", timeout=10).text).group(1)
    data = {"csrf_token": token, "name": "Ada", "body": body}
    return browser.post(f"{url}/posts/welcome/comments", data=data, allow_redirects=False, timeout=10)


def test_the_comment_limit_holds_across_both_workers_without_redis(live_server, tmp_path):
    url = live_server(COMMENT_MODERATION="off", COMMENT_RATE_LIMIT="3 per minute")
    # Two comments to one worker while the other is held, then two to the other while the first is held:
    # with counters in each worker's memory, each worker would allow all the comments it saw.
    first_held = hold_a_worker(url)
    answers = [comment_through_the_form(url, f"Comment {n}") for n in (1, 2)]
    second_held = hold_a_worker(url)
    first_held.close()
    answers += [comment_through_the_form(url, f"Comment {n}") for n in (3, 4)]
    second_held.close()

    assert [answer.status_code for answer in answers] == [303, 303, 303, 429]
    assert "Comment 4</textarea>" in answers[-1].text and "Please wait" in answers[-1].text
    assert (Path(tmp_path) / "instance" / "ratelimits.db").exists()


def test_a_window_starts_again_once_it_has_expired(tmp_path, monkeypatch):
    storage = SQLiteStorage(storage_uri(tmp_path / "ratelimits.db"))
    assert [storage.incr("comment/ada", 60) for _ in range(3)] == [1, 2, 3]
    later = time.time() + 61
    monkeypatch.setattr(ratelimits.time, "time", lambda: later)
    assert storage.get("comment/ada") == 0
    assert storage.incr("comment/ada", 60) == 1 and storage.get_expiry("comment/ada") == later + 60


def test_comments_are_accepted_when_the_counters_file_cannot_be_opened(make_app, make_post, tmp_path):
    app = make_app(RATELIMIT_STORAGE_URI=storage_uri(tmp_path / "no such folder" / "ratelimits.db"))
    response = post_comment(app.test_client(), make_post().slug, body="Still here")
    assert response.status_code == 303


def test_the_default_store_is_the_shared_file_and_redis_when_configured(make_app, tmp_path):
    assert make_app(RATELIMIT_STORAGE_URI="").config["RATELIMIT_STORAGE_URI"] == storage_uri(
        tmp_path / "instance" / "ratelimits.db"
    )
    redis = "redis://127.0.0.1:6379/9"
    assert make_app(RATELIMIT_STORAGE_URI="", REDIS_URL=redis).config["RATELIMIT_STORAGE_URI"] == redis
