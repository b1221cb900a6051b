"""How a post's comments read as a conversation: threads in time order, replies under what they answer, pages
counted in threads, and the page that shows a given comment. Which comments a commenter sees is reading.py's rule
(``Comment.is_visible_to``); this module only arranges them.
"""

from __future__ import annotations

from bisect import bisect_left
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy import tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import CTE

from database import db
from database import rows_of
from models import Comment
from models import CommentStatus
from models import Post

MAX_REPLY_DEPTH = 3


def comment_thread(comments: list[Comment], max_depth: int = MAX_REPLY_DEPTH) -> list[tuple[Comment, int]]:
    """Order comments, given oldest first, as threads, each followed by its replies, oldest first at every level.

    Rows with just ``id`` and ``parent_id`` do as well as comments.

    Returns ``(comment, depth)`` pairs. Depth stops at ``max_depth`` (at least 2): every reply below a comment
    of the level above it is shown at that last level, in the order they were written, whatever they answer
    (the page says "in reply to" whom), so a conversation deep in a thread reads down the page as it happened
    instead of as a staircase. A reply whose parent is not shown starts a thread of its own.
    """
    if max_depth < 2:
        raise ValueError("Threads need at least two levels: comments and their replies.")
    shown = {comment.id for comment in comments}
    replies: dict[int | None, list[Comment]] = defaultdict(list)
    for comment in comments:
        replies[comment.parent_id if comment.parent_id in shown else None].append(comment)
    rank = {comment.id: index for index, comment in enumerate(comments)}
    thread: list[tuple[Comment, int]] = []
    stack = [(comment, 1) for comment in reversed(replies[None])]
    while stack:
        comment, depth = stack.pop()
        thread.append((comment, depth))
        if depth + 1 < max_depth:
            stack.extend((reply, depth + 1) for reply in reversed(replies[comment.id]))
        else:
            thread.extend((reply, max_depth) for reply in _all_replies_in_time_order(comment, replies, rank))
    return thread


def _all_replies_in_time_order(
    comment: Comment, replies: dict[int | None, list[Comment]], rank: dict[int, int]
) -> list[Comment]:
    """Return the replies to ``comment``, the replies to those and so on, in the order given (oldest first)."""
    found, waiting = [], list(replies[comment.id])
    while waiting:
        reply = waiting.pop()
        found.append(reply)
        waiting.extend(replies[reply.id])
    return sorted(found, key=lambda reply: rank[reply.id])


def thread_pages(thread: list[tuple[Comment, int]], per_page: int) -> list[list[tuple[Comment, int]]]:
    """Split a thread into pages of ``per_page`` top-level comments, each with all its replies (as WordPress does).

    Pages are counted in top-level comments so that the page of any comment is a count, not a layout: see
    :func:`comment_page_number`.
    """
    pages: list[list[tuple[Comment, int]]] = [[]]
    roots = 0
    for comment, depth in thread:
        if depth == 1:
            if roots == per_page:
                pages.append([])
                roots = 0
            roots += 1
        pages[-1].append((comment, depth))
    return pages


def comments_on_page(post_id: int, commenter_key: str | None, page: int, per_page: int) -> tuple[list[Comment], int]:
    """Return the comments of one page of a post's threads, oldest first, and how many threads the post has.

    One statement reads the page's first comments of threads by their stored place (``Comment.thread_ordinal``,
    an index range) and, through a recursive step by ``parent_id``, every shown reply below them, so a page reads
    the same rows whether the post has fifty comments or five thousand. A commenter's own held comments move the
    threads everyone sees by a few places (:class:`OwnThreads`, one small statement more, two if any are held).
    ``comment_thread`` of the result is the page :func:`thread_pages` would cut from the whole thread.
    """
    own = OwnThreads.of(post_id, commenter_key)
    first, last = (page - 1) * per_page + 1, page * per_page
    ordinals = own.public_ordinals_placed(first, last) or [1, 0]  # none: an empty range
    own_ids = [comment_id for comment_id, place in own.places() if first <= place <= last]
    statement = _page_statement(db.session.get_bind().dialect.name == "postgresql", bool(commenter_key))
    places = {"post_id": post_id, "lowest": ordinals[0], "highest": ordinals[-1], "key": commenter_key}
    if commenter_key:
        places |= {"absorbed": list(own.absorbed), "own_ids": own_ids}
    rows = db.session.execute(statement, places).all()
    comments = sorted((c for c, _ in rows if c.post_id == post_id), key=lambda c: (c.created_at, c.id))
    return comments, (own.threads(rows[0][1]) if rows else 0)


@cache
def _page_statement(postgres: bool, for_a_commenter: bool) -> Select[Any]:
    """Read a page: the threads at places ``lowest`` to ``highest`` (but those ``absorbed``) and the commenter's
    ``own_ids``, every reply below them this reader sees, and the post's number of threads (built once per kind of
    reader and database: building it costs more than running it)."""
    key = bindparam("key") if for_a_commenter else None
    public = Comment.thread_ordinal.between(bindparam("lowest"), bindparam("highest"))
    if for_a_commenter:
        public &= Comment.thread_ordinal.not_in(bindparam("absorbed", expanding=True))
    roots = select(Comment.id).where(Comment.post_id == bindparam("post_id"), public)
    if for_a_commenter:
        roots = roots.union_all(select(Comment.id).where(Comment.id.in_(bindparam("own_ids", expanding=True))))
    roots = roots.cte("roots")
    # Replies are found by their parent's index; the post is checked on the rows read (as a condition, it would
    # tempt SQLite to read every comment of the post instead).
    shown = select(roots.c.id).cte("shown", recursive=True)
    replies = _look_up_for_each(
        shown,
        postgres,
        link=lambda reply: reply.parent_id == shown.c.id,
        keep=lambda reply: reply.is_visible_to(key),
        columns=lambda reply: [reply.id],
    )
    shown = shown.union(replies)
    threads = select(Post.thread_count).where(Post.id == bindparam("post_id")).scalar_subquery()
    return _look_up_for_each(
        shown,
        postgres,
        link=lambda row: row.id == shown.c.id,
        keep=lambda row: true(),
        columns=lambda row: [row, threads],
    )


@dataclass(frozen=True)
class OwnThreads:
    """How a commenter's own held comments move the threads everyone sees (``Comment.thread_ordinal``).

    ``starts``: the held comments that start a thread for this commenter, oldest first, each with the number of
    public threads before it. ``absorbed``: the places of public threads that answer one of those held comments
    (for everyone else the held parent is hidden, so they start threads; for this commenter they are replies).
    Both are as small as the commenter's comments waiting for moderation.
    """

    starts: tuple[tuple[int, int], ...] = ()
    absorbed: tuple[int, ...] = ()

    @classmethod
    def of(cls, post_id: int, commenter_key: str | None) -> OwnThreads:
        """Read them in one statement by an index (two when something is held)."""
        if not commenter_key:
            return cls()
        rows = rows_of(_held_comments_statement(), {"key": commenter_key, "post_id": post_id}).all()
        if not rows:
            return cls()
        held_ids = [comment_id for comment_id, _, _ in rows]
        absorbed = tuple(sorted(db.session.scalars(_public_answers_statement(), {"held_ids": held_ids})))
        return cls(tuple((comment_id, before) for comment_id, starts, before in rows if starts), absorbed)

    def place(self, ordinal: int) -> int:
        """Return where public thread number ``ordinal`` is for this commenter (1 for the first)."""
        own_before = bisect_left([before for _, before in self.starts], ordinal)
        return ordinal - bisect_left(self.absorbed, ordinal) + own_before

    def public_ordinals_placed(self, first: int, last: int) -> list[int]:
        """Return the public threads this commenter sees at places ``first`` to ``last``: a few more than that
        many are looked at, never the post's other threads."""
        nearby = range(max(1, first - len(self.starts)), last + len(self.absorbed) + 1)
        return [o for o in nearby if o not in self.absorbed and first <= self.place(o) <= last]

    def places(self) -> list[tuple[int, int]]:
        """Return each own thread's id and place."""
        return [
            (comment_id, before - bisect_right(self.absorbed, before) + index + 1)
            for index, (comment_id, before) in enumerate(self.starts)
        ]

    def threads(self, public_threads: int) -> int:
        """Return how many threads this commenter sees."""
        return public_threads - len(self.absorbed) + len(self.starts)


@cache
def _held_comments_statement() -> Select[Any]:
    """A commenter's held comments on a post, oldest first: whether each starts a thread for them, and how many
    public threads come before it (built once: building it costs more than running it)."""
    key, post_id = bindparam("key"), bindparam("post_id")
    # What is_visible_to shows this commenter and nobody else, spelt out so that it reads the post's held
    # comments by index (as is_visible_to(key) & ~is_visible_to(None), SQLite read every comment of the post).
    held = (Comment.status == CommentStatus.pending) & Comment.trashed_at.is_(None)
    before = aliased(Comment)
    public_before = (
        select(before.thread_ordinal)
        .where(
            before.post_id == post_id,
            before.thread_ordinal.is_not(None),
            tuple_(before.created_at, before.id) < tuple_(Comment.created_at, Comment.id),
        )
        .order_by(before.created_at.desc(), before.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    mine = select(Comment.id, Comment.starts_a_thread_for(key), func.coalesce(public_before, 0))
    mine = mine.where(Comment.commenter_key == key, held, Comment.post_id == post_id)
    return mine.order_by(Comment.created_at, Comment.id)


@cache
def _public_answers_statement() -> Select[Any]:
    """The places of the public threads that answer one of the given (held) comments."""
    answering = Comment.parent_id.in_(bindparam("held_ids", expanding=True))
    return select(Comment.thread_ordinal).where(answering, Comment.thread_ordinal.is_not(None))


def comment_page_number(comment: Comment, commenter_key: str | None, per_page: int) -> int | None:
    """Return the page of the post's comments that shows ``comment`` to this commenter, or ``None`` if hidden.

    The page follows from the place of the comment's thread, stored for the threads everyone sees: no count,
    however long the conversation.
    """
    if not comment.is_visible_to(commenter_key):
        return None
    root_id, ordinal = _thread_root(comment, commenter_key)
    own = OwnThreads.of(comment.post_id, commenter_key)
    place = dict(own.places()).get(root_id) if ordinal is None else own.place(ordinal)
    return ((place or 1) - 1) // per_page + 1


def _thread_root(comment: Comment, commenter_key: str | None) -> tuple[int, int | None]:
    """Return the id and stored place of the first comment of the thread ``comment`` is shown in.

    A comment that answers nothing starts its own thread (every new top-level comment: no statement). Otherwise
    the shown ancestors are read in one recursive statement: a chain of replies a thousand deep costs one
    statement, not one per ancestor.
    """
    if comment.parent_id is None:
        return comment.id, comment.thread_ordinal
    place = {"comment_id": comment.id, "post_id": comment.post_id, "key": commenter_key}
    postgres = db.session.get_bind().dialect.name == "postgresql"
    rows = db.session.execute(_ancestors_statement(postgres, bool(commenter_key)), place).all()
    shown = {row.id for row in rows}
    root = next((row for row in rows if row.parent_id not in shown), comment)
    return root.id, root.thread_ordinal


@cache
def _ancestors_statement(postgres: bool, for_a_commenter: bool) -> Select[Any]:
    """Read a comment and its shown ancestors on its post (built once: it runs for every reply posted).

    ``UNION`` (not ``UNION ALL``) ends even on a loop of parents.
    """
    key = bindparam("key") if for_a_commenter else None
    ancestors = (
        select(Comment.id, Comment.parent_id, Comment.thread_ordinal)
        .where(Comment.id == bindparam("comment_id"))
        .cte("ancestors", recursive=True)
    )
    parents = _look_up_for_each(
        ancestors,
        postgres,
        link=lambda parent: parent.id == ancestors.c.parent_id,
        keep=lambda parent: parent.is_visible_to(key) & (parent.post_id == bindparam("post_id")),
        columns=lambda parent: [parent.id, parent.parent_id, parent.thread_ordinal],
    )
    return select(ancestors.union(parents))


def _look_up_for_each(
    found_so_far: CTE,
    postgres: bool,
    *,
    link: Callable[[Any], ColumnElement[bool]],
    keep: Callable[[Any], ColumnElement[bool]],
    columns: Callable[[Any], list[Any]],
) -> Select[Any]:
    """Return a recursive step: the ``columns`` of the comments that ``link`` joins to each row found so far
    (their replies, or their parents), looked up by the index ``link`` names, that ``keep`` keeps.

    SQLite does that by itself. PostgreSQL cannot know how few rows a recursive step sees: on a blog whose comments
    are mostly one post's, it read all the approved comments at each step instead of looking up a few (55 ms
    instead of 0.2 for a page of a 5,000-comment post). A ``LATERAL`` subquery that it may not flatten
    (``OFFSET 0``), with only the link inside, makes it look them up row by row whatever its statistics say.
    """
    if not postgres:
        row = aliased(Comment)
        return select(*columns(row)).where(link(row), keep(row))
    linked = select(Comment).where(link(Comment)).offset(0).lateral()
    row = aliased(Comment, linked)
    return select(*columns(row)).select_from(found_so_far).join(linked, true()).where(keep(row))
