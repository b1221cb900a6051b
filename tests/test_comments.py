"""A reader leaves a comment through the plain HTML form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from database import db
from database import now_utc
from helpers import csrf_token
from helpers import page_text
from helpers import post_comment
from helpers import stored_comments
from models import Comment
from models import CommentStatus


@pytest.fixture
def post(make_post):
    return make_post("Open for comments")


def test_valid_comment_redirects_to_it_and_is_shown(app, client, post):
    response = post_comment(client, post.slug, name="Grace", body="Lovely *post*!")

    (comment,) = stored_comments(app)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/posts/{post.slug}#comment-{comment.id}"
    html = page_text(client.get(response.headers["Location"]))
    assert "Thank you, your comment is published." in html
    assert f'id="comment-{comment.id}"' in html
    assert "<p>Lovely <em>post</em>!</p>" in html
    assert "Grace" in html
    assert '<h2 id="comments-heading">1 comment</h2>' in html


def test_comment_is_stored_with_what_the_person_typed(app, client, post):
    post_comment(
        client, post.slug, name="  Grace  ", email="grace@example.com", website="https://grace.example", body="Hi"
    )

    (comment,) = stored_comments(app)
    assert (comment.author_name, comment.author_email, comment.author_website) == (
        "Grace",
        "grace@example.com",
        "https://grace.example",
    )
    assert comment.status == CommentStatus.approved
    assert comment.created_at.tzinfo is not None
    assert comment.ip_hash and "127.0.0.1" not in comment.ip_hash


def test_email_is_never_shown_and_website_links_the_name(client, post):
    post_comment(client, post.slug, name="Grace", email="grace@example.com", website="https://grace.example")

    html = page_text(client.get(f"/posts/{post.slug}"))

    assert "grace@example.com" not in html
    assert '<a href="https://grace.example" rel="nofollow ugc noopener">Grace</a>' in html


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Please enter your name."),
        ({"name": "   "}, "name", "Please enter your name."),
        ({"name": "N" * 81}, "name", "Your name can be at most 80 characters long."),
        ({"body": ""}, "body", "Please write a comment."),
        ({"body": " \n "}, "body", "Please write a comment."),
        ({"body": "x" * 5001}, "body", "A comment can be at most 5,000 characters long."),
        ({"email": "not-an-email"}, "email", "Please enter a valid email address"),
        ({"email": "a" * 250 + "@example.com"}, "email", "An email address can be at most 254 characters long."),
        ({"website": "javascript:alert(1)"}, "website", "starting with http:// or https://"),
        ({"website": "ftp://example.com"}, "website", "starting with http:// or https://"),
        ({"website": "example.com"}, "website", "starting with http:// or https://"),
    ],
)
def test_invalid_comment_is_refused_with_a_message_and_the_input_kept(app, client, post, fields, field, message):
    typed = {"name": "Margaret", "email": "m@example.com", "website": "https://m.example", "body": "My words"}
    response = post_comment(client, post.slug, **(typed | fields))

    html = page_text(response)
    assert response.status_code == 400
    assert f'<p class="error" id="{field}-error">' in html and message in html
    assert 'aria-invalid="true"' in html
    assert "Your comment was not posted yet" in html
    for name, value in (typed | fields).items():
        if name != field:
            assert value in html, f"{name} was not kept"
    assert stored_comments(app) == []


def test_missing_csrf_token_stores_nothing_and_keeps_the_text(app, client, post):
    response = client.post(f"/posts/{post.slug}/comments", data={"name": "Eve", "body": "Words worth keeping"})

    assert response.status_code == 400
    html = page_text(response)
    assert "This form expired before it was sent" in html
    assert "Words worth keeping" in html and 'value="Eve"' in html
    assert stored_comments(app) == []


def test_forged_csrf_token_is_refused(app, client, post):
    response = post_comment(client, post.slug, csrf_token="forged-token")
    assert response.status_code == 400
    assert stored_comments(app) == []


def test_resubmitting_after_an_expired_form_works(app, client, post):
    refused = client.post(f"/posts/{post.slug}/comments", data={"name": "Eve", "body": "Second try"})
    fresh_token = csrf_token(client, f"/posts/{post.slug}")
    assert "Second try" in page_text(refused)

    accepted = post_comment(client, post.slug, name="Eve", body="Second try", csrf_token=fresh_token)

    assert accepted.status_code == 303
    assert [c.body for c in stored_comments(app)] == ["Second try"]


def test_honeypot_filled_in_is_not_published(app, client, post):
    response = post_comment(client, post.slug, body="Buy cheap pills", homepage="http://spam.example")

    assert response.status_code == 303
    assert response.headers["Location"].endswith("#comments")
    (comment,) = stored_comments(app)
    assert comment.status == CommentStatus.spam
    assert "Buy cheap pills" not in page_text(client.get(f"/posts/{post.slug}"))


def test_oversized_request_is_refused_with_a_friendly_413(app, client, post):
    token = csrf_token(client, f"/posts/{post.slug}")
    response = client.post(
        f"/posts/{post.slug}/comments", data={"csrf_token": token, "name": "Big", "body": "x" * (1024 * 1024 + 1)}
    )

    assert response.status_code == 413
    assert "larger than this blog accepts" in page_text(response)
    assert stored_comments(app) == []


def test_commenting_on_a_missing_post_is_a_404(client):
    response = client.post("/posts/nope/comments", data={"name": "A", "body": "B"})
    assert response.status_code == 404


def test_comment_form_is_labelled_and_works_without_javascript(client, post):
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert f'<form method="post" action="/posts/{post.slug}/comments#comment-form" novalidate>' in html
    for field in ("name", "email", "website", "body"):
        assert f'<label for="{field}">' in html
    assert '<button type="submit" name="action" value="post">Post comment</button>' in html


def test_too_many_comments_from_one_address_get_a_friendly_429(make_app, make_post):
    app = make_app(COMMENT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    post = make_post("Popular")

    statuses = [post_comment(client, post.slug, body=f"Comment {n}").status_code for n in range(3)]

    assert statuses == [303, 303, 429]
    response = post_comment(client, post.slug, name="Eager", body="One more thought")
    html = page_text(response)
    assert "You have posted several comments in a short time" in html
    assert "One more thought" in html and 'value="Eager"' in html
    with app.app_context():
        assert db.session.scalar(select(func.count(Comment.id))) == 2


def test_post_with_comments_closed_shows_no_form_and_refuses_comments(app, client, make_post):
    post = make_post("Closed", comments_open=False)
    token = csrf_token(client, f"/posts/{make_post('Open').slug}")  # a real token; the closed post has no form
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert "Comments are closed" in html and 'action="/posts/closed/comments' not in html

    response = client.post(
        f"/posts/{post.slug}/comments", data={"csrf_token": token, "name": "Late", "body": "Too late?"}
    )

    assert response.status_code == 403
    assert "Comments are closed on this post" in page_text(response) and "Too late?" in page_text(response)
    assert stored_comments(app) == []


def test_comments_close_automatically_on_old_posts(make_app, make_post):
    app = make_app(COMMENTS_CLOSE_AFTER_DAYS=30)
    client = app.test_client()
    old = make_post("Old news", published_at=now_utc() - timedelta(days=31))
    fresh = make_post("Fresh news", published_at=now_utc() - timedelta(days=29))

    assert "Comments are closed" in page_text(client.get(f"/posts/{old.slug}"))
    assert post_comment(client, fresh.slug).status_code == 303
    assert client.post(f"/posts/{old.slug}/comments", data={"name": "A", "body": "B"}).status_code == 403


def test_previewing_has_its_own_limit_so_a_person_who_previews_can_still_post(make_app, make_post):
    app = make_app(COMMENT_RATE_LIMIT="2 per minute", PREVIEW_RATE_LIMIT="3 per minute")
    client = app.test_client()
    post = make_post("Popular")

    previews = [post_comment(client, post.slug, body="Draft", action="preview").status_code for _ in range(3)]
    posted = [post_comment(client, post.slug, body=f"Comment {n}").status_code for n in range(2)]
    assert previews == [200, 200, 200] and posted == [303, 303]

    response = post_comment(client, post.slug, name="Eager", body="One more draft", action="preview")
    html = page_text(response)
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert "You have previewed many times in a short time" in html
    assert "One more draft" in html and 'value="Eager"' in html


def test_changing_ones_comment_is_rate_limited_and_keeps_the_typed_text(make_app, make_post):
    app = make_app(COMMENT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    post = make_post("Popular")
    assert post_comment(client, post.slug, body="First version").status_code == 303
    edit = f"/posts/{post.slug}/comments/1/edit"

    statuses = []
    for n in range(3):
        data = {"csrf_token": csrf_token(client, edit), "name": "Ada", "body": f"Version {n}"}
        statuses.append(client.post(edit, data=data).status_code)

    assert statuses == [303, 303, 429]
    response = client.post(edit, data={"csrf_token": csrf_token(client, edit), "name": "Ada", "body": "Last words"})
    html = page_text(response)
    assert response.status_code == 429
    assert "so this change was not saved yet" in html and "Last words" in html
    with app.app_context():
        assert db.session.get(Comment, 1).body == "Version 1"
