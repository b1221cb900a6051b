"""Email about comments: to the owner on each new one, to commenters who asked for it.

Mail is sent over SMTP after the response has gone out, so a slow or broken mail server never delays
or fails a request, and never loses a comment: failures are logged. Outside a request (the command line) it is
sent at once. Nothing is sent unless ``MAIL_SERVER`` is set. The emails an approval in the queue calls for are
held (``HeldMail``) until its Undo expires, then sent after the next admin page or by `flask send-mail`; an undo
deletes them unsent.

Links in mail are built on ``SITE_URL``, never on the ``Host`` of the request that caused the mail: that is
often a stranger's comment, and a one-click approve link sent to their server would let them approve it.
"""

from __future__ import annotations

import email
import logging
import smtplib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from flask import Response
from flask import after_this_request
from flask import current_app
from flask import has_request_context
from itsdangerous import URLSafeSerializer
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy import select

from addresses import absolute_url
from admin.tables import HeldMail
from database import db
from database import now_utc
from models import Comment
from models import CommentStatus
from safetext import one_line

QUICK_MODERATION_MAX_AGE = 7 * 24 * 3600
UNSUBSCRIBE_KINDS = {"replies": "notify_replies", "approval": "notify_approval"}

log = logging.getLogger(__name__)


def quick_moderation_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="inkwell-quick-moderation")


def unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inkwell-unsubscribe")


def quick_moderation_url(comment: Comment, action: str) -> str:
    """Return a signed link that approves or marks ``comment`` as spam without logging in.

    The link is valid for seven days and only for the comment's revision when the link was made: once the
    comment is moderated or edited (an approved comment edited back into the queue, spam moved back to
    the queue), the link has expired, and the owner is sent a new one if it needs them again.
    """
    token = quick_moderation_serializer().dumps({"id": comment.id, "action": action, "revision": comment.revision})
    return absolute_url("admin.moderation.quick_moderate", token=token)


def unsubscribe_url(comment: Comment, kind: str) -> str:
    token = unsubscribe_serializer().dumps({"id": comment.id, "kind": kind})
    return absolute_url("comments.unsubscribe", token=token)


def _comment_url(comment: Comment) -> str:
    return absolute_url("blog.comment_permalink", slug=comment.post.slug, comment_id=comment.id)


def _message(to: str, subject: str, body: str) -> EmailMessage:
    """Build a mail whose every header is one line, whatever a commenter's name, address or a title holds:
    a line break in a header value would be refused by the email package (a 500) or start a header of its own."""
    message = EmailMessage()
    message["From"] = one_line(current_app.config["MAIL_FROM"])
    message["To"] = one_line(to)
    message["Subject"] = one_line(subject)
    message.set_content(body)
    return message


def owner_message(comment: Comment) -> EmailMessage | None:
    """Tell the owner about a new comment, with one-click moderation links for a held one."""
    owner = current_app.config["NOTIFY_EMAIL"]
    if not owner or comment.status == CommentStatus.spam:
        return None
    is_held = comment.status == CommentStatus.pending
    did = "edited their comment" if comment.edited_at else "commented"
    lines = [
        f"{comment.author_name} {did} on “{comment.post.title}”"
        + (" and the comment is waiting for your approval." if is_held else "."),
        "",
        comment.body,
        "",
        f"Email: {comment.author_email or '—'}    Website: {comment.author_website or '—'}",
    ]
    if is_held:
        lines += [
            f"Why held: {comment.held_reason}",
            "",
            f"Approve: {quick_moderation_url(comment, 'approve')}",
            f"Spam:    {quick_moderation_url(comment, 'spam')}",
        ]
    else:
        lines += ["", f"Read it: {_comment_url(comment)}", f"Mark as spam: {quick_moderation_url(comment, 'spam')}"]
    title = current_app.config["BLOG_TITLE"]
    kind = "Edited comment" if comment.edited_at else "New comment"
    subject = f"[{title}] {'Held comment' if is_held else kind} on “{comment.post.title}”"
    return _message(owner, subject, "\n".join(lines))


def mailbox_of(commenter: Comment) -> str | None:
    """Return the commenter's email address if it names exactly one mailbox, else ``None`` (logged).

    The form checks addresses, but a stored one may come from an import or an older version: a comma or a
    line break in it must never add a recipient or a header.
    """
    if not commenter.author_email:
        return None
    try:
        return str(Address(addr_spec=commenter.author_email))
    except (ValueError, IndexError):  # the email package's parse defects are ValueErrors
        log.warning("Not mailing comment %s: its email address is not one plain address", commenter.id)
        return None


def approval_message(comment: Comment) -> EmailMessage | None:
    """Tell a commenter who asked that their comment was approved."""
    to = mailbox_of(comment) if comment.notify_approval else None
    if to is None:
        return None
    body = (
        f"Hello {comment.author_name},\n\nyour comment on “{comment.post.title}” is now published:\n"
        f"{_comment_url(comment)}\n\nYou got this email because you asked for it.\n"
        f"To stop: {unsubscribe_url(comment, 'approval')}\n"
    )
    return _message(to, f"Your comment on “{comment.post.title}” is published", body)


def reply_message(reply: Comment) -> EmailMessage | None:
    """Tell the author of the comment being answered, if they asked for replies and are someone else."""
    parent = reply.parent
    to = mailbox_of(parent) if parent is not None and parent.notify_replies else None
    if to is None:
        return None
    if parent.commenter_key and parent.commenter_key == reply.commenter_key:
        return None
    body = (
        f"Hello {parent.author_name},\n\n{reply.author_name} replied to your comment on “{reply.post.title}”:\n\n"
        f"{reply.body}\n\nRead it: {_comment_url(reply)}\n\n"
        f"To stop emails about replies to this comment: {unsubscribe_url(parent, 'replies')}\n"
    )
    return _message(to, f"{reply.author_name} replied to your comment", body)


def notify_new_comment(comment: Comment) -> None:
    """Queue the mails a new comment calls for: the owner's, and a reply notice if it is published."""
    if not current_app.config["MAIL_SERVER"]:
        return
    messages = [owner_message(comment)]
    if comment.status == CommentStatus.approved:
        messages.append(reply_message(comment))
    send_after_response([m for m in messages if m is not None])


def notify_edited_comment(comment: Comment) -> None:
    """Queue the owner's mail about a comment its author changed, with links for the comment as it is now."""
    if not current_app.config["MAIL_SERVER"]:
        return
    send_after_response([m for m in (owner_message(comment),) if m is not None])


def approval_messages(comment: Comment) -> list[EmailMessage]:
    """The mails an approval calls for: to the commenter, and to the comment they answered (none without mail)."""
    if not current_app.config["MAIL_SERVER"]:
        return []
    return [m for m in (approval_message(comment), reply_message(comment)) if m is not None]


def notify_approved(comment: Comment) -> None:
    """Queue the mails an approval calls for, to be sent after the response."""
    send_after_response(approval_messages(comment))


# Held mail: an approval that can be undone sends its mails only once the undo has expired.

DUE_AT_ONCE = 100  # held mails sent after one response (the rest after the next ones)


def hold(comment: Comment, messages: list[EmailMessage], until: datetime, undo_id: int) -> None:
    """Keep ``messages`` about ``comment`` unsent until ``until``, or until the undo ``undo_id`` deletes them (the
    caller commits)."""
    db.session.add_all(
        HeldMail(send_after=until, comment_id=comment.id, undo_id=undo_id, message=message.as_string())
        for message in messages
    )


def drop_held(undo_id: int) -> int:
    """Delete, unsent, the mails held for this undo; return how many (the caller commits)."""
    return db.session.execute(delete(HeldMail).where(HeldMail.undo_id == undo_id)).rowcount


def send_due_mail() -> int:
    """Send at once the held mails whose time has come (the command line's `send-mail`); return how many."""
    messages = _claim_due_mail()
    if messages:
        deliver(messages, _mail_settings())
    return len(messages)


def send_due_mail_after(response: Response) -> Response:
    """After an admin page: send the held mails whose time has come, once the response is complete."""
    messages = _claim_due_mail()
    if messages:
        settings = _mail_settings()
        response.call_on_close(lambda: deliver(messages, settings))
    return response


def _claim_due_mail() -> list[EmailMessage]:
    """Take the held mails whose time has come out of the table, and return those still worth sending.

    Each is first deleted in its own statement, so two workers never send one twice; one whose comment readers no
    longer see (held again, spam, in the trash) is dropped, as its news is no longer true.
    """
    if not current_app.config["MAIL_SERVER"]:
        return []
    query = select(HeldMail.id, HeldMail.comment_id, HeldMail.message).where(HeldMail.send_after <= now_utc())
    due = db.session.execute(query.order_by(HeldMail.id).limit(DUE_AT_ONCE)).all()
    messages = []
    for mail_id, comment_id, text in due:
        is_ours = db.session.execute(delete(HeldMail).where(HeldMail.id == mail_id)).rowcount == 1
        comment = db.session.get(Comment, comment_id)
        if is_ours and comment is not None and comment.is_visible_to(None) and comment.post.is_published:
            messages.append(email.message_from_string(text, policy=default_policy))
    if due:
        db.session.commit()
    return messages


def send_after_response(messages: list[EmailMessage]) -> None:
    """Send ``messages`` once the response is complete (at once outside a request, as from the command line);
    do nothing when mail is not configured."""
    if not messages or not current_app.config["MAIL_SERVER"]:
        return
    settings = _mail_settings()
    if not has_request_context():
        deliver(messages, settings)
        return

    @after_this_request
    def send_when_closed(response: Response) -> Response:
        response.call_on_close(lambda: deliver(messages, settings))
        return response


def _mail_settings() -> dict[str, Any]:
    """What delivering needs, read now: it happens after the response, outside the app's context."""
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_USE_TLS")
    return {key: current_app.config[key] for key in keys}


def deliver(messages: list[EmailMessage], settings: dict[str, Any]) -> None:
    """Send messages over SMTP; log, never raise, on failure."""
    try:
        with smtplib.SMTP(settings["MAIL_SERVER"], settings["MAIL_PORT"], timeout=10) as smtp:
            if settings["MAIL_USE_TLS"]:
                smtp.starttls()
            if settings["MAIL_USERNAME"]:
                smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"])
            for message in messages:
                smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        log.exception("Could not send %d notification email(s) through %s", len(messages), settings["MAIL_SERVER"])
