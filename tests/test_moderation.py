"""The owner decides which comments appear: COMMENT_MODERATION = off | first-time | all."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from account.tables import UserRole
from admin.moderation import COMMENTS_PER_QUEUE_PAGE
from admin.moderation import moderate
from commenters import COMMENTER_COOKIE
from database import db
from helpers import approve
from helpers import csrf_token
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import queue_action
from helpers import send_form_on_page
from models import Comment
from models import CommentStatus
from settings import ModerationPolicy
from spam import policy_verdict


def statuses(app) -> list[CommentStatus]:
    """The statuses of the comments not in the trash (where the queue's Delete moves them)."""
    with app.app_context():
        return list(db.session.scalars(select(Comment.status).where(Comment.trashed_at.is_(None)).order_by(Comment.id)))


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
    verdict = policy_verdict(ModerationPolicy(policy), is_known)
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
        moderate(db.session.get(Comment, 1), "spam")
    assert "Spammy spam" not in page_text(client.get(f"/posts/{post.slug}"))


# The moderation queue at /admin/comments


def test_the_queue_is_part_of_the_admin_area(make_app, make_user, make_post):
    app = make_app(COMMENT_MODERATION="all")
    make_user("owner")
    post_comment(app.test_client(), make_post("Held").slug, body="Waiting for the owner")
    logged_out = app.test_client().get("/admin/comments?status=pending")
    assert logged_out.status_code == 302
    assert logged_out.headers["Location"] == "/admin/login?next=/admin/comments?status%3Dpending"

    owner = app.test_client()
    log_in(owner, "owner")
    html = page_text(owner.get("/admin/comments"))

    assert 'href="/admin/" aria-current="page">Admin</a>' in html
    assert 'href="/admin/comments" aria-current="page">Comments <span class="badge">1 pending</span></a>' in html


def test_queue_lists_held_comments_first_with_their_details(make_app, make_post, make_user):
    app = make_app(COMMENT_MODERATION="first-time")
    reader, owner = app.test_client(), app.test_client()
    make_user("owner")
    log_in(owner, "owner")
    post = make_post("Busy post")
    post_comment(
        reader,
        post.slug,
        name="Newcomer",
        email="new@example.com",
        website="https://new.example",
        body="My *first* words",
    )
    approve(app, 1)
    post_comment(reader, post.slug, name="Newcomer", body="Already trusted")
    post_comment(app.test_client(), post.slug, name="Stranger", body="Hold me")

    html = page_text(owner.get("/admin/comments"))

    assert html.index("Awaiting approval on “Busy post”") < html.index("On “Busy post”")
    assert html.index("Hold me") < html.index("Already trusted")
    assert "new@example.com" in html and "https://new.example" in html
    assert "First comment from this commenter" in html
    assert "<p>My <em>first</em> words</p>" in html
    assert '<span class="badge">1 pending</span>' in html


def test_approving_in_the_queue_publishes_and_trusts_the_commenter(make_app, make_post, make_user):
    app = make_app(COMMENT_MODERATION="first-time")
    reader, owner = app.test_client(), app.test_client()
    make_user("owner")
    log_in(owner, "owner")
    post = make_post("Moderated")
    post_comment(reader, post.slug, body="First words")

    response = queue_action(
        owner, "/admin/comments/1/moderate", action="approve", back="/admin/comments?status=pending"
    )

    assert response.status_code == 303 and response.headers["Location"] == "/admin/comments?status=pending"
    assert "First words" in page_text(app_client_without_cookies(owner, post.slug))
    post_comment(reader, post.slug, body="Straight through now")
    assert statuses(app) == [CommentStatus.approved, CommentStatus.approved]


@pytest.mark.parametrize(
    ("action", "expected_status", "shown"),
    [("spam", CommentStatus.spam, False), ("pending", CommentStatus.pending, False)],
)
def test_queue_actions_change_what_readers_see(client, admin, make_post, action, expected_status, shown):
    post = make_post("Target")
    post_comment(client, post.slug, body="Visible for now")
    assert "Visible for now" in page_text(app_client_without_cookies(client, post.slug))

    queue_action(client, "/admin/comments/1/moderate", action=action)

    assert ("Visible for now" in page_text(app_client_without_cookies(client, post.slug))) is shown
    assert statuses(client.application) == ([expected_status] if expected_status else [])


def test_deleting_a_comment_asks_first_on_a_page_of_its_own_then_deletes_it(client, admin, make_post):
    post = make_post("Target")
    post_comment(client, post.slug, body="**Visible** for now")

    asked = queue_action(client, "/admin/comments/1/moderate", action="delete", back="/admin/comments?status=approved")

    html = page_text(asked)
    assert asked.status_code == 200 and "<h1>Delete this comment?</h1>" in html
    assert "<p>Visible for now</p>" in html and "It moves to the trash: readers no longer see it" in html
    assert '<a href="/admin/comments?status=approved">Cancel</a>' in html
    assert statuses(client.application) == [CommentStatus.approved]  # nothing happened yet

    deleted = send_form_on_page(client, asked, "/admin/comments/1/moderate")

    assert deleted.status_code == 303 and deleted.headers["Location"] == "/admin/comments?status=approved"
    assert statuses(client.application) == []
    assert "Visible for now" not in page_text(app_client_without_cookies(client, post.slug))
    assert "Moved to the trash: 1 comment." in page_text(client.get("/admin/comments"))


def test_deleting_ticked_comments_asks_first_listing_each_one(client, admin, make_post):
    post = make_post("Crowded")
    for n in range(4):
        post_comment(client, post.slug, body=f"Comment {n}")

    asked = queue_action(client, "/admin/comments/bulk", bulk_action="delete", ids=["1", "3"])

    html = page_text(asked)
    assert "<h1>Delete 2 comments?</h1>" in html and "Delete the 2 comments" in html
    assert "<p>Comment 0</p>" in html and "<p>Comment 2</p>" in html and "Comment 1" not in html
    assert len(statuses(client.application)) == 4

    send_form_on_page(client, asked, "/admin/comments/bulk")

    assert statuses(client.application) == [CommentStatus.approved, CommentStatus.approved]
    assert "Moved to the trash: 2 comments." in page_text(client.get("/admin/comments"))


def test_in_the_queue_delete_looks_dangerous_and_unlike_spam(client, admin, make_post):
    post_comment(client, make_post().slug)

    html = page_text(client.get("/admin/comments"))

    assert 'value="spam" class="secondary"' in html
    assert 'value="delete" class="danger"' in html and ">Delete…</button>" in html
    assert '<option value="delete">Delete (asks first)</option>' in html


def test_the_queue_pages_say_they_page_through_comments(app, client, admin, make_post):
    post = make_post()
    with app.app_context():
        db.session.add_all(
            Comment(post_id=post.id, author_name="Ada", body=f"Number {n}", status=CommentStatus.approved)
            for n in range(COMMENTS_PER_QUEUE_PAGE + 1)
        )
        db.session.commit()

    first, second = page_text(client.get("/admin/comments")), page_text(client.get("/admin/comments?page=2"))

    assert '<nav class="pagination" aria-label="More comments">' in first
    assert "Older comments →" in first and "posts" not in first[first.index('class="pagination"') :]
    assert "← Newer comments" in second


def test_bulk_action_applies_to_every_ticked_comment(client, admin, make_post):
    post = make_post("Spammed")
    for n in range(4):
        post_comment(client, post.slug, body=f"Comment {n}")

    response = queue_action(client, "/admin/comments/bulk", bulk_action="spam", ids=["1", "3", "bogus"])

    assert response.status_code == 303
    assert "Marked as spam: 2 comments." in page_text(client.get("/admin/comments"))
    assert statuses(client.application) == [
        CommentStatus.spam,
        CommentStatus.approved,
        CommentStatus.spam,
        CommentStatus.approved,
    ]


def test_bulk_action_with_nothing_ticked_says_so(client, admin, make_post):
    post = make_post()
    post_comment(client, post.slug)
    queue_action(client, "/admin/comments/bulk", bulk_action="approve")
    assert "Select at least one comment first." in page_text(client.get("/admin/comments"))


def test_unknown_moderation_action_is_a_friendly_400(client, admin, make_post):
    post = make_post()
    post_comment(client, post.slug)
    response = queue_action(client, "/admin/comments/1/moderate", action="explode")
    assert response.status_code == 400 and "That moderation action is unknown." in page_text(response)
    assert statuses(client.application) == [CommentStatus.approved]


def test_queue_filters_by_status_and_searches_author_email_and_text(client, admin, make_post):
    post = make_post()
    post_comment(client, post.slug, name="Alice", email="alice@example.com", body="About apples")
    post_comment(client, post.slug, name="Bob", body="About bananas")
    queue_action(client, "/admin/comments/2/moderate", action="spam")

    for query, expected, hidden in [
        ("?q=alice%40example", "About apples", "About bananas"),
        ("?q=banana", "About bananas", "About apples"),
        ("?status=spam", "About bananas", "About apples"),
        ("?q=%25_", "No comments match this filter.", "About"),
    ]:
        html = page_text(client.get(f"/admin/comments{query}"))
        assert expected in html and hidden not in html, query


def test_owner_can_correct_a_comment_and_it_is_sanitized_again(client, admin, make_post):
    post = make_post()
    post_comment(client, post.slug, body="Teh typo")
    token = csrf_token(client, "/admin/comments/1/edit")

    empty = client.post("/admin/comments/1/edit", data={"csrf_token": token, "body": ""})
    assert empty.status_code == 400 and "A comment cannot be empty" in page_text(empty)

    client.post("/admin/comments/1/edit", data={"csrf_token": token, "body": "The **fix** <script>x</script>"})
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert "The <strong>fix</strong> &lt;script&gt;" in html and "Teh typo" not in html


def test_reply_in_the_queue_quotes_the_comment_it_answers(app, client, admin, make_post):
    post = make_post()
    post_comment(client, post.slug, name="Parent", body="The original remark")
    with app.app_context():
        db.session.add(
            Comment(post_id=post.id, parent_id=1, author_name="Child", body="A reply", status=CommentStatus.pending)
        )
        db.session.commit()
    html = page_text(client.get("/admin/comments"))
    assert "In reply to Parent:" in html and "<p>The original remark</p>" in html


def test_authors_moderate_only_comments_on_their_own_posts(app, make_user, make_post):
    boss = make_user("boss")
    writer = make_user("writer", UserRole.author)
    reader, author_client = app.test_client(), app.test_client()
    post_comment(reader, make_post("Boss's", author=boss).slug, body="On the boss's post")
    post_comment(reader, make_post("Writer's", author=writer).slug, body="On the writer's post")
    log_in(author_client, "writer")

    html = page_text(author_client.get("/admin/comments"))
    assert "On the writer's post" in html and "boss's post" not in html
    response = queue_action(author_client, "/admin/comments/1/moderate", action="delete")
    assert response.status_code == 404
    assert statuses(app) == [CommentStatus.approved, CommentStatus.approved]
