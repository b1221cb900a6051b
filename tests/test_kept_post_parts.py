"""A post page the page cache missed keeps the post's own parts (its article and what the head says of it), and
never shows them stale.

After a new post, which changes every page's sidebar, the other posts' pages are rendered again but their articles
are not (fragments.py). After any change to what the article or the head shows (the post itself, its tags, its
images, its author's name, its comments' count, the settings) the next reader sees the page exactly as a blog
without any cache renders it.

The reader the page cache misses here is one with a cookie of ours holding nothing of theirs (a forged one): their
page is rendered for them every time; an anonymous reader gets the stored page, which is rendered for the change too.
"""

from __future__ import annotations

import io
import re
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from account.tables import User
from account.tables import UserRole
from admin.tables import Upload
from database import db
from database import now_utc
from helpers import StatementCounter
from helpers import anonymous_get
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import publish_now
from helpers import reader_the_page_cache_misses
from helpers import save
from helpers import settings_form
from helpers import submit_post
from models import Post
from models import Tag

ARTICLE = re.compile(r'<article class="post">.*?</article>', re.S)
HEAD = re.compile(r"<head>.*?</head>", re.S)
IMAGE = "harbour.png"


def article_of(response) -> str:
    return ARTICLE.search(page_text(response)).group(0)


def head_of(response) -> str:
    return HEAD.search(page_text(response)).group(0)


def the_post_kept(app, make_post, make_user):
    """A post with a tag, an author and a feature image, its parts kept by a first reader; and its owner."""
    owner_account = make_user("owner", UserRole.admin, display_name="Olive Owner")
    with app.app_context():
        db.session.add(Upload(name=IMAGE, alt="Boats at dawn", width=1200, height=800))
        db.session.commit()
    post = make_post(
        "Kept", tags=("sailing",), author=owner_account, published_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    )
    with app.app_context():
        db.session.get(Post, post.id).feature_image = IMAGE
        db.session.commit()
    owner = app.test_client()
    log_in(owner, "owner")
    reader_the_page_cache_misses(app).get(f"/posts/{post.slug}")
    return post, owner


def saved_in_the_editor(owner, post, *, body: str, tags: str) -> None:
    submit_post(
        owner, f"/admin/posts/{post.id}/edit", title="Kept", slug=post.slug, body=body, tags=tags, feature_image=IMAGE
    )


def edited(app, post, owner) -> tuple[str, str]:
    saved_in_the_editor(owner, post, body="Words *rewritten*.", tags="sailing")
    return "rewritten", "Some"


def retagged(app, post, owner) -> tuple[str, str]:
    saved_in_the_editor(owner, post, body="Some *words*.", tags="rowing")
    return "rowing", "sailing"


def tag_renamed(app, post, owner) -> tuple[str, str]:
    with app.app_context():
        db.session.scalars(select(Tag).filter_by(name="sailing")).one().name = "Yachting"
        db.session.commit()
    return ">Yachting<", ">sailing<"  # its address stays


def author_renamed(app, post, owner) -> tuple[str, str]:
    with app.app_context():
        db.session.scalars(select(User).filter_by(username="owner")).one().display_name = "Olive Skipper"
        db.session.commit()
    return "Olive Skipper", "Olive Owner"


def image_trashed(app, post, owner) -> tuple[str, str]:
    with app.app_context():
        db.session.get(Upload, IMAGE).trashed_at = now_utc()
        db.session.commit()
    return "", "Boats at dawn"


def image_described_again(app, post, owner) -> tuple[str, str]:
    with app.app_context():
        db.session.get(Upload, IMAGE).alt = "Boats at dusk"
        db.session.commit()
    return "Boats at dusk", "Boats at dawn"


def commented(app, post, owner) -> tuple[str, str]:
    post_comment(app.test_client(), post.slug, body="First!")
    return "1 comment", "No comments"


def time_zone_changed(app, post, owner) -> tuple[str, str]:
    save(owner, settings_form(owner), blog_timezone="Asia/Tokyo")
    return "1 April 2026", "31 March 2026"


def blog_renamed(app, post, owner) -> tuple[str, str]:
    save(owner, settings_form(owner), blog_title="The Logbook")
    return "The Logbook", ""


CHANGES = [
    edited,
    retagged,
    tag_renamed,
    author_renamed,
    image_trashed,
    image_described_again,
    commented,
    time_zone_changed,
    blog_renamed,
]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__ for change in CHANGES])
def test_the_next_page_shows_every_change_to_the_post_s_own_parts(cached_app, make_app, make_post, make_user, change):
    app = cached_app()
    post, owner = the_post_kept(app, make_post, make_user)
    path = f"/posts/{post.slug}"
    assert anonymous_get(app, path).status_code == 200  # stored too

    shown, gone = change(app, post, owner)

    uncached = make_app(PAGE_CACHE=False).test_client().get(path)
    for page in (reader_the_page_cache_misses(app).get(path), anonymous_get(app, path)):
        parts = head_of(page) + article_of(page)
        assert shown in parts and (not gone or gone not in parts)
        assert article_of(page) == article_of(uncached)
        assert head_of(page) == head_of(uncached)


def test_a_new_post_renders_the_other_pages_again_but_not_their_articles(cached_app, make_post, make_user):
    app = cached_app()
    post, owner = the_post_kept(app, make_post, make_user)
    before = reader_the_page_cache_misses(app).get(f"/posts/{post.slug}")

    publish_now(app, "Brand new")
    with StatementCounter(app) as after_the_new_post:
        after = anonymous_get(app, f"/posts/{post.slug}")

    assert "Brand new" in page_text(after)  # the sidebar's recent posts
    assert article_of(after) == article_of(before) and head_of(after) == head_of(before)
    assert not any(
        re.search(r"\bFROM (tags|uploads|users)\b", statement) for statement in after_the_new_post.statements
    )


@pytest.mark.parametrize("how", ["unpublished", "deleted"])
def test_a_post_taken_down_and_put_back_shows_its_words_as_they_are_then(cached_app, make_post, make_user, how):
    app = cached_app()
    post, owner = the_post_kept(app, make_post, make_user)
    path = f"/posts/{post.slug}"
    with app.app_context():
        kept = db.session.get(Post, post.id)
        if how == "deleted":
            db.session.delete(kept)
        else:
            kept.status = "draft"
        db.session.commit()

    assert reader_the_page_cache_misses(app).get(path).status_code == 404
    assert anonymous_get(app, path).status_code == 404

    make_post("Kept", body="Written *again*.", slug=post.slug) if how == "deleted" else submit_post(
        owner, f"/admin/posts/{post.id}/edit", title="Kept", slug=post.slug, body="Written *again*."
    )
    for page in (reader_the_page_cache_misses(app).get(path), anonymous_get(app, path)):
        assert "again" in article_of(page) and "Some" not in article_of(page)


def test_the_head_names_the_address_each_reader_came_to(cached_app, make_post, make_user):
    app = cached_app()
    post, owner = the_post_kept(app, make_post, make_user)

    pages = [
        reader_the_page_cache_misses(app).get(f"/posts/{post.slug}", base_url=f"http://{host}")
        for host in ("blog.example", "mirror.example")
    ]

    assert [set(re.findall(r'"https?://([^/"]+)/', head_of(page))) for page in pages] == [
        {"blog.example"},
        {"mirror.example"},
    ]


def test_the_link_down_to_the_comment_form_goes_when_comments_close(cached_app, make_post):
    app = cached_app(COMMENTS_CLOSE_AFTER_DAYS=1)
    post = make_post("Closing", published_at=now_utc() - timedelta(days=1) + timedelta(seconds=2))
    reader = reader_the_page_cache_misses(app)
    assert "Leave a comment" in article_of(reader.get(f"/posts/{post.slug}"))

    time.sleep(2.5)

    assert "Leave a comment" not in article_of(reader.get(f"/posts/{post.slug}"))


def test_copies_made_by_image_sizes_are_offered_on_the_next_page(cached_app, make_user, make_app):
    app = cached_app()
    make_user("owner", UserRole.admin)
    owner = app.test_client()
    log_in(owner, "owner")
    name = stored_image(owner)
    submit_post(owner, title="Harbour", body="At sea.", feature_image=name)
    for path in (Path(app.instance_path) / "uploads").glob("*.w*"):
        path.unlink()
    assert "srcset" not in article_of(reader_the_page_cache_misses(app).get("/posts/harbour"))

    assert app.test_cli_runner().invoke(args=["image-sizes"]).exit_code == 0

    for page in (reader_the_page_cache_misses(app).get("/posts/harbour"), anonymous_get(app, "/posts/harbour")):
        assert "srcset" in article_of(page)
        assert article_of(page) == article_of(make_app(PAGE_CACHE=False).test_client().get("/posts/harbour"))


def stored_image(owner) -> str:
    """Upload a photo with the post form's "Upload" button; return its stored name."""
    photo = io.BytesIO()
    Image.new("RGB", (1000, 500), "steelblue").save(photo, format="JPEG")
    photo.seek(0)
    response = submit_post(
        owner, title="Draft", body="Draft", action="upload", image=(photo, "harbour.jpg"), image_alt="Boats"
    )
    return re.search(r"/uploads/([A-Za-z0-9_-]+\.jpg)", page_text(response)).group(1)
