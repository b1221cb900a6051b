"""Rate limits hold across every worker of one server on the embedded default (no Redis): the counters live in
a SQLite file in the instance folder (ratelimits.py), not in each worker's memory."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import requests

import ratelimits
from extensions import limiter
from helpers import CSRF_FIELD
from helpers import log_in
from helpers import post_comment
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


def comment_from(app, slug: str, address: str, body: str) -> int:
    """Post a comment through the form from a browser at ``address``; return the status code."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return post_comment(browser, slug, body=body).status_code


def test_fresh_addresses_from_one_ipv6_network_share_its_comment_limit(make_app, make_post):
    app = make_app(COMMENT_RATE_LIMIT="3 per minute")
    slug = make_post("Popular").slug
    addresses = [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]  # one subscriber's /64: 2^64 such addresses

    statuses = [comment_from(app, slug, address, f"Comment {n}") for n, address in enumerate(addresses)]

    assert statuses == [303, 303, 303, 429]
    assert comment_from(app, slug, "2001:db8:1:3::1", "From the next network") == 303


def test_different_ipv4_addresses_keep_their_own_comment_limits(make_app, make_post):
    app = make_app(COMMENT_RATE_LIMIT="1 per minute")
    slug = make_post("Popular").slug
    assert [comment_from(app, slug, f"198.51.100.{n}", f"Comment {n}") for n in (1, 2)] == [303, 303]
    assert comment_from(app, slug, "::ffff:198.51.100.1", "Same address, written as IPv6") == 429


def test_fresh_addresses_from_one_ipv6_network_share_its_login_limit(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    make_user("owner")
    statuses = []
    for n in range(1, 5):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"2001:db8:1:2::{n:x}"
        statuses.append(log_in(browser, "owner", "a wrong guess").status_code)
    assert statuses == [400, 400, 400, 429]


def test_an_owners_limit_on_every_page_still_counts_every_request(make_app):
    """Inkwell sets no limit on every request, so the limiter's check before each one is skipped; one set in
    instance/config.py (``RATELIMIT_DEFAULT``) is counted as Flask-Limiter counts it."""
    app = make_app(RATELIMIT_DEFAULT="2 per minute")
    try:
        browser = app.test_client()
        assert [browser.get("/search?q=garden").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        limiter.limit_manager.set_default_limits([])  # the limiter outlives apps: later ones must not inherit it
