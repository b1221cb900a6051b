"""Several app servers, one PostgreSQL and one Redis: what one server does, the other sees.

Runs when TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL are set, as .ci/run does.
"""

from __future__ import annotations

import os

import pytest
import redis
import requests

from app import create_app
from database import db
from helpers import CSRF_FIELD
from helpers import reset_database

DATABASE = os.environ.get("TEST_DATABASE_URL", "")
REDIS = os.environ.get("TEST_REDIS_URL", "")

pytestmark = pytest.mark.skipif(
    not (DATABASE.startswith("postgresql") and REDIS), reason="needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL"
)


@pytest.fixture
def two_servers(live_server, tmp_path):
    """Two gunicorn instances on different ports, sharing a freshly emptied PostgreSQL and Redis."""
    app = create_app({"DATABASE_URL": DATABASE, "SECRET_KEY": "x"}, instance_path=str(tmp_path / "reset"))
    with app.app_context():
        reset_database()
        db.drop_all()  # init-db will build the schema through the migrations
        db.engine.dispose()
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter("*LIMITER*"):
        client.delete(key)
    settings = {
        "DATABASE_URL": DATABASE,
        "RATELIMIT_STORAGE_URI": REDIS,
        "COMMENT_MODERATION": "off",
        "COMMENT_RATE_LIMIT": "3 per minute",
    }
    first = live_server(**settings)
    second = live_server(prepare=False, **settings)
    return first, second


def send_comment(url: str, body: str) -> requests.Response:
    browser = requests.Session()
    token = CSRF_FIELD.search(browser.get(f"{url}/posts/welcome", timeout=10).text).group(1)
    data = {"csrf_token": token, "name": "Ada", "body": body}
    return browser.post(f"{url}/posts/welcome/comments", data=data, allow_redirects=False, timeout=10)


def test_a_comment_posted_through_one_server_is_seen_through_the_other(two_servers):
    first, second = two_servers
    assert send_comment(first, "Hello from server one").status_code == 303
    assert "Hello from server one" in requests.get(f"{second}/posts/welcome", timeout=10).text


def test_the_rate_limit_counts_across_both_servers(two_servers):
    first, second = two_servers
    statuses = [send_comment(url, f"Comment {n}").status_code for n, url in enumerate([first, second, first, second])]
    assert statuses == [303, 303, 303, 429]
