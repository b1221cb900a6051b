"""The real thing: gunicorn serving Inkwell over HTTP, and a reader commenting through the form."""

from __future__ import annotations

import re

import pytest
import requests


@pytest.fixture(scope="module")
def server(module_live_server) -> str:
    """One gunicorn for the module: the refused comment leaves the welcome post without comments."""
    return module_live_server(COMMENT_MODERATION="off")


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
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', browser.get(f"{server}/posts/welcome").text
    ).group(1)

    refused = browser.post(
        f"{server}/posts/welcome/comments", data={"csrf_token": token, "name": "", "body": "Keep this text"}
    )

    assert refused.status_code == 400
    assert "Please enter your name." in refused.text and "Keep this text" in refused.text
