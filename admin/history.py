"""/admin/posts/<id>/history: every version of a post, what each save changed, and bringing back an earlier one.

The editor calls :func:`keep_version` on every save; a save that changes none of the words adds nothing. A post
from before versions were kept (or imported) gets its old words kept as a version on its first save, so the
previous text is never lost. Restoring is a save like any other, and so is itself a new version.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from account.tables import User
from admin.tables import PostVersion
from database import db
from database import now_utc
from localtime import format_stamp
from models import Post
from slugs import tags_named

bp = Blueprint("history", __name__, url_prefix="/posts/<int:post_id>/history")

CONTEXT_LINES = 2  # unchanged lines shown around each change


def _words(post: Post | PostVersion) -> tuple[str, str, str, str, str]:
    tags = post.tags if isinstance(post, PostVersion) else ", ".join(tag.name for tag in post.tags)
    return post.title, post.excerpt or "", post.format.value, post.body or "", tags


def newest_version(post: Post) -> PostVersion | None:
    """Return the post's newest version: its words as last saved (``None`` before its first save here)."""
    query = select(PostVersion).where(PostVersion.post_id == post.id).order_by(PostVersion.id.desc()).limit(1)
    return db.session.scalar(query)


def keep_version(post: Post, user: User | None, note: str = "", saved_at: datetime | None = None) -> None:
    """Keep the post's words as they are now as its newest version, unless that version says the same.

    Call it after changing the post (in the same transaction, before the commit) and, for a post that has no
    version yet, once before changing it too, so that its earlier words are kept.
    """
    newest = newest_version(post)
    if newest is not None and _words(newest) == _words(post):
        return
    title, excerpt, body_format, body, tags = _words(post)
    db.session.add(
        PostVersion(
            post_id=post.id,
            user_id=user.id if user is not None else None,
            title=title,
            excerpt=excerpt,
            format=body_format,
            body=body,
            tags=tags,
            note=note[:200],
            saved_at=saved_at or now_utc(),
        )
    )


@dataclass
class Change:
    """One field of a version compared with the version before it, line by line."""

    label: str
    lines: list[tuple[str, str]]  # ("added" | "removed" | "same" | "gap", text)
    added: int
    removed: int


def _compared(label: str, before: str, after: str) -> Change | None:
    """Return the lines of ``after`` against ``before`` with a little unchanged context, or ``None`` if equal."""
    if before == after:
        return None
    old, new = before.splitlines(), after.splitlines()
    lines: list[tuple[str, str]] = []
    added = removed = 0
    for group in difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(CONTEXT_LINES):
        if lines:
            lines.append(("gap", "…"))
        for tag, old_start, old_end, new_start, new_end in group:
            if tag == "equal":
                lines += [("same", line) for line in old[old_start:old_end]]
                continue
            lines += [("removed", line) for line in old[old_start:old_end]]
            lines += [("added", line) for line in new[new_start:new_end]]
            removed += old_end - old_start
            added += new_end - new_start
    return Change(label, lines, added, removed)


def changes(version: PostVersion, before: PostVersion | None) -> list[Change]:
    """What ``version`` changed compared with ``before`` (everything, for the first version)."""
    labels = ("Title", "Excerpt", "Format", "Text", "Tags")
    old = _words(before) if before is not None else ("",) * len(labels)
    compared = (_compared(*fields) for fields in zip(labels, old, _words(version), strict=True))
    return [change for change in compared if change is not None]


def _post_or_404(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404, description="There is no such post (was it deleted?), so it has no history.")
    if not current_user.can_edit(post):
        abort(403, description="You can see the history only of your own posts.")
    return post


def _versions(post: Post) -> list[PostVersion]:
    return list(db.session.scalars(select(PostVersion).where(PostVersion.post_id == post.id).order_by(PostVersion.id)))


def _version_or_404(post: Post, version_id: int) -> tuple[PostVersion, PostVersion | None]:
    """Return the post's version ``version_id`` and the one before it."""
    versions = _versions(post)
    for place, version in enumerate(versions):
        if version.id == version_id:
            return version, versions[place - 1] if place else None
    abort(404, description="This post has no such version.")


@bp.get("")
def versions(post_id: int) -> str:
    """Every version of the post, newest first, with who saved it, when, and how much it changed."""
    post = _post_or_404(post_id)
    kept = _versions(post)
    rows = [(version, changes(version, kept[place - 1] if place else None)) for place, version in enumerate(kept)]
    return render_template("admin/history.html", post=post, rows=list(reversed(rows)))


@bp.get("/<int:version_id>")
def version(post_id: int, version_id: int) -> str:
    """One version: what it changed, line by line, and the button that brings it back."""
    post = _post_or_404(post_id)
    shown, before = _version_or_404(post, version_id)
    is_current = _words(shown) == _words(post)
    return render_template(
        "admin/version.html", post=post, version=shown, changes=changes(shown, before), is_current=is_current
    )


@bp.post("/<int:version_id>/restore")
def restore(post_id: int, version_id: int) -> ResponseReturnValue:
    """Bring back an earlier version's words; the post's address, status and dates stay as they are."""
    post = _post_or_404(post_id)
    shown, _ = _version_or_404(post, version_id)
    post.title, post.excerpt, post.format, post.body = shown.title, shown.excerpt, shown.format, shown.body
    post.tags = tags_named([name.strip() for name in shown.tags.split(",") if name.strip()])
    keep_version(post, current_user, note=f"Restored the version of {format_stamp(shown.saved_at)}")
    db.session.commit()
    flash(f"“{post.title}” is back as it was on {format_stamp(shown.saved_at)}.", "success")
    return redirect(url_for(".versions", post_id=post.id), 303)
