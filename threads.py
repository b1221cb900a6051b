"""How a post's comments read as a conversation: threads in time order, replies under what they answer, pages
counted in threads, and the page that shows a given comment. Which comments a commenter sees is reading.py's rule
(``Comment.is_visible_to``); this module only arranges them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import cache

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import bindparam
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlalchemy.orm import load_only
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql import Select

from database import UTCDateTime
from database import db
from models import Comment

MAX_REPLY_DEPTH = 3
# What a thread shows of each comment (the avatar is drawn from the commenter's key; edit links and "awaiting
# moderation" read the date and status): never the Markdown source, the email or the network's hash.
SHOWN_COLUMNS = (
    Comment.id,
    Comment.post_id,
    Comment.parent_id,
    Comment.author_name,
    Comment.author_website,
    Comment.body_html,
    Comment.status,
    Comment.created_at,
    Comment.edited_at,
    Comment.by_owner,
    Comment.commenter_key,
    Comment.trashed_at,
)


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

    One statement reads the page's first comments of threads (by ``ix_comments_post_status_created``) and, through
    a recursive step by ``parent_id``, every shown reply below them, so a page reads the same rows whether the post
    has fifty comments or five thousand. ``comment_thread`` of the result is the page :func:`thread_pages` would cut
    from the whole thread.
    """
    place = {"post_id": post_id, "limit": per_page, "offset": (page - 1) * per_page}
    if commenter_key:
        place["key"] = commenter_key
    rows = db.session.execute(_page_statement(for_a_commenter=bool(commenter_key)), place).all()
    return [comment for comment, _ in rows], (rows[0][1] if rows else 0)


@cache
def _page_statement(*, for_a_commenter: bool) -> Select[tuple[Comment, int]]:
    """Built once for readers and once for commenters (who also see their held comments): a comment page is on
    every post page the cache misses; the post, the commenter's key and the page are bound at each run."""
    post_id = bindparam("post_id", type_=Integer())
    key = bindparam("key", type_=String()) if for_a_commenter else None
    roots = (
        select(Comment.id, func.count().over().label("threads"))
        .where(Comment.post_id == post_id, Comment.is_visible_to(key), _starts_a_thread(key))
        .order_by(Comment.created_at, Comment.id)
        .limit(bindparam("limit", type_=Integer()))
        .offset(bindparam("offset", type_=Integer()))
        .cte("roots")
    )
    shown = select(roots.c.id).cte("shown", recursive=True)
    reply = aliased(Comment)
    shown = shown.union(
        select(reply.id).where(reply.parent_id == shown.c.id, reply.post_id == post_id, reply.is_visible_to(key))
    )
    threads = select(func.max(roots.c.threads)).scalar_subquery()
    return (
        select(Comment, threads)
        .join(shown, shown.c.id == Comment.id)
        .options(load_only(*SHOWN_COLUMNS))
        .order_by(Comment.created_at, Comment.id)
    )


def _starts_a_thread(commenter_key: str | ColumnElement[str] | None) -> ColumnElement[bool]:
    """A shown comment starts a thread when it answers nothing, or a comment this reader does not see."""
    parent = aliased(Comment)
    hidden_parent = ~exists().where(parent.id == Comment.parent_id, parent.is_visible_to(commenter_key))
    return Comment.parent_id.is_(None) | hidden_parent


def comment_page_number(comment: Comment, commenter_key: str | None, per_page: int) -> int | None:
    """Return the page of the post's comments that shows ``comment`` to this commenter, or ``None`` if hidden.

    The page follows from how many threads start before the comment's own thread: one count, however long
    the conversation.
    """
    if not comment.is_visible_to(commenter_key):
        return None
    root_id, root_created_at = _thread_root(comment, commenter_key)
    place = {"post_id": comment.post_id, "key": commenter_key, "at": root_created_at, "root_id": root_id}
    earlier_roots = db.session.scalar(_earlier_threads_statement(), place)
    return (earlier_roots or 0) // per_page + 1


def _thread_root(comment: Comment, commenter_key: str | None) -> tuple[int, datetime]:
    """Return the id and time of the first comment of the thread ``comment`` is shown in.

    A comment that answers nothing starts its own thread (every new top-level comment: no statement). Otherwise
    the shown ancestors are read in one recursive statement: a chain of replies a thousand deep costs one
    statement, not one per ancestor.
    """
    if comment.parent_id is None:
        return comment.id, comment.created_at
    place = {"comment_id": comment.id, "post_id": comment.post_id, "key": commenter_key}
    rows = db.session.execute(_ancestors_statement(), place).all()
    shown = {row.id for row in rows}
    root = next((row for row in rows if row.parent_id not in shown), comment)
    return root.id, root.created_at


@cache
def _ancestors_statement() -> Select[tuple[int, int | None, datetime]]:
    """Read a comment and its shown ancestors on its post (built once: it runs for every reply posted).

    ``UNION`` (not ``UNION ALL``) ends even on a loop of parents.
    """
    ancestors = (
        select(Comment.id, Comment.parent_id, Comment.created_at)
        .where(Comment.id == bindparam("comment_id"))
        .cte("ancestors", recursive=True)
    )
    parent = aliased(Comment)
    ancestors = ancestors.union(
        select(parent.id, parent.parent_id, parent.created_at).where(
            parent.id == ancestors.c.parent_id,
            parent.post_id == bindparam("post_id"),
            parent.is_visible_to(bindparam("key")),
        )
    )
    return select(ancestors)


@cache
def _earlier_threads_statement() -> Select[tuple[int]]:
    """Count the threads shown before a thread's first comment (built once: it runs for every comment posted).

    A thread starts at a shown comment whose parent is not shown (usually: has none).
    """
    key = bindparam("key")
    at, root_id = bindparam("at", type_=UTCDateTime()), bindparam("root_id")
    return select(func.count(Comment.id)).where(
        Comment.post_id == bindparam("post_id"),
        Comment.is_visible_to(key),
        (Comment.created_at < at) | ((Comment.created_at == at) & (Comment.id < root_id)),
        _starts_a_thread(key),
    )
