"""The trash, under /admin/trash: deleted posts, kept with their comments but shown to no reader, until the owner
restores them as they were or deletes them forever; `purge` deletes for good those kept over TRASH_KEEP_DAYS.

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the audit log.
Moving a post here is the editor's "Delete" (editor.py); what readers see leaves trashed posts out by the rule
itself (``Post.is_published``).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from admin.editor import posts_visible_to
from database import db
from database import now_utc
from models import Comment
from models import Post
from reading import paginate

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares: login required, the audit log.
bp = Blueprint("trash", __name__, url_prefix="/trash")

TRASHED_PER_PAGE = 50


@bp.get("")
def list_trash() -> str:
    """List the posts in the trash (an author sees their own), most recently trashed first, with their comments."""
    query = posts_visible_to(current_user, in_trash=True).options(selectinload(Post.author))
    posts = paginate(query.order_by(Post.trashed_at.desc(), Post.id.desc()), TRASHED_PER_PAGE)
    keep_days = current_app.config["TRASH_KEEP_DAYS"]
    return render_template(
        "admin/trash.html",
        posts=posts,
        comment_counts=_comment_counts([post.id for post in posts.items]),
        keep_days=keep_days,
        deleted_after=timedelta(days=keep_days),
    )


def _comment_counts(post_ids: list[int]) -> dict[int, int]:
    """Every comment of each post (held and spam too): all of them come back with it."""
    query = select(Comment.post_id, func.count()).where(Comment.post_id.in_(post_ids)).group_by(Comment.post_id)
    return dict(db.session.execute(query).tuples().all())


def trashed_post_or_404(post_id: int) -> Post:
    """Return the post in the trash if the current user may change it.

    :raise 404: when there is no such post in the trash (never was, restored, or deleted forever).
    :raise 403: when an author tries to change someone else's post.
    """
    post = db.session.get(Post, post_id)
    if post is None or not post.is_trashed:
        abort(404, description="There is no such post in the trash (restored, or deleted forever?).")
    if not current_user.can_edit(post):
        abort(403, description="You can restore or delete only your own posts.")
    return post


@bp.post("/<int:post_id>/restore")
def restore_post(post_id: int) -> ResponseReturnValue:
    """Bring a post back from the trash exactly as it was: published, scheduled or a draft, at its address."""
    post = trashed_post_or_404(post_id)
    post.restore_from_trash()
    db.session.commit()
    flash(f"Restored “{post.title}” with its comments, as it was before.", "success")
    return redirect(url_for("admin.trash.list_trash"), 303)


@bp.route("/<int:post_id>/delete", methods=["GET", "POST"])
def delete_forever(post_id: int) -> ResponseReturnValue:
    """Ask for confirmation, then delete a post in the trash and its comments for good."""
    post = trashed_post_or_404(post_id)
    if request.method == "GET":
        comments = db.session.scalar(select(func.count()).where(Comment.post_id == post.id))
        return render_template("admin/confirm_delete_forever.html", post=post, comments=comments)
    title = post.title
    db.session.delete(post)
    db.session.commit()
    flash(f"Deleted “{title}” and its comments forever.", "success")
    return redirect(url_for("admin.trash.list_trash"), 303)


def purge_old_trash(older_than_days: int) -> int:
    """Delete for good the posts in the trash for more than ``older_than_days``; return how many were deleted.

    Each is deleted through the session, so its comments go with it and the cached pages hear of it.
    """
    cutoff = now_utc() - timedelta(days=older_than_days)
    posts = db.session.scalars(select(Post).where(Post.trashed_at < cutoff)).all()
    for post in posts:
        db.session.delete(post)
    db.session.commit()
    return len(posts)
