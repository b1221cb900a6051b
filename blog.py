"""The readers' side: the home page, tag pages and post pages (comments live in comments.py)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue

from comments import show_post_page
from models import Post
from models import Tag
from models import db
from models import paginate
from models import post_redirected_from
from models import published_posts
from models import tag_by_slug_or_404

bp = Blueprint("blog", __name__)


@bp.get("/")
def index() -> str:
    """List the latest published posts, newest first, a page at a time."""
    posts = paginate(published_posts(), current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/index.html", posts=posts)


@bp.get("/tags/<slug>")
def show_tag(slug: str) -> str:
    """List the published posts with one tag."""
    tag = tag_by_slug_or_404(slug)
    query = published_posts().where(Post.tags.any(Tag.id == tag.id))
    posts = paginate(query, current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/tag.html", tag=tag, posts=posts)


@bp.get("/posts/<slug>")
def show_post(slug: str) -> ResponseReturnValue:
    """Show a post, its comments as threads, and the comment form.

    An address the post had before its slug changed answers with a permanent redirect.
    """
    post = db.session.scalar(published_posts().where(Post.slug == slug))
    if post is None:
        moved = post_redirected_from(slug)
        if moved is not None:
            return redirect(url_for("blog.show_post", slug=moved.slug), 301)
        abort(404, description="There is no post at this address.")
    return show_post_page(post)
