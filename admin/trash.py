"""The trash, under /admin/trash: deleted posts, kept with their comments but shown to no reader, and deleted
comments, until the owner restores them as they were or deletes them forever; `purge` deletes for good those kept
over TRASH_KEEP_DAYS.

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the audit log.
Moving a post here is the editor's "Delete" (editor.py), a comment the queue's (moderation.py); what readers see
leaves them out by the rules themselves (``Post.is_published``, ``Comment.is_visible_to``).
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
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm import selectinload

from admin.editor import posts_visible_to
from admin.moderation import comments_visible_to
from database import db
from database import now_utc
from models import Comment
from models import Post
from reading import paginate
from reading import requested_page

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares: login required, the audit log.
bp = Blueprint("trash", __name__, url_prefix="/trash")

TRASHED_PER_PAGE = 50


@bp.get("")
def list_trash() -> str:
    """List the posts in the trash (an author sees their own), most recently trashed first, with their comments;
    then the comments in the trash (an author sees those on their posts), each with its own pages (``?cpage=``)."""
    query = posts_visible_to(current_user, in_trash=True).options(selectinload(Post.author))
    posts = paginate(query.order_by(Post.trashed_at.desc(), Post.id.desc()), TRASHED_PER_PAGE)
    comments = comments_visible_to(current_user, in_trash=True).options(contains_eager(Comment.post))
    comments = db.paginate(
        comments.order_by(Comment.trashed_at.desc(), Comment.id.desc()),
        page=requested_page("cpage"),
        per_page=TRASHED_PER_PAGE,
    )
    keep_days = current_app.config["TRASH_KEEP_DAYS"]
    return render_template(
        "admin/trash.html",
        posts=posts,
        comment_counts=_comment_counts([post.id for post in posts.items]),
        comments=comments,
        keep_days=keep_days,
        deleted_after=timedelta(days=keep_days),
    )


def _comment_counts(post_ids: list[int]) -> dict[int, int]:
    """Every comment of each post (held and spam too) that comes back with it: not those in the trash themselves."""
    query = (
        select(Comment.post_id, func.count())
        .where(Comment.post_id.in_(post_ids), Comment.trashed_at.is_(None))
        .group_by(Comment.post_id)
    )
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


# Comments


def trashed_comment_or_404(comment_id: int) -> Comment:
    """Return the comment in the trash if the current user may change it (an admin, or the author of its post).

    :raise 404: when there is no such comment in the trash (never was, restored, deleted forever, or deleted with
        its post), or it is on someone else's post.
    """
    comment = db.session.scalar(comments_visible_to(current_user, in_trash=True).where(Comment.id == comment_id))
    if comment is None:
        abort(
            404,
            description="There is no such comment in the trash (restored, deleted forever, or deleted forever "
            "with its post?).",
        )
    return comment


@bp.post("/comments/<int:comment_id>/restore")
def restore_comment(comment_id: int) -> ResponseReturnValue:
    """Bring a comment back from the trash exactly as it was: approved, held or spam, where it was in its thread.

    A comment whose post is in the trash stays there until the post is restored: it would show nowhere.
    """
    comment = trashed_comment_or_404(comment_id)
    if comment.post.is_trashed:
        flash(
            f"The comment by {comment.author_name} stays in the trash: its post, “{comment.post.title}”, is in the "
            "trash too. Restore the post first, then the comment.",
            "error",
        )
        return redirect(url_for("admin.trash.list_trash"), 303)
    comment.restore_from_trash()
    db.session.commit()
    flash(f"Restored the comment by {comment.author_name} on “{comment.post.title}”, as it was before.", "success")
    return redirect(url_for("admin.trash.list_trash"), 303)


@bp.route("/comments/<int:comment_id>/delete", methods=["GET", "POST"])
def delete_comment_forever(comment_id: int) -> ResponseReturnValue:
    """Ask for confirmation, then delete a comment in the trash for good (its replies stay)."""
    comment = trashed_comment_or_404(comment_id)
    if request.method == "GET":
        return render_template("admin/confirm_delete_comment_forever.html", comment=comment)
    author, title = comment.author_name, comment.post.title
    db.session.delete(comment)
    db.session.commit()
    flash(f"Deleted the comment by {author} on “{title}” forever.", "success")
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


def purge_old_trashed_comments(older_than_days: int) -> int:
    """Delete for good the comments in the trash for more than ``older_than_days``; return how many were deleted.

    Through the session, as the posts: their replies stay, answering a comment that is no longer there.
    """
    cutoff = now_utc() - timedelta(days=older_than_days)
    comments = db.session.scalars(select(Comment).where(Comment.trashed_at < cutoff)).all()
    for comment in comments:
        db.session.delete(comment)
    db.session.commit()
    return len(comments)
