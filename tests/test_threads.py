"""Conversations: replies, preview, changing one's own comment, remembered details, long threads."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select
from sqlalchemy import update

import models
from admin.moderation import moderate
from comment_counts import recount_comments
from commenters import DETAILS_COOKIE
from commenters import EDIT_COOKIE_PREFIX
from database import db
from database import now_utc
from helpers import ATOM
from helpers import StatementCounter
from helpers import approve
from helpers import csrf_token
from helpers import page_text
from helpers import post_comment
from helpers import stored_comments
from models import Comment
from models import CommentStatus
from models import Post


def depths(html: str) -> list[tuple[str, int]]:
    """Return (first words of the comment, depth) for each comment on the page, in order."""
    items = re.findall(
        r'<li class="comment depth-(\d)[^"]*" id="comment-\d+">.*?<div class="comment-body"><p>([^<]*)', html, re.S
    )
    return [(text, int(depth)) for depth, text in items]


@pytest.fixture
def post(make_post):
    return make_post("Talk")


def test_reply_link_opens_the_form_under_a_replying_to_banner(client, post):
    post_comment(client, post.slug, name="Grace", body="Start")
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert f'href="/posts/{post.slug}?replyto=1#comment-form"' in html

    reply_page = page_text(client.get(f"/posts/{post.slug}?replyto=1"))

    assert "Reply to Grace" in reply_page and 'Replying to <a href="#comment-1">Grace</a>' in reply_page
    assert 'name="parent_id" type="hidden" value="1"' in reply_page
    assert "Cancel the reply" in reply_page


def test_replies_nest_up_to_three_levels_and_deeper_ones_stay_at_three(client, post):
    post_comment(client, post.slug, body="Root")  # 1
    post_comment(client, post.slug, body="Reply", parent_id="1")  # 2
    post_comment(client, post.slug, body="Reply to reply", parent_id="2")  # 3
    post_comment(client, post.slug, body="Deeper", parent_id="3")  # 4
    post_comment(client, post.slug, body="Second root")  # 5
    post_comment(client, post.slug, body="Late reply to root", parent_id="1")  # 6

    html = page_text(client.get(f"/posts/{post.slug}"))

    assert depths(html) == [
        ("Root", 1),
        ("Reply", 2),
        ("Reply to reply", 3),
        ("Deeper", 3),
        ("Late reply to root", 2),
        ("Second root", 1),
    ]
    assert 'in reply to <a href="#comment-3">Ada</a>' in html


def test_reply_link_to_a_missing_comment_opens_the_normal_form(client, post):
    html = page_text(client.get(f"/posts/{post.slug}?replyto=999"))
    assert "Leave a comment" in html and "Replying to" not in html
    assert 'name="parent_id" type="hidden" value=""' in html


@pytest.mark.parametrize("parent_id", ["999", "abc", "-1", "2"])
def test_reply_to_a_missing_held_or_foreign_comment_is_a_form_error(app, client, make_post, post, parent_id):
    other = make_post("Elsewhere")
    post_comment(client, post.slug, body="Here")  # 1
    post_comment(client, other.slug, body="There")  # 2 is on another post
    response = post_comment(client, post.slug, body="My reply", parent_id=parent_id)

    html = page_text(response)
    assert response.status_code == 400
    assert "The comment you are replying to does not exist here or is not published." in html
    assert "My reply" in html


def test_reply_to_a_held_comment_is_refused(make_app, make_post):
    app = make_app(COMMENT_MODERATION="all")
    client = app.test_client()
    post = make_post()
    post_comment(client, post.slug, body="Held")
    response = post_comment(client, post.slug, body="Reply to held", parent_id="1")
    assert response.status_code == 400 and "is not published" in page_text(response)


def test_preview_shows_the_sanitized_comment_and_stores_nothing(app, client, post):
    response = post_comment(client, post.slug, name="Ada", body="Look: *nice* <script>x</script>", action="preview")

    html = page_text(response)
    assert response.status_code == 200
    preview = html.split('class="comment-preview"', 1)[1].split("</ol>", 1)[0]
    assert "<p>Look: <em>nice</em> &lt;script&gt;x&lt;/script&gt;</p>" in preview
    assert "Look: *nice* &lt;script&gt;x&lt;/script&gt;</textarea>" in html
    with app.app_context():
        assert db.session.scalars(select(Comment)).all() == []


def test_preview_of_invalid_input_shows_the_errors(client, post):
    response = post_comment(client, post.slug, name="", action="preview")
    assert response.status_code == 400 and "Please enter your name." in page_text(response)


def test_commenter_can_edit_their_comment_within_the_window(app, client, post):
    post_comment(client, post.slug, body="Frist!")
    page = page_text(client.get(f"/posts/{post.slug}"))
    assert f'href="/posts/{post.slug}/comments/1/edit"' in page

    token = csrf_token(client, f"/posts/{post.slug}/comments/1/edit")
    response = client.post(
        f"/posts/{post.slug}/comments/1/edit", data={"csrf_token": token, "name": "Ada", "body": "*First*, fixed."}
    )

    assert response.status_code == 303
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert "<p><em>First</em>, fixed.</p>" in html and "Frist" not in html
    assert '<p class="edited">Edited</p>' in html


def test_editing_uses_the_same_validation(client, post):
    post_comment(client, post.slug, body="Original")
    token = csrf_token(client, f"/posts/{post.slug}/comments/1/edit")
    response = client.post(f"/posts/{post.slug}/comments/1/edit", data={"csrf_token": token, "name": "", "body": "x"})
    assert response.status_code == 400 and "Please enter your name." in page_text(response)


def test_commenter_can_delete_their_comment_within_the_window(app, client, post):
    post_comment(client, post.slug, body="Regrettable")
    token = csrf_token(client, f"/posts/{post.slug}")
    response = client.post(f"/posts/{post.slug}/comments/1/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Regrettable" not in page_text(client.get(f"/posts/{post.slug}"))
    assert client.get_cookie(f"{EDIT_COOKIE_PREFIX}1") is None


def test_nobody_else_can_edit_or_delete(app, client, post):
    post_comment(client, post.slug, body="Mine")
    stranger = app.test_client()
    assert "/comments/1/edit" not in page_text(stranger.get(f"/posts/{post.slug}"))

    response = stranger.get(f"/posts/{post.slug}/comments/1/edit")
    assert response.status_code == 403
    assert "can no longer be changed from this browser" in page_text(response)


def test_forged_edit_cookie_is_refused(app, client, post):
    post_comment(client, post.slug, body="Mine")
    genuine = client.get_cookie(f"{EDIT_COOKIE_PREFIX}1").value
    forger = app.test_client()
    forger.set_cookie(f"{EDIT_COOKIE_PREFIX}1", genuine[:-2] + "xx")
    assert forger.get(f"/posts/{post.slug}/comments/1/edit").status_code == 403
    forger.set_cookie(f"{EDIT_COOKIE_PREFIX}1", genuine)  # a cookie for comment 1 does not open comment 2
    post_comment(client, post.slug, body="Second")
    forger.set_cookie(f"{EDIT_COOKIE_PREFIX}2", genuine)
    assert forger.get(f"/posts/{post.slug}/comments/2/edit").status_code == 403


def test_edit_window_closes_after_the_configured_minutes(app, client, post, monkeypatch):
    post_comment(client, post.slug, body="Mine")
    later = now_utc() + timedelta(minutes=16)
    monkeypatch.setattr(models, "now_utc", lambda: later)
    monkeypatch.setattr("commenters.now_utc", lambda: later)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda signer: int(later.timestamp()))  # the cookie's age

    assert client.get(f"/posts/{post.slug}/comments/1/edit").status_code == 403
    assert "/comments/1/edit" not in page_text(client.get(f"/posts/{post.slug}"))


def test_remember_me_fills_in_the_details_next_time_but_never_the_text(client, post):
    post_comment(
        client,
        post.slug,
        name="Grace",
        email="g@example.com",
        website="https://g.example",
        body="Secret text",
        remember="y",
    )

    form = page_text(client.get(f"/posts/{post.slug}")).split('id="comment-form"', 1)[1]

    assert 'value="Grace"' in form and 'value="g@example.com"' in form and 'value="https://g.example"' in form
    assert "Secret text" not in form
    assert re.search(r'<input checked[^>]*id="remember"', form)


def test_details_are_not_remembered_unless_asked_and_are_forgotten_on_request(client, post):
    post_comment(client, post.slug, name="Grace")
    assert client.get_cookie(DETAILS_COOKIE) is None
    post_comment(client, post.slug, name="Grace", body="Again", remember="y")
    assert client.get_cookie(DETAILS_COOKIE) is not None
    post_comment(client, post.slug, name="Grace", body="And forget me")
    assert client.get_cookie(DETAILS_COOKIE) is None


def test_long_threads_are_paged_and_permalinks_find_any_comment(make_app, make_post):
    app = make_app(COMMENTS_PER_PAGE=3)
    client = app.test_client()
    post = make_post()
    for n in range(7):
        post_comment(client, post.slug, body=f"Comment {n}")
    post_comment(client, post.slug, body="Reply on page one", parent_id="1")

    first = page_text(client.get(f"/posts/{post.slug}"))  # three conversations a page, replies included
    assert [text for text, _ in depths(first)] == ["Comment 0", "Reply on page one", "Comment 1", "Comment 2"]
    assert "Comments page 1 of 3" in first and "?cpage=2#comments" in first
    assert [text for text, _ in depths(page_text(client.get(f"/posts/{post.slug}?cpage=3")))] == ["Comment 6"]
    assert client.get(f"/posts/{post.slug}?cpage=4").status_code == 404
    assert client.get(f"/posts/{post.slug}?cpage=zero").status_code == 404

    for comment_id, page in ((7, "?cpage=3"), (8, ""), (4, "?cpage=2")):  # 8 is the reply to comment 1
        response = client.get(f"/posts/{post.slug}/comments/{comment_id}")
        assert response.status_code == 302
        assert response.headers["Location"] == f"/posts/{post.slug}{page}#comment-{comment_id}"
    assert client.get(f"/posts/{post.slug}/comments/999").status_code == 404


@pytest.mark.parametrize("policy", ["off", "all"])
def test_a_commenter_is_sent_to_the_page_their_new_comment_is_on_held_or_published(make_app, make_post, policy):
    app = make_app(COMMENTS_PER_PAGE=2, COMMENT_MODERATION=policy)
    post = make_post()
    with app.app_context():
        for n in range(3):
            db.session.add(Comment(post_id=post.id, author_name="Grace", body=f"Earlier {n}", status="approved"))
        db.session.commit()
    newcomer = app.test_client()

    first = post_comment(newcomer, post.slug, body="My first words here")  # the fourth thread they see
    second = post_comment(newcomer, post.slug, body="And a second thought")  # the fifth, once they are known

    assert re.search(rf"^/posts/{post.slug}\?cpage=2#comment-\d+$", first.headers["Location"])
    assert re.search(rf"^/posts/{post.slug}\?cpage=3#comment-\d+$", second.headers["Location"])
    assert "<p>And a second thought</p>" in page_text(newcomer.get(second.headers["Location"]))


def test_a_reply_a_thousand_deep_is_found_and_shown_in_a_few_statements(make_app, make_post):
    app = make_app(COMMENTS_PER_PAGE=1, PAGE_CACHE=False)
    client = app.test_client()
    post = make_post()
    post_comment(client, post.slug, body="An earlier conversation")
    with app.app_context():
        parent_id = None
        for n in range(1000):
            reply = Comment(post_id=post.id, parent_id=parent_id, author_name="Ada", body=f"Reply {n}")
            reply.status = CommentStatus.approved
            db.session.add(reply)
            db.session.flush()
            parent_id = reply.id
        db.session.commit()

    with StatementCounter(app) as statements:
        answer = post_comment(client, post.slug, body="The last word", parent_id=str(parent_id))
    with StatementCounter(app) as permalink_statements:
        permalink = client.get(f"/posts/{post.slug}/comments/{parent_id}")

    assert answer.status_code == 303 and answer.headers["Location"].endswith("?cpage=2#comment-1002")
    assert permalink.headers["Location"] == f"/posts/{post.slug}?cpage=2#comment-{parent_id}"
    assert permalink_statements.count <= 4 and statements.count <= 20  # not one per comment above it
    page = page_text(client.get(answer.headers["Location"]))
    assert "<p>Reply 999</p>" in page and "<p>The last word</p>" in page


def test_comment_counts_on_lists_count_approved_comments_only(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time")
    client = app.test_client()
    post = make_post("Counted", tags=("Notes",))
    post_comment(client, post.slug)
    approve(app, stored_comments(app)[0].id)
    post_comment(app.test_client(), post.slug, body="Held one")

    for url in ("/", "/tags/notes"):
        assert ">1 comment</a>" in page_text(client.get(url))


def counts_and_places(app, post_id: int) -> tuple[int, int, list[int | None]]:
    """The post's comment and thread counts as stored, and the thread place of each of its comments in order."""
    with app.app_context():
        post = db.session.get(Post, post_id)
        places = select(Comment.thread_ordinal).where(Comment.post_id == post_id).order_by(Comment.id)
        return post.comment_count, post.thread_count, list(db.session.scalars(places))


def test_comments_posted_of_every_kind_are_counted_as_a_full_recount_counts_them(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time")
    post = make_post("Counted")
    regular, newcomer, bot = app.test_client(), app.test_client(), app.test_client()
    post_comment(regular, post.slug, body="First words")  # 1, held: a first comment
    approve(app, 1)
    post_comment(regular, post.slug, body="Known now")  # 2, published
    post_comment(regular, post.slug, body="A reply", parent_id="2")  # 3, published, in the thread of 2
    with app.app_context():
        moderate(db.session.get(Comment, 2), "delete")  # its reply starts a thread of its own
    post_comment(regular, post.slug, body="After the trash")  # 4, published
    post_comment(regular, post.slug, body="Another reply", parent_id="3")  # 5, published, in the thread of 3
    post_comment(newcomer, post.slug, body="Please let me in")  # 6, held
    post_comment(bot, post.slug, body="Cheap pills", homepage="https://spam.example")  # 7, spam

    kept = counts_and_places(app, post.id)
    with app.app_context():
        recount_comments({post.id})
        db.session.commit()

    assert kept == (4, 3, [1, None, 2, 3, None, None, None]) == counts_and_places(app, post.id)


def test_a_comment_posted_before_a_later_dated_one_takes_its_place_in_the_threads(make_app, make_post):
    app = make_app()
    post = make_post("Clocks")
    client = app.test_client()
    post_comment(client, post.slug, body="Now")  # 1
    with app.app_context():  # 2, imported from a server whose clock ran an hour ahead
        ahead = now_utc() + timedelta(hours=1)
        db.session.add(
            Comment(post_id=post.id, author_name="A", body="Later", status=CommentStatus.approved, created_at=ahead)
        )
        db.session.commit()
    post_comment(client, post.slug, body="Between")  # 3
    post_comment(client, post.slug, body="A reply", parent_id="3")  # 4

    kept = counts_and_places(app, post.id)
    with app.app_context():
        recount_comments({post.id})
        db.session.commit()

    assert kept == (4, 3, [1, 3, 2, None]) == counts_and_places(app, post.id)


def test_post_comments_feed_lists_approved_comments_as_atom(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time")
    client = app.test_client()
    post = make_post("Fed")
    post_comment(client, post.slug, name="Grace", body="Approved *one*")
    with app.app_context():
        db.session.execute(update(Comment).values(status=CommentStatus.approved))
        db.session.commit()
    post_comment(app.test_client(), post.slug, name="Held", body="Not in the feed")

    response = client.get(f"/posts/{post.slug}/comments.xml")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}author/{ATOM}name").text for e in entries] == ["Grace"]
    assert entries[0].find(f"{ATOM}content").text == "<p>Approved <em>one</em></p>"
    assert entries[0].find(f"{ATOM}id").text == f"http://localhost/posts/{post.slug}/comments/1"
    assert feed.find(f"{ATOM}updated").text
    assert client.get("/posts/nope/comments.xml").status_code == 404
