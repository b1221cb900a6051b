"""A reader browses the blog: the home page, post pages, tags, and friendly errors."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from database import db
from database import now_utc
from helpers import executable_scripts
from helpers import page_text
from helpers import post_comment
from models import Comment
from models import CommentStatus
from models import Post
from models import PostKind
from models import PostStatus
from reading import visible_comments
from threads import comment_page_number


def titles_on(html: str) -> list[str]:
    return re.findall(r'<article class="summary">\s*<h2><a href="[^"]+">([^<]+)</a>', html)


def test_home_lists_published_posts_newest_first(client, make_post):
    now = now_utc()
    make_post("Oldest", published_at=now - timedelta(days=3))
    make_post("Newest", published_at=now - timedelta(minutes=5))
    make_post("Middle", published_at=now - timedelta(days=1))

    assert titles_on(page_text(client.get("/"))) == ["Newest", "Middle", "Oldest"]


def test_home_hides_drafts_and_posts_scheduled_for_later(client, make_post):
    make_post("Visible")
    make_post("Unfinished draft", status=PostStatus.draft)
    make_post("Tomorrow's news", published_at=now_utc() + timedelta(days=1))

    html = page_text(client.get("/"))

    assert titles_on(html) == ["Visible"]
    assert "Unfinished draft" not in html and "Tomorrow" not in html


def test_home_shows_excerpt_date_and_comment_count(client, make_post):
    post = make_post("Counted", body="First paragraph of the post.\n\nSecond paragraph.")
    post_comment(client, post.slug)
    post_comment(client, post.slug, body="Another one")

    html = page_text(client.get("/"))

    assert "First paragraph of the post. Second paragraph." in html
    assert "2 comments" in html
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+\+00:00">\d{1,2} \w+ \d{4}</time>', html)


def test_empty_blog_says_so_instead_of_erroring(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No posts have been published yet." in page_text(response)


def test_home_paginates_with_older_and_newer_links(make_app, make_post):
    client = make_app(POSTS_PER_PAGE=2).test_client()
    now = now_utc()
    for n in range(5):
        make_post(f"Post {n}", published_at=now - timedelta(hours=n + 1))

    first, second, last = (page_text(client.get(url)) for url in ("/", "/?page=2", "/?page=3"))

    assert titles_on(first) == ["Post 0", "Post 1"]
    assert 'rel="next" href="/?page=2"' in first and 'rel="prev"' not in first
    assert titles_on(second) == ["Post 2", "Post 3"]
    assert 'rel="prev" href="/"' in second and 'rel="next" href="/?page=3"' in second
    assert titles_on(last) == ["Post 4"]
    assert 'rel="next"' not in last


def test_every_page_of_the_home_page_lists_only_published_posts_in_order(make_app, make_post):
    """Pages, drafts, scheduled and trashed posts among the published ones are skipped, on far pages too."""
    app = make_app(POSTS_PER_PAGE=3)
    client = app.test_client()
    now = now_utc()
    listed = []
    for n in range(20):
        post = make_post(f"Post {n}", published_at=now - timedelta(hours=n + 1))
        with app.app_context():
            stored = db.session.get(Post, post.id)
            if n % 5 == 1:
                stored.kind = PostKind.page
            elif n % 5 == 2:
                stored.status = PostStatus.draft
            elif n % 5 == 3:
                stored.published_at = now + timedelta(days=1)
            elif n % 5 == 4:
                stored.move_to_trash("admin")
            else:
                listed.append(f"Post {n}")
            db.session.commit()
    for n in range(9):
        listed.append(f"Older {n}")
        make_post(f"Older {n}", published_at=now - timedelta(days=2, hours=n))

    pages = [titles_on(page_text(client.get(f"/?page={number}"))) for number in range(1, 6)]

    assert pages == [listed[start : start + 3] for start in range(0, 13, 3)]
    assert client.get("/?page=6").status_code == 404


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "", "4", "99999999999999999999999"])
def test_bad_or_out_of_range_page_is_a_friendly_404(make_app, make_post, page):
    client = make_app(POSTS_PER_PAGE=2).test_client()
    for n in range(5):
        make_post(f"Post {n}")

    response = client.get(f"/?page={page}")

    assert response.status_code == 404
    html = page_text(response)
    assert '<h1 id="error-heading">Page not found</h1>' in html
    assert '<main id="content"' in html


def test_post_page_shows_title_date_tags_and_rendered_body(client, make_post):
    post = make_post("Hello world", body="Some **bold** words.\n\n## A heading", tags=("Travel", "Notes"))

    html = page_text(client.get(f"/posts/{post.slug}"))

    assert "<h1>Hello world</h1>" in html
    assert "<strong>bold</strong>" in html and "<h2>A heading</h2>" in html
    assert 'href="/tags/travel" rel="tag">Travel</a>' in html
    assert 'href="/tags/notes" rel="tag">Notes</a>' in html
    assert "<title>Hello world · Inkwell</title>" in html


def test_post_without_comments_says_no_comments(client, make_post):
    post = make_post("Lonely")
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert "No comments yet" in html
    assert '<ol class="comment-list">' not in html


def test_post_page_shows_comments_oldest_first_with_permalinks(client, make_post):
    post = make_post("Discussed")
    for body in ("First!", "Second thoughts", "Third time lucky"):
        post_comment(client, post.slug, body=body)

    html = page_text(client.get(f"/posts/{post.slug}"))

    bodies = re.findall(r'<div class="comment-body"><p>([^<]+)</p>', html)
    assert bodies == ["First!", "Second thoughts", "Third time lucky"]
    ids = re.findall(r'<li class="comment depth-1" id="comment-(\d+)"', html)
    assert len(ids) == 3 and all(f'href="/posts/{post.slug}/comments/{i}"' in html for i in ids)
    assert '<h2 id="comments-heading">3 comments</h2>' in html


@pytest.mark.parametrize("slug_kind", ["unknown", "draft", "scheduled"])
def test_unknown_draft_or_scheduled_post_is_a_friendly_404(client, make_post, slug_kind):
    make_post("Draft", slug="draft", status=PostStatus.draft)
    make_post("Scheduled", slug="scheduled", published_at=now_utc() + timedelta(hours=2))

    response = client.get(f"/posts/{slug_kind}")

    assert response.status_code == 404
    html = page_text(response)
    assert "There is no post at this address." in html
    assert "Traceback" not in html and "<h1" in html


def test_every_page_lists_recent_posts(client, make_post):
    post = make_post("Recent one")
    for url in ("/", f"/posts/{post.slug}", "/no/such/page"):
        html = page_text(client.get(url))
        assert "Recent posts" in html and f'href="/posts/{post.slug}">Recent one</a>' in html


def test_tag_page_lists_only_posts_with_that_tag(client, make_post):
    make_post("Tagged", tags=("Cooking",))
    make_post("Untagged")

    html = page_text(client.get("/tags/cooking"))

    assert "Posts tagged “Cooking”" in html
    assert titles_on(html) == ["Tagged"]
    assert client.get("/tags/no-such-tag").status_code == 404


def test_comment_counts_include_only_approved_comments(make_app, make_post):
    app = make_app(COMMENT_MODERATION="all")
    client = app.test_client()
    post = make_post("Held back")
    post_comment(client, post.slug)

    assert "No comments" in page_text(app.test_client().get("/"))
    with app.app_context():
        assert db.session.scalars(select(Comment)).one().status == CommentStatus.pending


def test_pages_are_html_with_landmarks_and_a_language(client, make_post):
    post = make_post("Structure")
    html = page_text(client.get(f"/posts/{post.slug}"))
    assert html.startswith("<!doctype html>")
    assert '<html lang="en">' in html
    for landmark in ("<header", "<nav", '<main id="content"', "<aside", "<footer", "<article"):
        assert landmark in html
    assert '<a class="skip-link" href="#content">' in html
    assert executable_scripts(html) == [] and "style=" not in html


# Each rule about what readers may see is written once (on the model, usable in Python and in SQL); these tests
# say what each decides, and that every place asking it gets the same answer.

AN_HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "published_at", "published", "scheduled"),
    [
        (PostStatus.published, -AN_HOUR, True, False),
        (PostStatus.published, AN_HOUR, False, True),
        (PostStatus.published, None, False, False),
        (PostStatus.draft, -AN_HOUR, False, False),
        (PostStatus.draft, AN_HOUR, False, False),
    ],
    ids=["published", "scheduled", "published-without-date", "draft", "draft-with-future-date"],
)
def test_readers_see_a_post_once_it_is_published_and_its_date_has_come(
    app, client, make_post, status, published_at, published, scheduled
):
    post = make_post("Rule", status=status)
    with app.app_context():
        post = db.session.get(Post, post.id)
        post.published_at = None if published_at is None else now_utc() + published_at
        db.session.commit()
        in_sql = db.session.scalar(select(Post.id).where(Post.is_published)) is not None
        scheduled_in_sql = db.session.scalar(select(Post.id).where(Post.is_scheduled)) is not None

        assert (post.is_published, in_sql) == (published, published)
        assert (post.is_scheduled, scheduled_in_sql) == (scheduled, scheduled)
    assert client.get(f"/posts/{post.slug}").status_code == (200 if published else 404)
    assert ("Rule" in titles_on(page_text(client.get("/")))) is published


@pytest.mark.parametrize(
    ("status", "writer", "reader", "sees"),
    [
        (CommentStatus.approved, "writer", None, True),
        (CommentStatus.approved, "writer", "someone else", True),
        (CommentStatus.pending, "writer", "writer", True),
        (CommentStatus.pending, "writer", "someone else", False),
        (CommentStatus.pending, "writer", None, False),
        (CommentStatus.pending, None, None, False),  # imported with no commenter: nobody's own
        (CommentStatus.pending, "", "", False),
        (CommentStatus.spam, "writer", "writer", False),
    ],
    ids=[
        "approved-to-anyone",
        "approved-to-another",
        "held-to-its-writer",
        "held-to-another",
        "held-to-anyone",
        "held-without-writer",
        "held-with-empty-key",
        "spam-to-its-writer",
    ],
)
def test_a_held_comment_is_seen_only_by_the_browser_that_wrote_it(app, make_post, status, writer, reader, sees):
    post = make_post()
    with app.app_context():
        comment = Comment(post_id=post.id, author_name="Ada", body="Hello", status=status, commenter_key=writer)
        db.session.add(comment)
        db.session.commit()
        in_sql = db.session.scalar(select(Comment.id).where(Comment.is_visible_to(reader))) is not None

        assert (comment.is_visible_to(reader), in_sql) == (sees, sees)
        assert visible_comments(post, reader) == ([comment] if sees else [])
        assert comment_page_number(comment, reader, per_page=10) == (1 if sees else None)
