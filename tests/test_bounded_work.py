"""Bounded work: a public page costs the same few SQL statements whether the blog is small or large.

Pages are rendered with the page cache off, so every statement a first visit costs is counted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select

from account.tables import UserRole
from database import db
from database import now_utc
from helpers import page_text
from models import Comment
from models import CommentStatus
from models import Post
from stored_settings import saved_settings

MAX_STATEMENTS = 4
PUBLIC_PAGES = [
    "/",
    "/?page=2",
    "/posts/post-0",
    "/posts/post-0?cpage=2",
    "/tags/",
    "/tags/garden",
    "/tags/garden?page=2",
    "/archive",
    "/archive/{year}/{month}",
    "/search?q=post",
    "/search?q=post&page=2",
    "/feed.xml",
    "/tags/garden/feed.xml",
    "/posts/post-0/comments.xml",
    "/sitemap.xml",
    "/robots.txt",
]


@pytest.fixture
def blog(make_app, make_post, make_user):
    """Fill a blog with ``posts`` posts by two authors, each with tags and a threaded conversation."""
    app = make_app(PAGE_CACHE=False, POSTS_PER_PAGE=3, COMMENTS_PER_PAGE=5)
    with app.app_context():
        saved_settings()  # a worker reads them once, and again only after a change: not a cost of each page
    authors = [make_user("ada", UserRole.admin), make_user("bob", UserRole.author)]

    def fill(posts: int):
        start = now_utc() - timedelta(days=1)
        with app.app_context():
            existing = db.session.scalar(select(func.count(Post.id)))
        for n in range(existing, existing + posts):
            post = make_post(
                f"Post {n}",
                tags=("garden", f"topic {n % 4}"),
                author=authors[n % 2],
                published_at=start - timedelta(hours=n),
            )
            with app.app_context():
                for c in range(8):
                    parent = Comment(post_id=post.id, author_name=f"Reader {c}", body=f"Comment {c}")
                    parent.status = CommentStatus.approved
                    db.session.add(parent)
                    db.session.flush()
                    db.session.add(
                        Comment(
                            post_id=post.id,
                            parent_id=parent.id,
                            author_name="Replier",
                            body="A reply",
                            status=CommentStatus.approved,
                        )
                    )
                db.session.commit()
        return app

    return fill


def statements_for(app, path: str) -> tuple[int, int]:
    """Return (status code, SQL statements) for an anonymous reader's first visit to ``path``."""
    status, statements = statements_run_for(app, path)
    return status, len(statements)


def statements_run_for(app, path: str) -> tuple[int, list[str]]:
    """Return (status code, the SQL of each statement) for an anonymous reader's first visit to ``path``."""
    with app.app_context():
        engine = db.engine
    statements = []
    keep = lambda connection, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", keep)
    try:
        response = app.test_client().get(path)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return response.status_code, statements


def addresses() -> list[str]:
    today = now_utc() - timedelta(days=1)
    return [path.format(year=today.year, month=today.month) for path in PUBLIC_PAGES]


def test_every_public_page_runs_at_most_four_statements(blog):
    app = blog(12)
    for path in addresses():
        status, statements = statements_for(app, path)
        assert status == 200, path
        assert statements <= MAX_STATEMENTS, f"{path} ran {statements} SQL statements"


def test_statements_per_page_do_not_grow_with_posts_tags_or_comments(blog):
    app = blog(12)
    small = {path: statements_for(app, path)[1] for path in addresses()}
    blog(40)
    large = {path: statements_for(app, path)[1] for path in addresses()}
    assert large == small


def test_listings_show_comment_counts_kept_on_the_post(blog):
    app = blog(1)
    html = page_text(app.test_client().get("/"))
    assert "16 comments" in html
    with app.app_context():
        comment = db.session.get(Comment, 1)
        comment.status = CommentStatus.spam
        db.session.commit()
        assert db.session.get(Post, comment.post_id).comment_count == 15
    assert "15 comments" in page_text(app.test_client().get("/"))


@pytest.mark.parametrize("path", ["/?page=1000000000", "/tags/garden?page=1000000000", "/search?q=post&page=999999"])
def test_a_page_far_past_the_end_is_a_404(blog, path):
    assert statements_for(blog(3), path)[0] == 404


def test_a_ten_thousand_character_search_is_answered_with_a_bounded_query(blog):
    app = blog(3)
    status, statements = statements_for(app, "/search?q=" + "post " * 2000)
    assert status == 200 and statements <= MAX_STATEMENTS


@pytest.mark.parametrize("path", ["/sitemap-5.xml", "/sitemap-1000000000.xml"])
def test_a_sitemap_part_past_the_end_is_a_404_without_reading_every_post(blog, path):
    app = blog(12)
    app.config["SITEMAP_MAX_URLS"] = 5  # home, 12 posts and 5 tags: four parts
    assert statements_for(app, "/sitemap-4.xml")[0] == 200

    status, statements = statements_run_for(app, path)

    assert status == 404
    listing_every_post = [sql for sql in statements if sql.startswith("SELECT posts.slug, posts.updated_at")]
    assert not listing_every_post


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_far_page_of_a_listing_skips_the_posts_before_it_in_an_index_alone(blog):
    """The posts before page 500 are counted off in ix_posts_listed, which holds every column of the listing
    rule: no post before the page is read from the table (each was, and /?page=500 of 100,000 posts cost twice
    the first page)."""
    app = blog(4)
    _, statements = statements_run_for(app, "/?page=2")
    listing = next(statement for statement in statements if "LIMIT" in statement and "OFFSET" in statement)
    subquery = listing[listing.index("(SELECT posts.id") + 1 : listing.rindex(")")]
    with app.app_context():
        arguments = ["published", now_utc().isoformat(" "), "post", 4, 3]
        plan = db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {subquery}", tuple(arguments)).all()
    assert [row[-1] for row in plan] == [
        "SEARCH posts USING COVERING INDEX ix_posts_listed (status=? AND kind=? AND trashed_at=? AND published_at<?)"
    ]
