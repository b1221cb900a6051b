"""Answers for machines: Atom feeds, the sitemap, robots.txt and the health check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import make_response
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func

from addresses import absolute_link
from addresses import absolute_url
from database import database_problem
from database import db
from database import now_utc
from extensions import limiter
from models import Post
from models import Tag
from reading import post_by_slug_or_404
from reading import published_pages
from reading import published_posts
from reading import published_tag
from reading import tag_redirected_to
from reading import tags_with_counts
from reading import visible_comments
from responsive import share_image
from safetext import xml_safe

bp = Blueprint("feeds", __name__)

FEED_LENGTH = 20
ATOM = "application/atom+xml; charset=utf-8"
XML = "application/xml; charset=utf-8"


def post_json_ld(post: Post) -> dict[str, Any]:
    """Describe a post for search engines, as a schema.org BlogPosting."""
    url = absolute_url("blog.show_post", slug=post.slug)
    config = current_app.config
    author = post.author.display_name if post.author else config["BLOG_AUTHOR"] or config["BLOG_TITLE"]
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.title,
        "description": post.summary,
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": post.published_at.isoformat(timespec="seconds"),
        "dateModified": post.updated_at.isoformat(timespec="seconds"),
        "wordCount": post.word_count,
        "keywords": [tag.name for tag in post.tags],
        "author": {"@type": "Person", "name": author},
        "publisher": {"@type": "Organization", "name": config["BLOG_TITLE"]},
    }
    if image := share_image(post):
        data["image"] = absolute_link(image)
    return data


def conditional(body: str, content_type: str) -> Response:
    """Answer with ``body``; the page cache adds the validators and answers 304 when the reader has it.

    Characters XML cannot hold are dropped, whatever a stored name or title contains. The newest entry's
    date is not a validator: it goes back in time when an entry is removed (a comment marked as spam), so
    the page cache's ``Last-Modified`` is used instead (pageserver.finish_page).
    """
    response = make_response(xml_safe(body))
    response.headers["Content-Type"] = content_type
    return response


def _posts_feed(posts: list[Post], title: str, self_url: str, alternate_url: str) -> Response:
    updated = max((post.updated_at for post in posts), default=now_utc())
    xml = render_template(
        "feeds/atom.xml", posts=posts, title=title, self_url=self_url, alternate_url=alternate_url, updated=updated
    )
    return conditional(xml, ATOM)


@bp.get("/feed.xml")
def posts_feed() -> Response:
    """The Atom feed of the latest posts, with their full text."""
    posts = list(db.session.scalars(published_posts().limit(FEED_LENGTH)))
    title = current_app.config["BLOG_TITLE"]
    return _posts_feed(posts, title, absolute_url("feeds.posts_feed"), absolute_url("blog.index"))


@bp.get("/tags/<slug>/feed.xml")
def tag_feed(slug: str) -> ResponseReturnValue:
    """The Atom feed of the latest posts with one tag; a renamed or merged tag's old feed redirects (301)."""
    tag = published_tag(slug)
    if tag is None:
        moved = tag_redirected_to(slug)
        if moved is not None:
            return redirect(url_for("feeds.tag_feed", slug=moved.slug), 301)
        abort(404, description="There is no tag by that name.")
    posts = list(db.session.scalars(published_posts().where(Post.tags.any(Tag.id == tag.id)).limit(FEED_LENGTH)))
    title = f"{current_app.config['BLOG_TITLE']}: posts tagged “{tag.name}”"
    return _posts_feed(
        posts, title, absolute_url("feeds.tag_feed", slug=slug), absolute_url("blog.show_tag", slug=slug)
    )


@bp.get("/posts/<slug>/comments.xml")
def post_comments_feed(slug: str) -> Response:
    """The Atom feed of a post's approved comments, newest first."""
    post = post_by_slug_or_404(slug)
    comments = sorted(visible_comments(post, None), key=lambda c: (c.created_at, c.id), reverse=True)[:50]
    updated = max((c.edited_at or c.created_at for c in comments), default=post.updated_at)
    xml = render_template("feeds/comments.xml", post=post, comments=comments, updated=updated)
    return conditional(xml, ATOM)


def sitemap_entries() -> list[tuple[str, datetime | None]]:
    """Return every public address worth indexing, with when it last changed: home, posts, pages, tags."""
    latest = db.session.scalar(published_posts().with_only_columns(func.max(Post.updated_at)).order_by(None))
    entries = [(absolute_url("blog.index"), latest)]
    posts = published_posts().with_only_columns(Post.slug, Post.updated_at).order_by(None).order_by(Post.id)
    entries += [(absolute_url("blog.show_post", slug=slug), updated) for slug, updated in db.session.execute(posts)]
    pages = published_pages().with_only_columns(Post.slug, Post.updated_at)
    entries += [(absolute_url("blog.show_page", slug=slug), updated) for slug, updated in db.session.execute(pages)]
    entries += [(absolute_url("blog.show_tag", slug=tag.slug), None) for tag, _ in tags_with_counts()]
    return entries


def sitemap_length() -> int:
    """Count the addresses :func:`sitemap_entries` lists, without building them: a part past the end costs a
    count, not the address of every post."""
    posts = db.session.scalar(published_posts().with_only_columns(func.count(Post.id)).order_by(None).options())
    pages = db.session.scalar(published_pages().with_only_columns(func.count(Post.id)).order_by(None))
    return 1 + (posts or 0) + (pages or 0) + len(tags_with_counts())


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """The sitemap, or a sitemap index when there are more addresses than one sitemap may hold."""
    entries = sitemap_entries()
    size = current_app.config["SITEMAP_MAX_URLS"]
    if len(entries) <= size:
        return conditional(render_template("feeds/sitemap.xml", entries=entries), XML)
    pages = [absolute_url("feeds.sitemap_page", number=n) for n in range(1, (len(entries) - 1) // size + 2)]
    return conditional(render_template("feeds/sitemap_index.xml", pages=pages), XML)


@bp.get("/sitemap-<int:number>.xml")
def sitemap_page(number: int) -> Response:
    """One part of a large sitemap.

    :raise 404: past the last part.
    """
    size = current_app.config["SITEMAP_MAX_URLS"]
    if not 1 <= number <= (sitemap_length() - 1) // size + 1:
        abort(404, description="There is no such part of the sitemap.")
    entries = sitemap_entries()[(number - 1) * size : number * size]
    return conditional(render_template("feeds/sitemap.xml", entries=entries), XML)


@bp.get("/robots.txt")
def robots_txt() -> ResponseReturnValue:
    """Let crawlers in everywhere but the admin area, and point them to the sitemap."""
    lines = ["User-agent: *", "Disallow: /admin/", f"Sitemap: {absolute_url('feeds.sitemap')}", ""]
    return "\n".join(lines), 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    """Answer ``ok`` when the database answers, for load balancers and uptime monitors."""
    if database_problem():
        return "database unavailable\n", 503, {"Content-Type": "text/plain; charset=utf-8"}
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
