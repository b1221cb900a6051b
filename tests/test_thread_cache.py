"""A post page the page cache missed keeps the thread of comments everyone sees, and never shows it stale.

After a change elsewhere on the blog (a new post changes every page's sidebar) the page is rendered again but
its thread is not (fragments.py). After any change to the post's own comments, or a setting, the next reader
sees the thread exactly as a blog without any cache renders it. A reader with comments of their own on the
page (held for moderation, or still theirs to edit) gets their own thread, and never shares it.

The reader the page cache misses here is one with a cookie of ours holding nothing of theirs (a forged one):
their page is rendered for them every time, with the shared thread.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC
from datetime import datetime

import pytest
from flask import url_for
from sqlalchemy import select

from account.tables import User
from account.tables import UserRole
from addresses import REMEMBERED_ADDRESSES_KEY
from addresses import relative_url
from blog import shown_post
from database import db
from fragments import RecentPieces
from helpers import TEST_REDIS_URL
from helpers import StatementCounter
from helpers import anonymous_get
from helpers import approve
from helpers import csrf_token
from helpers import exported
from helpers import form_fields
from helpers import imported
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import press_undo
from helpers import publish_now
from helpers import queue_action
from helpers import reader_the_page_cache_misses
from helpers import save
from helpers import settings_form
from helpers import submit_post
from helpers import wipe
from models import Comment
from models import Post

THREAD = re.compile(r'<section class="comments".*?</section>', re.S)
EDIT_LINK = re.compile(r'href="/posts/[^"]+/comments/\d+/edit"')


def thread_of(response) -> str:
    """The comments section of a post page: the heading, the pagination links and the thread."""
    return THREAD.search(page_text(response)).group(0)


def as_rendered_without_any_cache(make_app, path: str, **settings) -> str:
    """The thread a blog without the page cache (another app on the same database) shows at ``path``."""
    return thread_of(make_app(PAGE_CACHE=False, **settings).test_client().get(path))


def logged_in_owner(app, make_user):
    make_user("owner", UserRole.admin)
    owner = app.test_client()
    log_in(owner, "owner")
    return owner


def test_a_new_post_renders_every_sidebar_again_but_not_the_threads(cached_app, make_post):
    app = cached_app()
    post = make_post("Talked about")
    for n in range(3):
        post_comment(app.test_client(), post.slug, name=f"Reader {n}", body=f"Words number {n}")
    with StatementCounter(app) as first_render:
        before = reader_the_page_cache_misses(app).get(f"/posts/{post.slug}")

    publish_now(app, "Brand new")  # through the app, whose store (Redis too) learns of it, as on every server
    with StatementCounter(app) as after_the_new_post:
        after = anonymous_get(app, f"/posts/{post.slug}")

    assert "Brand new" in page_text(after)  # the sidebar's recent posts
    assert thread_of(after) == thread_of(before)
    assert any(reads_comments(statement) for statement in first_render.statements)
    assert not any(reads_comments(statement) for statement in after_the_new_post.statements)


def reads_comments(statement: str) -> bool:
    return re.search(r"\bFROM comments\b", statement) is not None


def test_a_post_page_rendered_again_runs_no_sql_yet_shows_the_next_comment_and_edit(cached_app, make_post):
    app = cached_app(COMMENT_MODERATION="off")
    post = make_post("Talked about")
    post_comment(app.test_client(), post.slug, name="Ann", body="First words")
    reader = reader_the_page_cache_misses(app)  # rendered for them each time, never stored
    reader.get(f"/posts/{post.slug}")  # gives the post a generation of its own (made-up slugs get none)
    first = reader.get(f"/posts/{post.slug}")  # keeps its row under it

    with StatementCounter(app) as again:
        second = reader.get(f"/posts/{post.slug}")
    post_comment(app.test_client(), post.slug, name="Bob", body="Second words")
    with app.app_context():
        db.session.get(Post, post.id).title = "Talked about, edited"
        db.session.commit()
    after = page_text(reader.get(f"/posts/{post.slug}"))

    assert again.count == 0, (
        again.statements
    )  # the post's row, its neighbours, thread, form and article all kept by the worker
    assert thread_of(second) == thread_of(first) and "1 comment" in page_text(second)
    assert "Second words" in after and "2 comments" in after and "Talked about, edited" in after


def test_the_comment_form_kept_between_renders_posts_with_this_page_s_tokens(cached_app, make_post, make_app):
    app = cached_app(COMMENT_MODERATION="off")
    post = make_post("Talked about")
    path = f"/posts/{post.slug}"
    reader = reader_the_page_cache_misses(app)
    kept_with = form_fields(reader.get(path), f"{path}/comments#comment-form")  # the form is kept from here on
    time.sleep(1.1)  # tokens are signed with the time in seconds
    make_post("Brand new")

    fields = form_fields(page := reader.get(path), f"{path}/comments#comment-form")
    response = reader.post(f"{path}/comments", data=fields | FILLED_IN)

    assert fields["csrf_token"] != kept_with["csrf_token"] and fields["started"] != kept_with["started"]
    assert response.status_code == 303
    assert "Sent from a kept form" in thread_of(anonymous_get(app, path))
    assert without_tokens(form_of(page)) == without_tokens(form_of(make_app(PAGE_CACHE=False).test_client().get(path)))


def test_the_kept_comment_form_follows_the_settings(cached_app, make_post, make_user):
    app = cached_app(COMMENT_MODERATION="off")
    post = make_post("Talked about")
    reader = reader_the_page_cache_misses(app)
    assert "may wait for the author's approval" not in form_of(reader.get(f"/posts/{post.slug}"))
    owner = logged_in_owner(app, make_user)

    save(owner, settings_form(owner), comment_moderation="all")

    assert "may wait for the author's approval" in form_of(reader.get(f"/posts/{post.slug}"))


FILLED_IN = {"name": "Late reader", "body": "Sent from a kept form"}
FORM = re.compile(r'<section class="comment-form".*?</section>', re.S)
TOKEN_VALUE = re.compile(r'(name="(?:csrf_token|started)"[^>]*value=")[^"]*"')


def form_of(response) -> str:
    return FORM.search(page_text(response)).group(0)


def without_tokens(html: str) -> str:
    return TOKEN_VALUE.sub(r'\1…"', html)


def test_the_thread_is_kept_per_comment_page(cached_app, make_post, make_app):
    app = cached_app(COMMENTS_PER_PAGE=2)
    post = make_post("Long thread")
    for n in range(5):
        post_comment(app.test_client(), post.slug, name=f"Reader {n}", body=f"Words number {n}")
    reader = reader_the_page_cache_misses(app)

    pages = [reader.get(f"/posts/{post.slug}?cpage={number}") for number in (1, 2, 3)]

    assert [response.status_code for response in pages] == [200, 200, 200]
    assert "Words number 0" in page_text(pages[0]) and "Words number 0" not in page_text(pages[1])
    assert "Words number 4" in page_text(pages[2])
    for number, page in enumerate(pages, start=1):
        assert thread_of(page) == as_rendered_without_any_cache(
            make_app, f"/posts/{post.slug}?cpage={number}", COMMENTS_PER_PAGE=2
        )
    assert reader.get(f"/posts/{post.slug}?cpage=4").status_code == 404


def new_comment(app, client, post, owner) -> tuple[str, str]:
    post_comment(client, post.slug, name="Newcomer", body="A brand new comment")
    return "A brand new comment", ""


def approval(app, client, post, owner) -> tuple[str, str]:
    with app.app_context():
        held = db.session.scalars(select(Comment).filter_by(author_name="Holder")).one().id
    approve(app, held)
    return "Held until now", ""


def commenters_edit(app, client, post, owner) -> tuple[str, str]:
    edit = f"/posts/{post.slug}/comments/1/edit"
    client.post(edit, data={"csrf_token": csrf_token(client, edit), "name": "First", "body": "Corrected words"})
    return "", "First words"  # held for the owner again, as a first-time commenter's edit is


def commenters_delete(app, client, post, owner) -> tuple[str, str]:
    token = csrf_token(client, f"/posts/{post.slug}", action=f"/posts/{post.slug}/comments/1/delete")
    client.post(f"/posts/{post.slug}/comments/1/delete", data={"csrf_token": token})
    return "", "First words"


def marked_as_spam(app, client, post, owner) -> tuple[str, str]:
    queue_action(owner, "/admin/comments/1/moderate", action="spam")
    return "", "First words"


def moved_to_the_trash(app, client, post, owner) -> tuple[str, str]:
    queue_action(owner, "/admin/comments/1/moderate", action="delete", confirmed="yes")
    return "", "First words"


def trash_undone(app, client, post, owner) -> tuple[str, str]:
    queue_action(owner, "/admin/comments/1/moderate", action="delete", confirmed="yes")
    assert "First words" not in thread_of(app.test_client().get(f"/posts/{post.slug}"))  # kept without it
    press_undo(owner)
    return "First words", ""


def time_zone_changed(app, client, post, owner) -> tuple[str, str]:
    with app.app_context():
        comment = db.session.get(Comment, 1)
        comment.created_at = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
        db.session.commit()
    assert "31 Mar" in thread_of(app.test_client().get(f"/posts/{post.slug}"))  # kept with the old zone
    save(owner, settings_form(owner), blog_timezone="Asia/Tokyo")
    return "1 Apr", ""


def comments_closed(app, client, post, owner) -> tuple[str, str]:
    submit_post(owner, f"/admin/posts/{post.id}/edit", title="Talked about", slug=post.slug, comments_open="")
    return "Comments are closed", ">Reply<"


CHANGES = [
    new_comment,
    approval,
    commenters_edit,
    commenters_delete,
    marked_as_spam,
    moved_to_the_trash,
    trash_undone,
    time_zone_changed,
    comments_closed,
]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__ for change in CHANGES])
def test_the_next_page_shows_every_change_to_the_thread(cached_app, make_app, make_post, make_user, change):
    app = cached_app(COMMENT_MODERATION="first-time")
    post = make_post("Talked about")
    path = f"/posts/{post.slug}"
    commenter = app.test_client()
    post_comment(commenter, post.slug, name="First", body="First words")
    approve(app, 1)  # approved by the owner: this commenter's comments are published from now on
    post_comment(app.test_client(), post.slug, name="Holder", body="Held until now")
    owner = logged_in_owner(app, make_user)
    reader = reader_the_page_cache_misses(app)
    assert "First words" in page_text(reader.get(path)) and "First words" in page_text(anonymous_get(app, path))

    shown, gone = change(app, commenter, post, owner)

    for page in (reader.get(path), anonymous_get(app, path)):
        assert shown in page_text(page) and (not gone or gone not in thread_of(page))
        assert thread_of(page) == as_rendered_without_any_cache(make_app, path, COMMENT_MODERATION="first-time")


def test_a_post_renamed_and_renamed_back_shows_the_comments_left_in_between(cached_app, make_post, make_user):
    app = cached_app()
    post = make_post("Renamed", slug="first-name")
    post_comment(app.test_client(), post.slug, body="Before the rename")
    reader = reader_the_page_cache_misses(app)
    assert "Before the rename" in page_text(reader.get("/posts/first-name"))
    owner = logged_in_owner(app, make_user)

    submit_post(owner, f"/admin/posts/{post.id}/edit", title="Renamed", slug="second-name")
    post_comment(app.test_client(), "second-name", body="Between the renames")
    submit_post(owner, f"/admin/posts/{post.id}/edit", title="Renamed", slug="first-name")

    assert "Between the renames" in page_text(reader.get("/posts/first-name"))


def test_a_held_comment_is_shown_to_its_writer_only_and_never_shared(cached_app, make_post):
    app = cached_app(COMMENT_MODERATION="all", COMMENT_EDIT_MINUTES=0)
    post = make_post("Moderated")
    writer = app.test_client()
    post_comment(writer, post.slug, body="Mine alone for now")

    own_page = writer.get(f"/posts/{post.slug}")
    others = [reader_the_page_cache_misses(app).get(f"/posts/{post.slug}"), anonymous_get(app, f"/posts/{post.slug}")]

    assert "Mine alone for now" in page_text(own_page) and "Awaiting moderation" in page_text(own_page)
    for page in others:
        assert "Mine alone for now" not in page_text(page) and "Awaiting moderation" not in page_text(page)
    assert "Mine alone for now" in page_text(writer.get(f"/posts/{post.slug}"))  # after the others, still theirs


def test_edit_links_are_shown_to_the_writer_only_and_never_shared(cached_app, make_post):
    app = cached_app()
    post = make_post("Editable")
    writer = app.test_client()
    post_comment(writer, post.slug, body="I may change this")

    own_page = writer.get(f"/posts/{post.slug}")
    others = [reader_the_page_cache_misses(app).get(f"/posts/{post.slug}"), anonymous_get(app, f"/posts/{post.slug}")]

    assert EDIT_LINK.search(page_text(own_page))
    for page in others:
        assert "I may change this" in page_text(page) and not EDIT_LINK.search(page_text(page))
    assert EDIT_LINK.search(page_text(writer.get(f"/posts/{post.slug}")))


def test_a_blog_imported_over_the_old_one_shows_the_imported_threads(cached_app, make_post):
    app = cached_app()
    post = make_post("Moved in")
    post_comment(app.test_client(), post.slug, body="In the export")
    export = exported(app)
    post_comment(app.test_client(), post.slug, body="Only before the import")
    reader = reader_the_page_cache_misses(app)
    assert "Only before the import" in page_text(reader.get(f"/posts/{post.slug}"))

    wipe(app)
    imported(app, export)

    page = reader.get(f"/posts/{post.slug}")
    assert "In the export" in page_text(page) and "Only before the import" not in page_text(page)


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_two_servers_sharing_redis_show_each_others_comments_on_a_missed_page(make_app, make_post):
    settings = {
        "PAGE_CACHE": True,
        "REDIS_URL": TEST_REDIS_URL,
        "CACHE_KEY_PREFIX": f"inkwell-test-{uuid.uuid4().hex}:",
    }
    first, second = make_app(**settings), make_app(**settings)
    post = make_post("Shared")
    reader = reader_the_page_cache_misses(second)
    reader.get(f"/posts/{post.slug}")

    post_comment(first.test_client(), post.slug, body="Posted on the first server")

    assert "Posted on the first server" in page_text(reader.get(f"/posts/{post.slug}"))


def test_a_stopped_store_renders_the_thread_every_time(make_app, make_post):
    app = make_app(PAGE_CACHE=True, REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI="memory://")
    post = make_post("Resilient")
    post_comment(app.test_client(), post.slug, body="Still shown")

    pages = [reader_the_page_cache_misses(app).get(f"/posts/{post.slug}") for _ in range(2)]

    assert [page.status_code for page in pages] == [200, 200]
    assert all("Still shown" in page_text(page) for page in pages)


def test_a_kept_post_carries_nothing_of_its_author_s_account(cached_app, make_post, make_user):
    """The post's row is kept, not its author: an account changed since (role, sessions) is read as it is now."""
    app = cached_app()
    author = make_user("writer", UserRole.admin, display_name="Writer")
    post = make_post("Talked about", author=author)
    reader = reader_the_page_cache_misses(app)
    reader.get(f"/posts/{post.slug}")
    reader.get(f"/posts/{post.slug}")  # the row kept from here on
    with app.app_context():
        account = db.session.get(User, author.id)
        account.role, account.session_version = UserRole.author, "signed out everywhere"
        db.session.commit()

    with app.test_request_context(f"/posts/{post.slug}"):
        signed_in = db.session.get(User, author.id)  # as the request's current_user is loaded before the view
        shown = shown_post(post.slug)
        assert shown.author is signed_in and shown.author.display_name == "Writer"
        assert (signed_in.role, signed_in.session_version) == (UserRole.author, "signed out everywhere")
    assert "Writer" in page_text(reader.get(f"/posts/{post.slug}"))


def test_addresses_remembered_by_a_worker_are_those_flask_builds(cached_app):
    app = cached_app()
    for root in ("http://localhost/", "http://localhost/blog/"):  # two site roots, two addresses
        with app.test_request_context("/", base_url=root):
            for values in ({"page": True}, {"page": 1}, {"page": 1.0}, {"page": 2, "q": None}):
                assert relative_url("blog.index", **values) == url_for("blog.index", **values)
            for words in (f"hello {n} " + "🌱" * 100 for n in range(50)):  # anyone's search, up to 200 characters
                assert relative_url("blog.search_posts", q=words) == url_for("blog.search_posts", q=words)
    assert len(app.extensions[REMEMBERED_ADDRESSES_KEY]) == 8  # the page numbers above, none of the searches


def test_a_worker_s_kept_pieces_count_their_entries_even_when_empty():
    pieces = RecentPieces(limit=10_000)
    for number in range(1_000):
        pieces.put(f"an empty thread {number}", "")
    assert len(pieces._pieces) < 100 and pieces.get("an empty thread 999") == ""
    for number in range(3):  # a long post's row counts its text
        pieces.put(f"a post's row {number}", {"id": number, "body_html": "words " * 1_000})
    assert pieces.get("a post's row 0") is None and pieces.get("a post's row 2") is not None
