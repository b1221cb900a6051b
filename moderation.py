"""Moderating comments under /admin/comments: the queue, its actions, and corrections.

The routes join the admin blueprint, so they share its login requirement.
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from sqlalchemy import case
from sqlalchemy import or_
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm import selectinload

import notifications
from admin import bp
from admin import comments_visible_to
from admin import safe_next
from forms import CommentEditForm
from forms import checks_its_own_characters
from models import Comment
from models import CommentStatus
from models import Post
from models import db
from models import id_from
from reading import paginate

COMMENTS_PER_QUEUE_PAGE = 50
# action → (new status, or None to delete; what the owner is told)
COMMENT_ACTIONS = {
    "approve": (CommentStatus.approved, "Approved"),
    "pending": (CommentStatus.pending, "Moved back to the queue"),
    "spam": (CommentStatus.spam, "Marked as spam"),
    "delete": (None, "Deleted"),
}


@bp.get("/comments")
def list_comments() -> str:
    """The moderation queue: held comments first, then the latest, grouped by post."""
    status = request.args.get("status", "")
    status = status if status in set(CommentStatus) else ""
    search = request.args.get("q", "").strip()[:200]
    query = comments_visible_to(current_user).options(contains_eager(Comment.post), selectinload(Comment.parent))
    if status:
        query = query.where(Comment.status == status)
    if search:
        query = query.where(
            or_(
                Comment.author_name.icontains(search, autoescape=True),
                Comment.author_email.icontains(search, autoescape=True),
                Comment.body.icontains(search, autoescape=True),
            )
        )
    is_pending_first = case((Comment.status == CommentStatus.pending, 0), else_=1)
    comments = paginate(query.order_by(is_pending_first, Comment.created_at.desc()), COMMENTS_PER_QUEUE_PAGE)
    return render_template(
        "admin/comments.html",
        comments=comments,
        sections=sections_by_post(comments.items),
        status=status,
        search=search,
        statuses=list(CommentStatus),
    )


def sections_by_post(comments: list[Comment]) -> list[tuple[bool, Post, list[Comment]]]:
    """Group comments by (held or not, post), keeping the order in which each group first appears."""
    sections: dict[tuple[bool, int], tuple[bool, Post, list[Comment]]] = {}
    for comment in comments:
        is_pending = comment.status == CommentStatus.pending
        section = sections.setdefault((is_pending, comment.post_id), (is_pending, comment.post, []))
        section[2].append(comment)
    return list(sections.values())


def moderatable_comments(ids: list[int]) -> list[Comment]:
    query = comments_visible_to(current_user).where(Comment.id.in_(ids))
    return list(db.session.scalars(query))


def moderate(comments: list[Comment], action: str) -> str:
    """Apply a moderation action to comments and return what happened, in words.

    :raise 400: for an unknown action.
    """
    if action not in COMMENT_ACTIONS:
        abort(400, description="That moderation action is unknown.")
    status, done = COMMENT_ACTIONS[action]
    newly_approved = [c for c in comments if status == CommentStatus.approved and c.status != status]
    for comment in comments:
        if status is None:
            db.session.delete(comment)
        else:
            comment.status = status
    db.session.commit()
    for comment in newly_approved:
        notifications.notify_approved(comment)
    noun = "comment" if len(comments) == 1 else "comments"
    return f"{done}: {len(comments)} {noun}."


def _back_to_queue() -> ResponseReturnValue:
    back = safe_next(request.form.get("back"))
    if not back or not back.startswith(url_for("admin.list_comments")):
        back = url_for("admin.list_comments")
    return redirect(back, 303)


@bp.post("/comments/<int:comment_id>/moderate")
def moderate_comment(comment_id: int) -> ResponseReturnValue:
    """Approve, hold, mark as spam or delete one comment."""
    comments = moderatable_comments([comment_id])
    if not comments:
        abort(404, description="There is no such comment, or it is on someone else's post.")
    flash(moderate(comments, request.form.get("action", "")), "success")
    return _back_to_queue()


@bp.post("/comments/bulk")
def moderate_selected_comments() -> ResponseReturnValue:
    """Apply one action to every ticked comment in the queue."""
    ids = [number for number in map(id_from, request.form.getlist("ids")) if number is not None]
    if not ids:
        flash("Select at least one comment first.", "error")
        return _back_to_queue()
    flash(moderate(moderatable_comments(ids), request.form.get("bulk_action", "")), "success")
    return _back_to_queue()


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@checks_its_own_characters
def edit_comment(comment_id: int) -> ResponseReturnValue:
    """Correct a comment's text; it is sanitized exactly like a reader's."""
    comments = moderatable_comments([comment_id])
    if not comments:
        abort(404, description="There is no such comment, or it is on someone else's post.")
    comment = comments[0]
    form = CommentEditForm(data={"body": comment.body})
    if request.method == "GET":
        return render_template("admin/comment_form.html", comment=comment, form=form)
    if not form.validate_on_submit():
        return render_template("admin/comment_form.html", comment=comment, form=form), 400
    comment.body = form.body.data
    db.session.commit()
    flash(f"Comment {comment.id} by {comment.author_name} updated.", "success")
    return redirect(url_for("admin.list_comments"), 303)


@bp.route("/comments/quick/<token>", methods=["GET", "POST"])
def quick_moderate(token: str) -> ResponseReturnValue:
    """Approve or mark as spam from the link in the owner's notification email, without logging in.

    The signed link is valid for seven days and only while the comment is as it was when the mail was
    sent (the same revision: not moderated or edited since), so it works once. GET only shows the comment
    and a button: mail scanners that follow links change nothing.
    """
    try:
        wanted = notifications.quick_moderation_serializer().loads(
            token, max_age=notifications.QUICK_MODERATION_MAX_AGE
        )
        comment = db.session.get(Comment, int(wanted["id"]))
        action = wanted["action"]
    except SignatureExpired:
        abort(403, description="This link has expired: moderation links work for seven days. Please log in instead.")
    except (BadSignature, KeyError, TypeError, ValueError):
        abort(404, description="This moderation link is not valid.")
    if comment is None or action not in ("approve", "spam"):
        abort(404, description="This comment no longer exists.")
    is_used = comment.revision != wanted.get("revision")
    if request.method == "POST" and not is_used:
        g.audit_username, g.audit_detail = "(email link)", f"comment {comment.id}, action: {action}"
        message = moderate([comment], action)
        return render_template("admin/quick_moderate.html", comment=comment, action=action, message=message)
    return render_template("admin/quick_moderate.html", comment=comment, action=action, is_used=is_used)
