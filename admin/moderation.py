"""Moderating comments: ``moderate()``, the one way a comment is approved, held, marked as spam or moved to the
trash (the queue, the email links and the command line all call it), and the pages under /admin/comments.

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the NUL check,
the audit log, the menu counts. It may import the rules below it (notifications, account, forms, models), never admin.
"""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import g
from flask import has_request_context
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm import selectinload

import notifications
from account.logins import safe_next
from account.tables import User
from admin.tables import ModerationUndo
from database import db
from database import id_from
from database import now_utc
from forms import CommentEditForm
from forms import checks_its_own_characters
from models import BodyFormat
from models import Comment
from models import CommentStatus
from models import Post
from reading import paginate

COMMENTS_PER_QUEUE_PAGE = 50
UNDO_MINUTES = 30  # how long a moderation in the queue can be undone
# action → (new status, or None to move to the trash; what the owner is told)
COMMENT_ACTIONS = {
    "approve": (CommentStatus.approved, "Approved"),
    "pending": (CommentStatus.pending, "Moved back to the queue"),
    "spam": (CommentStatus.spam, "Marked as spam"),
    "delete": (None, "Moved to the trash"),
}

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares: login required, audit log, nav counts.
bp = Blueprint("moderation", __name__, url_prefix="/comments")


def comments_visible_to(user: User, *, in_trash: bool = False) -> Any:
    """Select the comments a user may moderate: all for admins, those on their own posts for authors; never those
    in the trash or of a post in the trash (they wait there with it). ``in_trash``: the comments in the trash
    instead (of any post: the trash page says when the post is in the trash too)."""
    if in_trash:
        query = select(Comment).join(Comment.post).where(Comment.trashed_at.is_not(None))
    else:
        query = select(Comment).join(Comment.post).where(Comment.trashed_at.is_(None), Post.trashed_at.is_(None))
    return query if user.is_admin else query.where(Post.author_id == user.id)


def moderate(comment: Comment, action: str, by_username: str = "", *, hold_mail: bool = False) -> list[EmailMessage]:
    """Approve, hold, mark as spam or move to the trash one comment, and send the mails an approval calls for
    (or, ``hold_mail``, return them unsent, for a moderation that can be undone).

    Every way to moderate comes here (the queue, the links in the owner's email, the command line), so a
    commenter who asked is told of the approval, and the comment answered of the reply, whichever was used.
    ``by_username`` is who, as the trash shows it.

    :raise ValueError: for an action not in ``COMMENT_ACTIONS``.
    """
    if action not in COMMENT_ACTIONS:
        raise ValueError(f"Unknown moderation action {action!r}; the actions are {', '.join(COMMENT_ACTIONS)}.")
    status, _ = COMMENT_ACTIONS[action]
    is_newly_approved = status == CommentStatus.approved and comment.status != status
    if status is None:
        comment.move_to_trash(by_username)  # its replies stay, shown as when a comment they answer is gone
    else:
        comment.status = status
    db.session.commit()
    if not is_newly_approved:
        return []
    if hold_mail:
        return notifications.approval_messages(comment)
    notifications.notify_approved(comment)
    return []


def pending_comments() -> list[Comment]:
    """Return the comments waiting for the owner's decision, oldest first."""
    query = (
        select(Comment)
        .join(Comment.post)
        .where(Comment.status == CommentStatus.pending, Comment.trashed_at.is_(None), Post.trashed_at.is_(None))
        .order_by(Comment.created_at, Comment.id)
    )
    return list(db.session.scalars(query))


def purge_old_comments(older_than_days: int) -> int:
    """Delete held and spam comments older than ``older_than_days``; return how many were deleted. Those in the
    trash wait there for TRASH_KEEP_DAYS, as the trash promises."""
    cutoff = now_utc() - timedelta(days=older_than_days)
    query = delete(Comment).where(
        Comment.status.in_([CommentStatus.pending, CommentStatus.spam]),
        Comment.created_at < cutoff,
        Comment.trashed_at.is_(None),
    )
    deleted = db.session.execute(query).rowcount
    db.session.commit()
    return deleted


@bp.get("")
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
        undo=_offered_undo(),
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


def moderate_each(comments: list[Comment], action: str) -> str:
    """Moderate each comment with the action a page asked for, and return what happened, in words.

    :raise 400: for an unknown action.
    """
    if action not in COMMENT_ACTIONS:
        abort(400, description="That moderation action is unknown.")
    before = [_as_it_is(comment) for comment in comments]
    who = current_user.username if has_request_context() and current_user.is_authenticated else ""
    can_undo = bool(comments and who)
    mails = [moderate(comment, action, who or g.get("audit_username", ""), hold_mail=can_undo) for comment in comments]
    done = COMMENT_ACTIONS[action][1]
    noun = "comment" if len(comments) == 1 else "comments"
    message = f"{done}: {len(comments)} {noun}."
    if can_undo:
        _keep_for_undo(before, comments, message, mails)
    held = sum(len(messages) for messages in mails)
    if held:
        emails = "email goes" if held == 1 else "emails go"
        message += f" {held} {emails} out in {UNDO_MINUTES} minutes, unless you undo this."
    return message


# Undo: what a moderation changed is kept (ModerationUndo) so that the next page can offer to put it back.


def _as_it_is(comment: Comment) -> dict[str, Any]:
    """What undoing needs of a comment about to be moderated: its status and revision."""
    return {"id": comment.id, "status": comment.status.value, "revision": comment.revision}


def _keep_for_undo(
    before: list[dict[str, Any]], comments: list[Comment], summary: str, mails: list[list[EmailMessage]]
) -> None:
    """Keep what was before, with each changed comment's revision now and when it went to the trash, if it did
    (the undo checks nothing changed since); hold the mails the moderation called for until it can no longer be
    undone (a little after, so that an undo in its last second still deletes them)."""
    for kept, comment in zip(before, comments, strict=True):
        kept["revision_after"] = comment.revision
        kept["trashed_at"] = comment.trashed_at.isoformat() if comment.trashed_at else None
    cutoff = now_utc() - timedelta(minutes=UNDO_MINUTES)
    db.session.execute(delete(ModerationUndo).where(ModerationUndo.done_at < cutoff))
    undo = ModerationUndo(user_id=current_user.id, summary=summary[:200], changes=json.dumps(before))
    db.session.add(undo)
    db.session.flush()
    until = now_utc() + timedelta(minutes=UNDO_MINUTES, seconds=30)
    for comment, messages in zip(comments, mails, strict=True):
        notifications.hold(comment, messages, until, undo.id)
    db.session.commit()
    session["moderation_undo"] = undo.id


def _offered_undo() -> ModerationUndo | None:
    """The moderation just done, if it can still be undone: offered once, on the page shown right after it."""
    undo_id = session.pop("moderation_undo", None)
    undo = db.session.get(ModerationUndo, undo_id) if isinstance(undo_id, int) else None
    return undo if undo is not None and undo.undone_at is None and undo.user_id == current_user.id else None


class UndoRefused(Exception):
    """Something changed since the moderation: undoing it would overwrite that change."""


@bp.post("/undo/<int:undo_id>")
def undo(undo_id: int) -> ResponseReturnValue:
    """Put back what one moderation changed: statuses, comments moved to the trash, and so the counts and cached
    pages (renewed by the ORM events); refused when it was undone already, is too old, or changed since."""
    record = db.session.get(ModerationUndo, undo_id)
    if record is None or record.user_id != current_user.id:
        abort(404, description="There is no such moderation to undo.")
    if record.undone_at is not None:
        flash("That was already undone.", "error")
    elif record.done_at < now_utc() - timedelta(minutes=UNDO_MINUTES):
        flash(f"That can no longer be undone: a moderation can be undone for {UNDO_MINUTES} minutes.", "error")
    else:
        try:
            _put_back(json.loads(record.changes))
        except UndoRefused as refused:
            db.session.rollback()
            flash(f"Not undone: {refused}", "error")
        else:
            record.undone_at = now_utc()
            unsent = notifications.drop_held(record.id)
            db.session.commit()
            emails = f"; {unsent} email{'s' if unsent != 1 else ''} about it will not be sent" if unsent else ""
            flash(f"Undone (“{record.summary}”): everything is back as it was{emails}.", "success")
    return _back_to_queue()


def _put_back(changes: list[dict[str, Any]]) -> None:
    """:raise UndoRefused: when a comment changed since (moderated, edited, restored or deleted forever), or
    its post went to the trash meanwhile."""
    for kept in changes:
        comment = db.session.get(Comment, kept["id"])
        trashed_at = comment.trashed_at.isoformat() if comment is not None and comment.trashed_at else None
        if comment is None or comment.revision != kept.get("revision_after") or trashed_at != kept.get("trashed_at"):
            raise UndoRefused(f"comment {kept['id']} was changed or deleted since.")
        if comment.post.is_trashed:
            raise UndoRefused(f"the post of comment {kept['id']} is in the trash now; restore it first.")
        comment.restore_from_trash()
        comment.status = CommentStatus(kept["status"])
        comment.revision = kept["revision"]  # the links in emails about it work again, as before
    db.session.flush()


def _queue_address() -> str:
    """The queue page the owner came from (its filter and page kept), else the queue."""
    back = safe_next(request.form.get("back"))
    if not back or not back.startswith(url_for(".list_comments")):
        back = url_for(".list_comments")
    return back


def _back_to_queue() -> ResponseReturnValue:
    return redirect(_queue_address(), 303)


def _confirm_deleting(comments: list[Comment], fields: list[tuple[str, str]]) -> str:
    """Ask before deleting, on a page of its own (no JavaScript needed): deleting is undone only right after.

    ``fields`` are sent again, with ``confirmed``, to the address that asked.
    """
    fields = [*fields, ("confirmed", "yes"), ("back", _queue_address())]
    return render_template("admin/confirm_delete_comments.html", comments=comments, fields=fields, back=fields[-1][1])


@bp.post("/<int:comment_id>/moderate")
def moderate_comment(comment_id: int) -> ResponseReturnValue:
    """Approve, hold or mark as spam one comment; delete it once the owner confirmed."""
    comments = moderatable_comments([comment_id])
    if not comments:
        abort(404, description="There is no such comment, or it is on someone else's post.")
    action = request.form.get("action", "")
    if action == "delete" and not request.form.get("confirmed"):
        return _confirm_deleting(comments, [("action", action)])
    flash(moderate_each(comments, action), "success")
    return _back_to_queue()


@bp.post("/bulk")
def moderate_selected_comments() -> ResponseReturnValue:
    """Apply one action to every ticked comment in the queue (deleting them once the owner confirmed)."""
    ids = [number for number in map(id_from, request.form.getlist("ids")) if number is not None]
    if not ids:
        flash("Select at least one comment first.", "error")
        return _back_to_queue()
    comments, action = moderatable_comments(ids), request.form.get("bulk_action", "")
    if action == "delete" and comments and not request.form.get("confirmed"):
        return _confirm_deleting(comments, [("bulk_action", action), *(("ids", str(c.id)) for c in comments)])
    flash(moderate_each(comments, action), "success")
    return _back_to_queue()


@bp.route("/<int:comment_id>/edit", methods=["GET", "POST"])
@checks_its_own_characters
def edit_comment(comment_id: int) -> ResponseReturnValue:
    """Correct a comment's text; it is sanitized exactly like a reader's."""
    comments = moderatable_comments([comment_id])
    if not comments:
        abort(404, description="There is no such comment, or it is on someone else's post.")
    comment = comments[0]
    form = CommentEditForm(data={"body": comment.body})
    if comment.format == BodyFormat.html:
        form.body.label.text = "Comment (HTML)"
        form.body.description = "It came from another blog in HTML, and stays HTML, cleaned as readers' comments are."
    if request.method == "GET":
        return render_template("admin/comment_form.html", comment=comment, form=form)
    if not form.validate_on_submit():
        return render_template("admin/comment_form.html", comment=comment, form=form), 400
    comment.body = form.body.data
    db.session.commit()
    flash(f"Comment {comment.id} by {comment.author_name} updated.", "success")
    return redirect(url_for(".list_comments"), 303)


@bp.route("/quick/<token>", methods=["GET", "POST"])
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
    if comment.is_trashed:
        abort(404, description="This comment is in the trash: restore it from the Trash first.")
    is_used = comment.revision != wanted.get("revision")
    if request.method == "POST" and not is_used:
        g.audit_username, g.audit_detail = "(email link)", f"comment {comment.id}, action: {action}"
        message = moderate_each([comment], action)
        return render_template("admin/quick_moderate.html", comment=comment, action=action, message=message)
    return render_template("admin/quick_moderate.html", comment=comment, action=action, is_used=is_used)
