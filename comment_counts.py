"""Each post's ``comment_count``, kept right as comments change, so that listings never count per page view.

After every flush that adds, changes or removes a comment, its post is counted again in one statement
(``count_comments``); statements that bypass the ORM (bulk inserts, imports, purges) call ``recount_comments``.
What counts is what every reader sees: ``Comment.is_visible_to(None)``, the one rule.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Update

from database import db
from models import Comment
from models import Post


@event.listens_for(Session, "after_flush")
def count_comments(session: Session, context: Any) -> None:
    """Recount the comments readers see of every post whose comments this flush added, changed or removed."""
    post_ids: set[int] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Comment):
            history = inspect(instance).attrs.post_id.history
            post_ids.update(i for i in (*history.added, *history.unchanged, *history.deleted) if i is not None)
    if post_ids:
        session.connection().execute(_recount_some_statement(), {"post_ids": sorted(post_ids)})
        for post_id in post_ids:
            post = session.identity_map.get(session.identity_key(Post, post_id))
            if post is not None:
                session.expire(post, ["comment_count"])


def recount_comments(post_ids: set[int] | None = None) -> None:
    """Set ``comment_count`` again after statements that bypass the ORM (bulk inserts, imports, purges)."""
    if post_ids is None:
        db.session.execute(_recount_all_statement())
    else:
        db.session.execute(_recount_some_statement(), {"post_ids": sorted(post_ids)})


@cache
def _recount_some_statement() -> Update:
    return _recount_all_statement().where(Post.id.in_(bindparam("post_ids", expanding=True)))


@cache
def _recount_all_statement() -> Update:
    shown = select(func.count(Comment.id)).where(Comment.post_id == Post.id, Comment.is_visible_to(None))
    # updated_at is set to itself: a new comment does not make the post "updated".
    return update(Post).values(comment_count=shown.scalar_subquery(), updated_at=Post.updated_at)
