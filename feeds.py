"""Answers for machines: feeds and health checks; the sitemap and robots.txt belong here too."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from extensions import limiter
from models import db
from models import now_utc
from models import post_by_slug_or_404
from models import visible_comments

bp = Blueprint("feeds", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    """Answer ``ok`` when the database answers, for load balancers and uptime monitors."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return "database unavailable\n", 503, {"Content-Type": "text/plain; charset=utf-8"}
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}


@bp.get("/posts/<slug>/comments.xml")
def post_comments_feed(slug: str) -> ResponseReturnValue:
    """An Atom feed of a post's approved comments, newest first."""
    post = post_by_slug_or_404(slug)
    comments = sorted(visible_comments(post, None), key=lambda c: (c.created_at, c.id), reverse=True)[:50]
    updated = max((c.edited_at or c.created_at for c in comments), default=post.updated_at or now_utc())
    xml = render_template("feeds/comments.xml", post=post, comments=comments, updated=updated)
    return xml, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}
