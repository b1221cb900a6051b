"""The readers' side: the home page, post pages, tag pages and the comment form."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from extensions import csrf
from extensions import limiter
from forms import CommentForm
from models import HELD_HONEYPOT
from models import Comment
from models import CommentStatus
from models import Post
from models import Tag
from models import Verdict
from models import db
from models import is_known_commenter
from models import paginate
from models import post_by_slug_or_404
from models import post_redirected_from
from models import published_posts
from models import tag_by_slug_or_404
from models import visible_comments

bp = Blueprint("blog", __name__)

COMMENTER_COOKIE = "inkwell_commenter"
COMMENTER_COOKIE_MAX_AGE = 365 * 24 * 3600

FLASH_PUBLISHED = "Thank you, your comment is published."
FLASH_HELD = "Thank you! Your comment is awaiting moderation and will appear once the author approves it."
COMMENTS_CLOSED = "Comments are closed on this post, so your comment was not posted. Your text is below, to keep."
TOO_MANY_COMMENTS = (
    "You have posted several comments in a short time, so this one was not posted yet. "
    "Please wait a minute, then press “Post comment” again: your text is kept below."
)
FORM_EXPIRED = (
    "This form expired before it was sent, so your comment was not posted yet. "
    "Everything you typed is still below: please press “Post comment” again."
)


def _commenter_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inkwell-commenter")


def commenter_key_from_cookie() -> str | None:
    """Return the commenter key from the signed cookie, or ``None`` when absent or tampered with."""
    cookie = request.cookies.get(COMMENTER_COOKIE)
    if not cookie:
        return None
    try:
        key = _commenter_serializer().loads(cookie)
    except BadSignature:
        return None
    return key if isinstance(key, str) else None


def remember_commenter(response: Response, key: str) -> None:
    """Set the signed, HttpOnly cookie that lets this browser be recognised as the same commenter."""
    response.set_cookie(
        COMMENTER_COOKIE,
        _commenter_serializer().dumps(key),
        max_age=COMMENTER_COOKIE_MAX_AGE,
        httponly=True,
        secure=request.is_secure,
        samesite="Lax",
    )


def client_ip_hash() -> str:
    """Return a keyed hash of the client's address: enough to spot abuse, useless to identify anyone."""
    address = (request.remote_addr or "").encode()
    return hmac.new(current_app.secret_key.encode(), address, hashlib.sha256).hexdigest()[:32]


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


def render_post_page(post: Post, form: CommentForm, form_error: str | None = None) -> str:
    """Render a post with the comments this reader may see and the comment form as given."""
    comments = visible_comments(post, commenter_key_from_cookie())
    return render_template(
        "blog/post.html",
        post=post,
        comments=comments,
        form=form,
        form_error=form_error,
        accepts_comments=post.accepts_comments(current_app.config["COMMENTS_CLOSE_AFTER_DAYS"]),
    )


@bp.get("/posts/<slug>")
def show_post(slug: str) -> ResponseReturnValue:
    """Show a post, its comments oldest first, and the comment form.

    An address the post had before its slug changed answers with a permanent redirect.
    """
    post = db.session.scalar(published_posts().where(Post.slug == slug))
    if post is None:
        moved = post_redirected_from(slug)
        if moved is not None:
            return redirect(url_for("blog.show_post", slug=moved.slug), 301)
        abort(404, description="There is no post at this address.")
    return render_post_page(post, CommentForm())


@bp.post("/posts/<slug>/comments")
@csrf.exempt  # not unprotected: CommentForm checks the token itself, so an expired one keeps the typed text
@limiter.limit(lambda: current_app.config["COMMENT_RATE_LIMIT"], on_breach=lambda limit: keep_comment_when_limited())
def add_comment(slug: str) -> ResponseReturnValue:
    """Accept a comment from the form, then redirect back to it (Post/Redirect/Get).

    Invalid input, or a missing or expired CSRF token, re-renders the post page with status 400, the
    errors beside their fields and everything typed kept; nothing is stored.
    """
    post = post_by_slug_or_404(slug)
    form = CommentForm()
    if not post.accepts_comments(current_app.config["COMMENTS_CLOSE_AFTER_DAYS"]):
        return render_post_page(post, form, form_error=COMMENTS_CLOSED), 403
    if not form.validate_on_submit():
        form_error = FORM_EXPIRED if form.csrf_token.errors else None
        return render_post_page(post, form, form_error), 400

    key = commenter_key_from_cookie() or secrets.token_urlsafe(24)
    verdict = _verdict_for_new_comment(form, key)
    comment = Comment(
        status=verdict.status,
        held_reason=verdict.reason,
        post=post,
        author_name=form.name.data,
        author_email=form.email.data or None,
        author_website=form.website.data or None,
        body=form.body.data,
        ip_hash=client_ip_hash(),
        commenter_key=key,
    )
    db.session.add(comment)
    db.session.commit()

    flash(FLASH_PUBLISHED if comment.status == CommentStatus.approved else FLASH_HELD, "success")
    anchor = "comments" if comment.status == CommentStatus.spam else f"comment-{comment.id}"
    response = redirect(url_for("blog.show_post", slug=post.slug, _anchor=anchor), 303)
    remember_commenter(response, key)
    return response


def keep_comment_when_limited() -> Response | None:
    """Answer a rate-limited comment with the post page, the message and the typed comment kept (429)."""
    slug = (request.view_args or {}).get("slug")
    post = db.session.scalar(published_posts().where(Post.slug == slug))
    if post is None:
        return None
    return make_response(render_post_page(post, CommentForm(), form_error=TOO_MANY_COMMENTS), 429)


def _verdict_for_new_comment(form: CommentForm, commenter_key: str) -> Verdict:
    # A filled honeypot is kept as spam rather than dropped: a person whose browser autofilled it
    # loses nothing, and the owner can still rescue the comment.
    if form.is_probably_spam:
        return Verdict(CommentStatus.spam, HELD_HONEYPOT)
    policy = current_app.config["COMMENT_MODERATION"]
    return Comment.initial_verdict(policy, is_known_commenter(commenter_key))
