"""The audit log: every change made in the admin area, and every failed login, recorded with who, when and from
which network (a keyed hash of it, never the address). Administrators read it at /admin/audit."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from flask import Response
from flask import g
from flask import request
from flask_login import current_user
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import delete
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from account.tables import User
from commenters import client_ip_hash
from database import UTCDateTime
from database import db
from database import now_utc


class AuditEntry(db.Model):
    """One thing done in the admin area: who, what, when, and from which network (a keyed hash, as for comments)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(40))  # kept when the account is gone
    action: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(String(300), default="")
    ip_hash: Mapped[str] = mapped_column(String(32), default="")


# The admin endpoints that change something when a POST to them succeeds (redirects, after PRG; 201 for the
# script's requests that create something).
ACTIONS = {
    "admin.logout": "Logged out",
    "admin.editor.new_post": "Saved a new post",
    "admin.editor.edit_post": "Saved a post",
    "admin.autosave.start": "Started a draft by autosave",
    "admin.editor.delete_post": "Moved a post to the trash",
    "admin.trash.restore_post": "Restored a post from the trash",
    "admin.trash.delete_forever": "Deleted a post forever",
    "admin.trash.restore_comment": "Restored a comment from the trash",
    "admin.trash.delete_comment_forever": "Deleted a comment forever",
    "admin.history.restore": "Restored an earlier version of a post",
    "admin.media.edit_alt": "Changed an image's description",
    "admin.media.trash_upload": "Moved an image to the trash",
    "admin.media.restore_upload": "Restored an image from the trash",
    "admin.media.delete_forever": "Deleted an image forever",
    "admin.tags.edit_tag": "Saved a tag",
    "admin.tags.merge_tag": "Merged a tag into another",
    "admin.tags.delete_tag": "Deleted a tag",
    "admin.moderation.edit_comment": "Edited a comment",
    "admin.moderation.moderate_comment": "Moderated a comment",
    "admin.moderation.moderate_selected_comments": "Moderated comments together",
    "admin.moderation.quick_moderate": "Moderated a comment from an email link",
    "admin.moderation.undo": "Undid a moderation",
    "admin.export_download": "Downloaded an export",
    "admin.import_upload": "Imported an export",
    "admin.moving_in.run_import": "Imported another blog",
    "admin.moving_in.undo": "Undid an import",
    "admin.account.disable_two_factor": "Turned off two-factor authentication",
    "admin.account.enable_two_factor": "Turned on two-factor authentication",
    "admin.account.replace_recovery_codes": "Made new recovery codes",
    "admin.site_settings.edit_settings": "Saved the blog's settings",
}
# What a moderation is called when its form's action makes it more than a moderation.
ACTIONS_BY_FORM = {
    ("admin.moderation.moderate_comment", "delete"): "Moved a comment to the trash",
    ("admin.moderation.moderate_selected_comments", "delete"): "Moved comments to the trash",
}
# Changes whose success is a page (shown once) rather than a redirect.
COMPLETED_WITH_A_PAGE = {
    "admin.moderation.quick_moderate",
    "admin.export_download",
    "admin.account.enable_two_factor",
    "admin.account.replace_recovery_codes",
}
# Logging in succeeds by a redirect, or by re-showing a post that was being written; it fails with a 400.
LOGINS = {"admin.login": ("Logged in", "Failed login"), "admin.login_code": ("Logged in", "Failed login: wrong code")}
DETAIL_FIELDS = ("action", "bulk_action", "status")


def record_admin_action(response: Response) -> Response:
    """After an admin request: note a completed change, or a failed login, in the audit log."""
    action = _action_of(response)
    if action is not None:
        user = current_user if current_user.is_authenticated else None
        # Who, when nobody is logged in: set by the login views, and by the email link's view.
        name = g.get("audit_username", "")
        # One entry for each detail a view gave (each setting changed), else one with what the request names.
        for detail in g.get("audit_details") or [g.get("audit_detail") or _detail()]:
            record(action, user, detail=detail, username=name, ip_hash=client_ip_hash())
    return response


def record(action: str, user: User | None, detail: str = "", username: str = "", ip_hash: str = "") -> None:
    """Add one entry to the audit log and commit it; `username` names who it was when there is no account."""
    entry = AuditEntry(
        user_id=user.id if user else None,
        username=(user.username if user else username)[:40],
        action=action,
        detail=detail[:300],
        ip_hash=ip_hash,
    )
    db.session.add(entry)
    db.session.commit()


def _action_of(response: Response) -> str | None:
    if request.method != "POST":
        return None
    if request.endpoint in LOGINS:
        logged_in, failed = LOGINS[request.endpoint]
        if current_user.is_authenticated:
            return logged_in
        return failed if response.status_code == 400 else None
    if request.endpoint not in ACTIONS:
        return None
    redirected = 300 <= response.status_code < 400
    shown = response.status_code == 200 and request.endpoint in COMPLETED_WITH_A_PAGE
    if not (redirected or shown or response.status_code == 201):
        return None
    asked = request.form.get("action") or request.form.get("bulk_action")
    return ACTIONS_BY_FORM.get((request.endpoint, asked), ACTIONS[request.endpoint])


def _detail() -> str:
    parts = [f"{name} {value}" for name, value in (request.view_args or {}).items() if name != "token"]
    parts += [f"{name}: {request.form[name]}" for name in DETAIL_FIELDS if request.form.get(name)]
    if request.form.getlist("ids"):
        parts.append(f"{len(request.form.getlist('ids'))} comments")
    if request.form.get("title"):
        parts.append(f"“{request.form['title']}”")
    return ", ".join(parts)


def purge_old_entries(older_than_days: int) -> int:
    """Delete audit log entries older than ``older_than_days``; return how many were deleted."""
    cutoff = now_utc() - timedelta(days=older_than_days)
    deleted = db.session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)).rowcount
    db.session.commit()
    return deleted
