"""The owner decides which comments appear: COMMENT_MODERATION = off | first-time | all."""

from __future__ import annotations

import pytest
from conftest import page_text
from conftest import post_comment
from sqlalchemy import select

from blog import COMMENTER_COOKIE
from cli import set_comment_status
from models import Comment
from models import CommentStatus
from models import ModerationPolicy
from models import db


def statuses(app) -> list[CommentStatus]:
    with app.app_context():
        return list(db.session.scalars(select(Comment.status).order_by(Comment.id)))


def approve(app, comment_id: int) -> None:
    with app.app_context():
        set_comment_status(comment_id, CommentStatus.approved)


@pytest.mark.parametrize(
    ("policy", "is_known", "expected"),
    [
        ("off", False, CommentStatus.approved),
        ("first-time", False, CommentStatus.pending),
        ("first-time", True, CommentStatus.approved),
        ("all", True, CommentStatus.pending),
        ("all", False, CommentStatus.pending),
    ],
)
def test_initial_status_follows_the_policy(policy, is_known, expected):
    verdict = Comment.initial_verdict(ModerationPolicy(policy), is_known)
    assert verdict.status == expected
    assert (verdict.reason is None) == (expected == CommentStatus.approved)


def test_with_moderation_off_comments_appear_at_once(make_app, make_post):
    client = make_app(COMMENT_MODERATION="off").test_client()
    post = make_post()
    post_comment(client, post.slug, body="Straight through")
    assert "Straight through" in page_text(app_client_without_cookies(client, post.slug))


def app_client_without_cookies(client, slug):
    """Fetch a post as a stranger would: another browser, with no commenter cookie."""
    return client.application.test_client().get(f"/posts/{slug}")


def test_held_comment_is_seen_only_by_its_author_until_approved(make_app, make_post):
    app = make_app(COMMENT_MODERATION="all")
    client = app.test_client()
    post = make_post()

    response = post_comment(client, post.slug, body="Please approve me")
    own_view = page_text(client.get(response.headers["Location"]))

    assert "Thank you! Your comment is awaiting moderation" in own_view
    assert "Please approve me" in own_view and "Awaiting moderation: only you can see" in own_view
    assert "Please approve me" not in page_text(app_client_without_cookies(client, post.slug))

    approve(app, 1)
    stranger_view = page_text(app_client_without_cookies(client, post.slug))
    assert "Please approve me" in stranger_view and "Awaiting moderation" not in stranger_view


def test_first_time_holds_a_new_commenter_then_trusts_them_once_approved(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time")
    client = app.test_client()
    post = make_post()

    post_comment(client, post.slug, body="Hello, first time here")
    post_comment(client, post.slug, body="Still waiting?")
    assert statuses(app) == [CommentStatus.pending, CommentStatus.pending]

    approve(app, 1)
    post_comment(client, post.slug, body="Now I am known")
    assert statuses(app)[-1] == CommentStatus.approved


def test_first_time_recognises_the_browser_not_the_email_anyone_can_type(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time")
    trusted, impostor = app.test_client(), app.test_client()
    post = make_post()
    post_comment(trusted, post.slug, name="Grace", email="grace@example.com")
    approve(app, 1)

    post_comment(impostor, post.slug, name="Grace", email="grace@example.com", body="I am Grace, honest")

    assert statuses(app) == [CommentStatus.approved, CommentStatus.pending]


def test_tampered_commenter_cookie_is_ignored(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time")
    client = app.test_client()
    post = make_post()
    post_comment(client, post.slug)
    approve(app, 1)
    genuine = client.get_cookie(COMMENTER_COOKIE).value
    forger = app.test_client()
    forger.set_cookie(COMMENTER_COOKIE, genuine[:-3] + "abc")

    post_comment(forger, post.slug, body="Let me in")

    assert statuses(app) == [CommentStatus.approved, CommentStatus.pending]


def test_commenter_cookie_is_signed_http_only_and_long_lived(client, make_post):
    post = make_post()
    response = post_comment(client, post.slug)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COMMENTER_COOKIE))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=31536000" in header
    assert "." in client.get_cookie(COMMENTER_COOKIE).value  # value.signature


def test_spam_is_hidden_from_everyone(make_app, make_post):
    app = make_app(COMMENT_MODERATION="off")
    client = app.test_client()
    post = make_post()
    post_comment(client, post.slug, body="Spammy spam")
    with app.app_context():
        set_comment_status(1, CommentStatus.spam)
    assert "Spammy spam" not in page_text(client.get(f"/posts/{post.slug}"))
