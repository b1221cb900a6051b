"""Each post's ``comment_count`` and ``thread_count``, and each comment's ``thread_ordinal``, kept right as comments
change, so that listings never count per page view and a page of a long conversation never counts its threads.

After every flush that adds, changes or removes a comment, its post is counted again in one statement
(``count_comments``) and its threads are numbered again from the earliest one the change can move (usually the
last few: a new comment moves nothing before it); statements that bypass the ORM (bulk inserts, imports, purges)
call ``recount_comments``, which numbers every thread again; a comment posted, inserted without a flush, is added
to its post's counts by ``count_new_comment`` (what it adds is known: counting again would read the whole thread).
What counts is what every reader sees: ``Comment.is_visible_to(None)``, the one rule; threads.py adds a
commenter's own held comments when reading.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Select
from sqlalchemy.sql import Update
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import ScalarSelect

from database import UTCDateTime
from database import db
from models import Comment
from models import Post

# What decides whether a comment starts a thread (for itself, and for its replies).
THREAD_FIELDS = ("status", "trashed_at", "parent_id", "created_at", "post_id")
FROM_THE_START = None  # renumber a post's threads from its first comment


@event.listens_for(Session, "after_flush")
def count_comments(session: Session, context: Any) -> None:
    """Recount the comments readers see of every post whose comments this flush added, changed or removed."""
    post_ids: set[int] = set()
    moved: dict[int, datetime | None] = {}
    changed_ids: list[int] = []
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Comment):
            history = inspect(instance).attrs.post_id.history
            post_ids.update(i for i in (*history.added, *history.unchanged, *history.deleted) if i is not None)
            _note_threads_moved(instance, session, moved, changed_ids)
    if post_ids:
        _count_posts(session, post_ids, moved, changed_ids)


def count_new_comment(session: Session, comment: Comment) -> None:
    """Number the thread of a comment inserted without a flush (database.insert_row) and add it to its post's counts.

    A new comment answers a comment already there and has no replies, so it moves only the threads written after
    it, each one place on: its post gains one comment if everyone sees it and one thread if it starts one. Added,
    not counted again as a flush does, which would read every comment of the post: the blog's busiest write would
    cost more the longer the conversation.
    """
    connection = session.connection()
    _hold_posts(connection, {comment.post_id})
    _note_ordinals(session, _number_new_comment(connection, comment))
    added = {"comments": int(comment.is_visible_to(None)), "threads": int(comment.thread_ordinal is not None)}
    connection.execute(_count_one_more_statement(), {"post_id": comment.post_id} | added)
    _forget_counts(session, {comment.post_id})


def _number_new_comment(connection: Connection, comment: Comment) -> dict[int, int | None]:
    """Give a new comment its thread place, and any later thread its own again; return the comments changed.

    The newest comment of its post, as nearly every comment posted is, is placed by one statement after the last
    thread before it (the numbering below, for one comment). One written before others (a clock set back) has the
    threads after it numbered again from it on.
    """
    parameters = {"comment_id": comment.id, "of_post": comment.post_id, "since": comment.created_at}
    placed = connection.execute(_place_newest_statement(), parameters).first()
    if placed is None:
        return renumber_threads(connection, comment.post_id, comment.created_at)
    return {comment.id: placed.thread_ordinal}


def _count_posts(
    session: Session, post_ids: set[int], moved: dict[int, datetime | None], changed_ids: list[int]
) -> None:
    """Number the threads again where they moved, then count the posts' comments and threads."""
    connection = session.connection()
    _hold_posts(connection, post_ids)
    _note_replies_moved(connection, changed_ids, moved)
    for post_id, since in sorted(moved.items()):
        _note_ordinals(session, renumber_threads(connection, post_id, since))
    connection.execute(_recount_some_statement(), {"post_ids": sorted(post_ids)})
    _forget_counts(session, post_ids)


def _forget_counts(session: Session, post_ids: set[int]) -> None:
    """Make the posts this session holds read their counts again, as stored, when next asked."""
    for post_id in post_ids:
        post = session.identity_map.get(session.identity_key(Post, post_id))
        if post is not None:
            session.expire(post, ["comment_count", "thread_count"])


def _note_threads_moved(
    comment: Comment, session: Session, moved: dict[int, datetime | None], changed_ids: list[int]
) -> None:
    """Note, per post, the earliest time from which this write can change which comments start threads."""
    state = inspect(comment)
    if comment in session.new:
        _earliest(moved, comment.post_id, comment.created_at)
    elif comment in session.deleted:
        for post_id in (*state.attrs.post_id.history.unchanged, *state.attrs.post_id.history.deleted):
            _earliest(moved, post_id, FROM_THE_START)  # its replies lose their parent, whenever they were written
    elif any(state.attrs[field].history.has_changes() for field in THREAD_FIELDS):
        history = state.attrs.post_id.history
        post_ids = {*history.added, *history.unchanged, *history.deleted} - {None}
        times = state.attrs.created_at.history
        earliest = min((t for t in (*times.added, *times.unchanged, *times.deleted) if t is not None), default=None)
        for post_id in post_ids:
            _earliest(moved, post_id, earliest if len(post_ids) == 1 else FROM_THE_START)
        changed_ids.append(comment.id)


def _note_replies_moved(connection: Connection, changed_ids: list[int], moved: dict[int, datetime | None]) -> None:
    """A comment hidden or shown again turns its replies into threads of their own or back: note them too."""
    if not changed_ids:
        return
    for post_id, earliest in connection.execute(_earliest_replies_statement(), {"comment_ids": changed_ids}):
        _earliest(moved, post_id, earliest)


@cache
def _earliest_replies_statement() -> Select[Any]:
    return (
        select(Comment.post_id, func.min(Comment.created_at))
        .where(Comment.parent_id.in_(bindparam("comment_ids", expanding=True)))
        .group_by(Comment.post_id)
    )


def _earliest(moved: dict[int, datetime | None], post_id: int, at: datetime | None) -> None:
    if post_id in moved and (moved[post_id] is FROM_THE_START or at is FROM_THE_START):
        moved[post_id] = FROM_THE_START
    else:
        moved[post_id] = at if post_id not in moved else min(moved[post_id], at)  # type: ignore[type-var]


def _hold_posts(connection: Connection, post_ids: set[int]) -> None:
    """On PostgreSQL, take the posts' row locks before numbering: two comments written at once on one post are
    numbered one after the other, never both as the same next thread. (SQLite has one writer at a time.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(_hold_posts_statement(), {"post_ids": sorted(post_ids)})


@cache
def _hold_posts_statement() -> Select[Any]:
    chosen = Post.id.in_(bindparam("post_ids", expanding=True))
    return select(Post.id).where(chosen).with_for_update(key_share=True)


def renumber_threads(
    connection: Connection, post_id: int | None = None, since: datetime | None = FROM_THE_START
) -> dict[int, int | None]:
    """Number the post's threads (every post's, if none is named) again from its first comment written at
    ``since``; return the comments changed, each with its new place.

    One statement reads the comments from ``since`` on, each with the place of the last thread before ``since``
    (a new comment: itself, and that place found by its index), or every comment once, post by post, when all are
    numbered; one more writes the places that changed. The statements are built once: building them costs more
    than running them (this runs for every comment).
    """
    if post_id is None:
        rows = connection.execute(_comments_in_order_statement())
    elif since is FROM_THE_START:
        rows = connection.execute(_comments_in_order_statement("post"), {"post_id": post_id})
    else:
        rows = connection.execute(_comments_in_order_statement("since"), {"post_id": post_id, "since": since})
    changes, current_post, ordinal = [], None, 0
    for each_post, comment_id, old, is_start, before in rows:
        if each_post != current_post:
            ordinal = before or 0
        current_post = each_post
        ordinal += 1 if is_start else 0
        new = ordinal if is_start else None
        if new != old:
            changes.append({"comment_id": comment_id, "ordinal": new})
    if changes:
        connection.execute(_set_ordinal_statement(), changes)
    return {change["comment_id"]: change["ordinal"] for change in changes}


@cache
def _comments_in_order_statement(of: str = "all") -> Select[Any]:
    """Every comment (``of`` "all"), a post's ("post") or a post's from a time on ("since"), post by post in time
    order, each with its place and whether it starts a thread for everyone."""
    starts = Comment.is_visible_to(None) & Comment.starts_a_thread_for(None)
    since = bindparam("since", type_=UTCDateTime())
    before = _thread_before(bindparam("post_id"), since) if of == "since" else literal(0)
    comments = select(Comment.post_id, Comment.id, Comment.thread_ordinal, starts, before)
    if of in ("post", "since"):
        comments = comments.where(Comment.post_id == bindparam("post_id"))
    if of == "since":
        comments = comments.where(Comment.created_at >= since)
    return comments.order_by(Comment.post_id, Comment.created_at, Comment.id)


@cache
def _place_newest_statement() -> Update:
    """Number one comment, if no other comment of its post was written at its time or later, as
    ``renumber_threads`` would: the next place after the last thread before it, if it starts one."""
    post_id, since = bindparam("of_post"), bindparam("since", type_=UTCDateTime())  # "post_id" names the column
    later = aliased(Comment)
    others_since = select(later.id).where(
        later.post_id == post_id, later.created_at >= since, later.id != bindparam("comment_id")
    )
    starts = Comment.is_visible_to(None) & Comment.starts_a_thread_for(None)
    place = case((starts, func.coalesce(_thread_before(post_id, since), 0) + 1), else_=None)
    return (
        update(Comment)
        .where(Comment.id == bindparam("comment_id"), ~others_since.exists())
        .values(thread_ordinal=place)
        .returning(Comment.thread_ordinal)
    )


def _thread_before(post_id: BindParameter[Any], since: BindParameter[Any]) -> ScalarSelect[Any]:
    """The place of the post's last thread started before a time (by ``ix_comments_post_thread_starts``), read
    once per statement (it depends on nothing in the row)."""
    earlier = aliased(Comment)
    return (
        select(earlier.thread_ordinal)
        .where(earlier.post_id == post_id, earlier.thread_ordinal.is_not(None), earlier.created_at < since)
        .order_by(earlier.created_at.desc(), earlier.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def recount_comments(post_ids: set[int] | None = None) -> None:
    """Set ``comment_count`` and the threads again after statements that bypass the ORM (bulk inserts, imports,
    purges), or after anything else went wrong."""
    connection = db.session.connection()
    if post_ids is None:
        _note_ordinals(db.session, renumber_threads(connection))
        db.session.execute(_recount_all_statement())
        return
    for post_id in sorted(post_ids):
        _note_ordinals(db.session, renumber_threads(connection, post_id))
    db.session.execute(_recount_some_statement(), {"post_ids": sorted(post_ids)})


def _note_ordinals(session: Session, ordinals: dict[int, int | None]) -> None:
    """Give the comments this session holds their new places, as stored (no statement to read them again).

    A comment being added is not in the identity map until its flush ends: it is found among the new ones. Its
    place was missed before, and the commenter was sent to the first page of a long thread, not to theirs.
    """
    held = [
        *(session.identity_map.get(session.identity_key(Comment, comment_id)) for comment_id in ordinals),
        *(instance for instance in session.new if isinstance(instance, Comment) and instance.id in ordinals),
    ]
    for comment in held:
        if comment is not None:
            set_committed_value(comment, "thread_ordinal", ordinals[comment.id])


@cache
def _set_ordinal_statement() -> Update:
    table = Comment.__table__
    return update(table).where(table.c.id == bindparam("comment_id")).values(thread_ordinal=bindparam("ordinal"))


@cache
def _recount_some_statement() -> Update:
    return _recount_all_statement().where(Post.id.in_(bindparam("post_ids", expanding=True)))


@cache
def _count_one_more_statement() -> Update:
    # updated_at is set to itself: a new comment does not make the post "updated".
    return (
        update(Post)
        .where(Post.id == bindparam("post_id"))
        .values(
            comment_count=Post.comment_count + bindparam("comments"),
            thread_count=Post.thread_count + bindparam("threads"),
            updated_at=Post.updated_at,
        )
    )


@cache
def _recount_all_statement() -> Update:
    shown = select(func.count(Comment.id)).where(Comment.post_id == Post.id, Comment.is_visible_to(None))
    threads = select(func.coalesce(func.max(Comment.thread_ordinal), 0)).where(Comment.post_id == Post.id)
    # updated_at is set to itself: a new comment does not make the post "updated".
    return update(Post).values(
        comment_count=shown.scalar_subquery(), thread_count=threads.scalar_subquery(), updated_at=Post.updated_at
    )
