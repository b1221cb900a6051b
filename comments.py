"""Readers' comments: posting, previewing, replying, changing one's own comment, and unsubscribing.

Everything here works with the plain HTML form, without JavaScript. The post page the comments and the
form appear on is rendered in blog.py; a form sent with errors is shown on it again from there.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user
from itsdangerous import BadSignature

import notifications
import spam
from blog import comment_location
from blog import render_post_page
from comment_counts import count_new_comment
from commenters import EDIT_COOKIE_PREFIX
from commenters import client_ip_hash
from commenters import commenter_key_from_cookie
from commenters import edit_minutes_left
from commenters import grant_edit
from commenters import may_edit
from commenters import note_held_comments
from commenters import remember_commenter
from commenters import update_remembered_details
from database import db
from database import insert_row
from database import now_utc
from extensions import csrf
from extensions import limiter
from forms import CommentForm
from forms import OwnCommentDeleteForm
from forms import checks_its_own_characters
from models import Comment
from models import CommentStatus
from models import Post
from pagecache import fresh_token
from pagecache import note_new_comment
from reading import post_by_slug_or_404
from reading import post_to_comment_on_or_404
from reading import published_post

bp = Blueprint("comments", __name__)


FLASH_PUBLISHED = "Thank you, your comment is published."
FLASH_HELD = "Thank you! Your comment is awaiting moderation and will appear once the author approves it."
FLASH_EDITED = "Your comment is updated."
FLASH_EDIT_HELD = (
    "Your comment is updated. Because it changed after it was published, it is awaiting moderation again "
    "and will appear once the author approves it."
)
COMMENTS_CLOSED = "Comments are closed on this post, so your comment was not posted. Your text is below, to keep."
TOO_MANY_COMMENTS = (
    "You have posted several comments in a short time, so this one was not posted yet. "
    "Please wait {wait}, then press “Post comment” again: your text is kept below."
)
TOO_MANY_PREVIEWS = (
    "You have previewed many times in a short time, so this preview is not shown. "
    "Please wait {wait} before the next preview; you can still post your comment now: your text is kept below."
)
TOO_MANY_EDITS = (
    "You have changed or posted several comments in a short time, so this change was not saved yet. "
    "Please wait {wait}, then press “Save changes” again: your text is kept below."
)
FORM_EXPIRED = (
    "This form expired before it was sent, so your comment was not posted yet. "
    "Everything you typed is still below: please press “Post comment” again."
)
FORM_TOO_OLD = (
    "This page was opened more than a day ago, so your comment was not posted yet. "
    "Everything you typed is still below: please press “Post comment” again."
)
CSRF_REFUSED = "This button has expired or came from another page. Please reload the page and try again."
DUPLICATE = "You posted this same comment here a few minutes ago, so it was not posted twice."
EDIT_REFUSED = (
    "This comment can no longer be changed from this browser. Comments can be edited or deleted for "
    "{minutes} minutes after posting, and only from the browser that posted them."
)


# Posting


def is_preview() -> bool:
    """Tell whether the comment form was sent to be previewed rather than posted."""
    return request.form.get("action") == "preview"


@bp.post("/posts/<slug>/comments")
@checks_its_own_characters
@csrf.exempt  # not unprotected: CommentForm checks the token itself, so an expired one keeps the typed text
@limiter.limit(
    lambda: current_app.config["COMMENT_RATE_LIMIT"],
    exempt_when=is_preview,
    on_breach=lambda limit: keep_comment_when_limited(limit),
)
@limiter.limit(
    lambda: current_app.config["PREVIEW_RATE_LIMIT"],
    scope="preview",
    exempt_when=lambda: not is_preview(),
    on_breach=lambda limit: keep_comment_when_limited(limit, TOO_MANY_PREVIEWS),
)
def add_comment(slug: str) -> ResponseReturnValue:
    """Preview or accept a comment from the form, then redirect back to it (Post/Redirect/Get).

    Invalid input, a missing or expired CSRF token, a form older than a day or a duplicate re-render the
    post page with status 400, the errors beside their fields and everything typed kept; nothing is stored.
    """
    post = post_to_comment_on_or_404(slug)
    form = CommentForm()
    form.post = post
    if not post.accepts_comments(current_app.config["COMMENTS_CLOSE_AFTER_DAYS"]):
        return render_post_page(post, form, form_error=COMMENTS_CLOSED), 403
    if not form.validate_on_submit():
        return render_post_page(post, form, form_error=FORM_EXPIRED if form.csrf_token.errors else None), 400
    if is_preview():
        return render_post_page(post, form, preview=_unsaved_comment(post, form))

    known_key = commenter_key_from_cookie()
    key = known_key or secrets.token_urlsafe(24)
    ip_hash = client_ip_hash()
    if spam.is_duplicate(post, form.body.data, key, ip_hash):
        return render_post_page(post, form, form_error=DUPLICATE), 400
    try:
        comment = _new_comment(post, form, key, ip_hash)
    except spam.FormTooOld:
        form.started.data = fresh_token("form-started")
        return render_post_page(post, form, form_error=FORM_TOO_OLD), 400
    _store(comment)
    notifications.notify_new_comment(comment)

    flash_once(FLASH_PUBLISHED if comment.status == CommentStatus.approved else FLASH_HELD, "success")
    location = comment_location(post, comment, _reader_of_location(comment, known_key, key)) or url_for(
        "blog.show_post", slug=post.slug, _anchor="comments"
    )
    response = redirect(location, 303)
    remember_commenter(response, key)
    update_remembered_details(response, form)
    if comment.status != CommentStatus.spam:
        grant_edit(response, comment)
    if comment.status == CommentStatus.pending:
        note_held_comments(response, post.id, key)
    return response


def _store(comment: Comment) -> None:
    """Insert the new comment, count its post and note the cached pages it changes, then commit: what a flush
    does, in a tenth of the steps, on the blog's busiest write."""
    insert_row(comment)
    count_new_comment(db.session, comment)
    note_new_comment(db.session, comment)
    db.session.commit()


def _reader_of_location(comment: Comment, known_key: str | None, key: str) -> str | None:
    """Whose view of the thread finds the new comment's page: the commenter's; but a key made for this comment
    marks no other comment, so unless this one is held for them, they see what everyone sees (found without
    looking for their held comments)."""
    return key if known_key or comment.status == CommentStatus.pending else None


def flash_once(message: str, category: str) -> None:
    """Flash ``message`` unless it is already waiting to be shown (a client that never follows the redirect
    would otherwise grow its session cookie with every comment)."""
    if (category, message) not in session.get("_flashes", []):
        flash(message, category)


def _unsaved_comment(post: Post, form: CommentForm) -> Comment:
    """Build the comment as it would be shown, without storing it (for the preview)."""
    return Comment(
        post_id=post.id,
        author_name=form.name.data,
        author_website=form.website.data or None,
        body=form.body.data,
        created_at=now_utc(),
        status=CommentStatus.approved,
        commenter_key=commenter_key_from_cookie(),
        author_email=form.email.data or None,
        by_owner=is_owner_writing(),
    )


def _new_comment(post: Post, form: CommentForm, commenter_key: str, ip_hash: str) -> Comment:
    """Build the new comment with its moderation verdict: bot checks, then content checks, then the policy.

    :raise spam.FormTooOld: when the form was shown more than a day ago.
    """
    comment = Comment(
        post_id=post.id,
        parent_id=int(form.parent_id.data) if form.parent_id.data else None,
        author_name=form.name.data,
        author_email=form.email.data or None,
        author_website=form.website.data or None,
        body=form.body.data,
        ip_hash=ip_hash,
        commenter_key=commenter_key,
        notify_replies=bool(form.email.data and form.notify_replies.data),
        notify_approval=bool(form.email.data and form.notify_approval.data),
        by_owner=is_owner_writing(),
    )
    verdict = spam.bot_verdict(form) or spam.content_and_policy_verdict(form, comment)
    comment.status, comment.held_reason = verdict.status, verdict.reason
    return comment


def is_owner_writing() -> bool:
    """Tell whether the comment comes from the blog's owner: sent while logged in as an administrator.

    A request without a single cookie holds no login (no session, no remember-me cookie): it is answered without
    loading the user, which Flask-Login would find to be anonymous in a fiftieth of a comment's steps.
    """
    if not request.cookies:
        return False
    return bool(current_user.is_authenticated and current_user.is_admin)


def keep_comment_when_limited(limit: RequestLimit, message: str = TOO_MANY_COMMENTS) -> Response | None:
    """Answer a rate-limited comment with the post page, when to retry, and the typed comment kept (429)."""
    post = published_post((request.view_args or {}).get("slug"))
    if post is None:
        return None
    form = CommentForm()
    form.post = post
    return _limited(limit, lambda wait: render_post_page(post, form, form_error=message.format(wait=wait)))


def keep_edit_when_limited(limit: RequestLimit) -> Response | None:
    """Answer a rate-limited change of one's comment with the edit form, the typed text kept (429)."""
    view_args = request.view_args or {}
    comment = own_comment_or_403(view_args.get("slug", ""), view_args.get("comment_id", 0))
    form = CommentForm()
    form.post = comment.post
    return _limited(limit, lambda wait: edit_page(comment, form, form_error=TOO_MANY_EDITS.format(wait=wait)))


def _limited(limit: RequestLimit, page: Callable[[str], str]) -> Response:
    """Return ``page`` (given how long to wait, in words) as a 429 with ``Retry-After``."""
    seconds = max(1, limit.reset_at - int(now_utc().timestamp()))
    wait = f"{seconds} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"
    response = make_response(page(wait), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


# Changing one's own comment during the edit window


def apply_edit(comment: Comment, form: CommentForm) -> bool:
    """Store a commenter's changes and tell whether readers would see a difference.

    A published comment whose name, website or text changed is decided again exactly as a new one (content
    checks, then the moderation policy): approval was given to the words the owner read, not to these. A
    held comment stays held, with the newest reason it would be held for.
    """
    shown_before = (comment.author_name, comment.author_website, comment.body)
    comment.author_name = form.name.data
    comment.author_email = form.email.data or None
    comment.author_website = form.website.data or None
    comment.body = form.body.data
    if (comment.author_name, comment.author_website, comment.body) == shown_before:
        return False
    comment.edited_at = now_utc()
    verdict = spam.content_and_policy_verdict(form, comment)
    if comment.status == CommentStatus.approved:
        comment.status, comment.held_reason = verdict.status, verdict.reason
    elif comment.status == CommentStatus.pending and verdict.reason:
        comment.held_reason = verdict.reason
    return True


def own_comment_or_403(slug: str, comment_id: int) -> Comment:
    """Return the comment if this browser may still change it.

    :raise 404: when the post or comment does not exist.
    :raise 403: when the edit cookie is missing, forged or expired.
    """
    post = post_by_slug_or_404(slug)
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.post_id != post.id or comment.status == CommentStatus.spam or comment.is_trashed:
        abort(404, description="There is no such comment on this post.")
    if not may_edit(comment):
        abort(403, description=EDIT_REFUSED.format(minutes=current_app.config["COMMENT_EDIT_MINUTES"]))
    return comment


@bp.route("/posts/<slug>/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@checks_its_own_characters
@csrf.exempt  # as above: the form checks its own token
@limiter.limit(
    lambda: current_app.config["COMMENT_RATE_LIMIT"],
    methods=["POST"],
    exempt_when=is_preview,
    on_breach=lambda limit: keep_edit_when_limited(limit),
)
@limiter.limit(
    lambda: current_app.config["PREVIEW_RATE_LIMIT"],
    scope="preview",
    methods=["POST"],
    exempt_when=lambda: not is_preview(),
    on_breach=lambda limit: keep_edit_when_limited(limit),
)
def edit_own_comment(slug: str, comment_id: int) -> ResponseReturnValue:
    """Let a commenter correct their comment for a few minutes after posting, with the same checks and a preview."""
    comment = own_comment_or_403(slug, comment_id)
    form = CommentForm(
        data={
            "name": comment.author_name,
            "email": comment.author_email or "",
            "website": comment.author_website or "",
            "body": comment.body,
        }
    )
    form.post = comment.post
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        form_error = FORM_EXPIRED if form.csrf_token.errors else None
        return edit_page(comment, form, form_error=form_error), status
    if is_preview():
        return edit_page(comment, form, preview=_edited_copy(comment, form))
    if spam.is_duplicate(comment.post, form.body.data, comment.commenter_key, client_ip_hash(), besides=comment.id):
        return edit_page(comment, form, form_error=DUPLICATE), 400
    was_published = comment.status == CommentStatus.approved
    is_changed = apply_edit(comment, form)
    db.session.commit()
    if is_changed:
        notifications.notify_edited_comment(comment)
    is_held = comment.status == CommentStatus.pending
    flash_once(FLASH_EDIT_HELD if is_held and was_published else FLASH_EDITED, "success")
    location = comment_location(comment.post, comment, commenter_key_from_cookie())
    response = redirect(location or url_for("blog.show_post", slug=slug, _anchor="comments"), 303)
    note_held_comments(response, comment.post_id, commenter_key_from_cookie())
    return response


def edit_page(comment: Comment, form: CommentForm, **context: object) -> str:
    """Render the edit form with the minutes left to change the comment (and a preview or an error, if any)."""
    return render_template(
        "blog/edit_comment.html",
        comment=comment,
        form=form,
        minutes_left=edit_minutes_left(comment),
        **({"form_error": None, "preview": None} | context),
    )


def _edited_copy(comment: Comment, form: CommentForm) -> Comment:
    """Build the comment as the changes would show it, without touching the stored one (for the preview)."""
    return Comment(
        post_id=comment.post_id,
        author_name=form.name.data,
        author_website=form.website.data or None,
        body=form.body.data,
        created_at=comment.created_at,
        status=CommentStatus.approved,
        commenter_key=comment.commenter_key,
        author_email=comment.author_email,
        by_owner=comment.by_owner,
    )


@bp.post("/posts/<slug>/comments/<int:comment_id>/delete")
@csrf.exempt  # as above: the form checks its own token
def delete_own_comment(slug: str, comment_id: int) -> ResponseReturnValue:
    """Let a commenter take their comment back during the edit window."""
    comment = own_comment_or_403(slug, comment_id)
    if not OwnCommentDeleteForm().validate_on_submit():
        abort(400, description=CSRF_REFUSED)
    post_id = comment.post_id
    db.session.delete(comment)
    db.session.commit()
    flash_once("Your comment is deleted.", "success")
    response = redirect(url_for("blog.show_post", slug=slug, _anchor="comments"), 303)
    response.delete_cookie(f"{EDIT_COOKIE_PREFIX}{comment_id}")
    note_held_comments(response, post_id, commenter_key_from_cookie())
    return response


# Unsubscribing from notification emails


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """Stop the emails a commenter asked for; the signed link names the comment and the kind of email.

    GET only shows a button, so mail scanners that follow links change nothing.
    """
    try:
        wanted = notifications.unsubscribe_serializer().loads(token)
        attribute = notifications.UNSUBSCRIBE_KINDS[wanted["kind"]]
        comment = db.get_or_404(Comment, int(wanted["id"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        abort(404, description="This unsubscribe link is not valid. Please use the link from the email as it is.")
    is_subscribed = getattr(comment, attribute)
    if request.method == "POST" and is_subscribed:
        setattr(comment, attribute, False)
        db.session.commit()
        return render_template("blog/unsubscribe.html", comment=comment, kind=wanted["kind"], done=True)
    return render_template("blog/unsubscribe.html", comment=comment, kind=wanted["kind"], done=not is_subscribed)
