"""The readers' side: the home page, post pages, tags, the archive and search (comments live in comments.py)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

import search
from comments import show_post_page
from models import Post
from models import Tag
from models import db
from reading import Page
from reading import archive_months
from reading import month_bounds
from reading import page_of
from reading import post_at_legacy_address
from reading import post_redirected_from
from reading import posts_by_id
from reading import published_post
from reading import published_posts
from reading import requested_page
from reading import tag_by_slug_or_404
from reading import tags_with_counts

bp = Blueprint("blog", __name__)

SEARCH_RESULTS_PER_PAGE = 10


LEGACY_QUERY_ARGS = ("p", "page_id")  # WordPress's /?p=123 and /?page_id=45


@bp.get("/")
def index() -> ResponseReturnValue:
    """List the latest published posts, newest first, a page at a time.

    WordPress-style ``/?p=123`` addresses of imported posts redirect to the post.
    """
    for name in LEGACY_QUERY_ARGS:
        if request.args.get(name):
            moved = post_at_legacy_address(f"/?{name}={request.args[name]}")
            if moved is not None:
                return redirect(url_for("blog.show_post", slug=moved.slug), 301)
    posts = page_of(published_posts(), current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/index.html", posts=posts)


@bp.get("/tags/<slug>")
def show_tag(slug: str) -> str:
    """List the published posts with one tag."""
    tag = tag_by_slug_or_404(slug)
    query = published_posts().where(Post.tags.any(Tag.id == tag.id))
    posts = page_of(query, current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/tag.html", tag=tag, posts=posts)


@bp.get("/tags/")
def list_tags() -> str:
    """List every tag with published posts, with how many."""
    return render_template("blog/tags.html", tags=tags_with_counts())


@bp.get("/archive")
def archive() -> str:
    """List the months with published posts, newest first, with counts; small blogs list every post too."""
    months = archive_months()
    total = sum(count for _, _, count in months)
    posts_by_month: dict[tuple[int, int], list[Post]] = {}
    if total <= current_app.config["ARCHIVE_FULL_LIST_LIMIT"]:
        for post in db.session.scalars(published_posts()):
            posts_by_month.setdefault((post.published_at.year, post.published_at.month), []).append(post)
    return render_template("blog/archive.html", months=months, total=total, posts_by_month=posts_by_month)


@bp.get("/archive/<int:year>/<int:month>")
def archive_month(year: int, month: int) -> str:
    """List the posts published in one month.

    :raise 404: for a month that does not exist (13, 0, year 99999) or has no posts.
    """
    if not (1 <= month <= 12 and 1 <= year <= 9998):
        abort(404, description="There is no such month.")
    start, end = month_bounds(year, month)
    query = published_posts().where(Post.published_at >= start, Post.published_at < end)
    posts = page_of(query, current_app.config["POSTS_PER_PAGE"])
    if not posts.items:
        abort(404, description="Nothing was published that month.")
    return render_template("blog/archive_month.html", posts=posts, start=start, year=year, month=month)


@bp.get("/search")
def search_posts() -> str:
    """Search published posts by title, text and tags, best matches first, matching words highlighted."""
    query = request.args.get("q", "")
    words = search.search_words(query)
    matches = search.best_matches(words) if words else []
    number = requested_page()
    first = (number - 1) * SEARCH_RESULTS_PER_PAGE
    if number > 1 and first >= len(matches):
        abort(404, description="There is no such page of results.")
    shown = matches[first : first + SEARCH_RESULTS_PER_PAGE]
    return render_template(
        "blog/search.html",
        query=query[: search.MAX_QUERY_LENGTH],
        words=words,
        posts=Page(posts_by_id(shown), number, len(matches) > first + SEARCH_RESULTS_PER_PAGE),
        matches=min(len(matches), search.SEARCH_CANDIDATES),
        more_than_ranked=len(matches) > search.SEARCH_CANDIDATES,
        was_shortened=len(query) > search.MAX_QUERY_LENGTH,
    )


@bp.get("/posts/<slug>")
def show_post(slug: str) -> ResponseReturnValue:
    """Show a post, its comments as threads, and the comment form.

    An address the post had before its slug changed answers with a permanent redirect.
    """
    post = published_post(slug)
    if post is None:
        moved = post_redirected_from(slug)
        if moved is not None:
            return redirect(url_for("blog.show_post", slug=moved.slug), 301)
        abort(404, description="There is no post at this address.")
    return show_post_page(post)


def redirect_legacy_address(error: NotFound) -> ResponseReturnValue | None:
    """Send an address from the blog's previous engine (``/2019/05/slug/``) to the imported post, if any."""
    path = request.path
    for candidate in (path, path.rstrip("/") + "/", path.rstrip("/")):
        moved = post_at_legacy_address(candidate) if candidate else None
        if moved is not None:
            return redirect(url_for("blog.show_post", slug=moved.slug), 301)
    return None
