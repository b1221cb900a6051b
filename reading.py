"""What readers may see: published posts, the comments each commenter sees, paging and the links between
posts (how the comments read as threads: threads.py). Each rule is written once, here or on the model
(``Post.is_published``, ``Comment.is_visible_to``).

May import the storage layer (models) and the leaves; pages, the CLI and the page cache import it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import cache
from typing import Any
from typing import NamedTuple

from flask import abort
from flask import request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Integer
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import column
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy import values
from sqlalchemy.orm import defer
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql import Select

from database import UTCDateTime
from database import db
from database import now_utc
from database import object_from_columns
from database import rows_of
from localtime import month_start
from localtime import zone_name
from models import Comment
from models import Post
from models import PostKind
from models import Tag
from models import post_tags
from slugs import LegacyAddress
from slugs import SlugRedirect
from slugs import tag_redirected_from


def published_posts() -> Select[tuple[Post]]:
    """Select the posts the listings show (published, publish date reached, not pages), newest first, with tags."""
    return select(Post).where(Post.is_listed).order_by(*NEWEST_FIRST).options(*_post_details())


NEWEST_FIRST = (Post.published_at.desc(), Post.id.desc())


def _post_details() -> tuple[Any, ...]:
    """What a page showing posts needs with them: tags (one more statement) and the author (joined)."""
    return selectinload(Post.tags), joinedload(Post.author)


def _readable_posts() -> Select[tuple[Post]]:
    """Posts and pages readers may open by their address."""
    return select(Post).where(Post.is_published)


class PostLink(NamedTuple):
    """What a link to a post needs, without loading the post."""

    slug: str
    title: str


def _links(query: Select[Any]) -> Select[Any]:
    return query.with_only_columns(Post.slug, Post.title).options()


RECENT_POSTS = 5


def recent_posts(limit: int = RECENT_POSTS) -> list[PostLink]:
    """Return the latest published posts for the "Recent posts" list."""
    return [PostLink(*row) for row in db.session.execute(_links(published_posts()).limit(limit))]


def published_post(slug: str | None, kind: PostKind = PostKind.post) -> Post | None:
    """Return the published post (or page) with this slug, or ``None`` (missing, a draft, or scheduled for later)."""
    if not slug:
        return None
    return db.session.scalar(_published_post_statement(), {"slug": slug, "kind": kind, "now": now_utc()})


@cache
def _published_post_statement() -> Select[tuple[Post]]:
    """Built once (it runs on every post page). Not the Markdown source: the page shows the rendered HTML.

    Tags by a second statement: joined, SQLite would scan every post's tags first; loaded when the page shows
    them, a statement SQLAlchemy builds once, where ``selectinload`` builds one per page (0.2 ms).
    """
    now, slug, kind = bindparam("now", type_=UTCDateTime()), bindparam("slug"), bindparam("kind")
    query = select(Post).where(Post.is_published_by(now), Post.slug == slug, Post.kind == kind)
    return query.options(joinedload(Post.author), defer(Post.body), defer(Post.excerpt))


def published_pages() -> Select[tuple[Post]]:
    """Select the pages readers may open (About, Contact…), by title."""
    return _readable_posts().where(Post.kind == PostKind.page).order_by(Post.title, Post.id)


def post_by_slug_or_404(slug: str) -> Post:
    """Return the published post with this slug, without its tags and author (they load if used).

    :raise 404: when there is no such post, or it is a draft, scheduled for later, or a page (pages have no
        comments).
    """
    post = db.session.scalar(_readable_post_statement(), {"slug": slug, "now": now_utc()})
    if post is None:
        abort(404, description="There is no post at this address.")
    return post


def post_to_comment_on_or_404(slug: str) -> Post:
    """Return the published post with this slug, as :func:`post_by_slug_or_404` finds it, with only what posting a
    comment on it reads loaded (the rest is read if used: a form sent with errors shows the whole page again).

    Every comment posted looks its post up: reading the whole row through the ORM's query (a loader built for
    each of its columns on every run) cost a comment posted about 0.1 ms of CPU more, 4% of it.

    :raise 404: as :func:`post_by_slug_or_404`.
    """
    row = rows_of(_post_to_comment_on_statement(), {"slug": slug, "now": now_utc()}).first()
    if row is None:
        abort(404, description="There is no post at this address.")
    return object_from_columns(Post, row)


@cache
def _readable_post_statement() -> Select[tuple[Post]]:
    """The post by its slug, if readers may see it (built once: permalinks, feeds and edits look posts up)."""
    return select(Post).where(_is_readable_post_at_slug())


@cache
def _post_to_comment_on_statement() -> Select[Any]:
    """What a comment posted reads of its post: its address, whether it takes comments, and when it was published
    (comments may close with age)."""
    posting_reads = (Post.id, Post.slug, Post.comments_open, Post.published_at)
    return select(*(attribute.label(attribute.key) for attribute in posting_reads)).where(_is_readable_post_at_slug())


def _is_readable_post_at_slug() -> ColumnElement[bool]:
    now = bindparam("now", type_=UTCDateTime())
    return and_(Post.is_published_by(now), Post.kind == PostKind.post, Post.slug == bindparam("slug"))


def published_tag(slug: str) -> Tag | None:
    """Return the tag with this slug, if a post readers may see carries it.

    A tag that only drafts and scheduled posts carry is not found: its name alone would tell of them.
    """
    return db.session.scalar(select(Tag).where(Tag.slug == slug, Tag.posts.any(Post.is_listed)))


def tag_redirected_to(old_slug: str) -> Tag | None:
    """Return the tag readers may see that had ``old_slug`` before it was renamed or merged into another."""
    tag = tag_redirected_from(old_slug)
    return tag if tag is not None and published_tag(tag.slug) is not None else None


def visible_comments(post: Post, commenter_key: str | None) -> list[Comment]:
    """Return the post's approved comments, plus this commenter's own held ones, oldest first.

    Held comments are never public: only the browser that wrote one sees it, marked as awaiting moderation.
    """
    shown = (Comment.post_id == post.id) & Comment.is_visible_to(commenter_key)
    query = select(Comment).where(shown).order_by(Comment.created_at, Comment.id)
    return list(db.session.scalars(query))


def post_redirected_from(old_slug: str) -> Post | None:
    """Return the published post or page that used to live at ``old_slug``, if any."""
    query = (
        _readable_posts().join(SlugRedirect, SlugRedirect.post_id == Post.id).where(SlugRedirect.old_slug == old_slug)
    )
    return db.session.scalar(query)


MAX_PAGE_DIGITS = 6


def requested_page(argument: str = "page", missing: str = "There is no such page.") -> int:
    """Return the page number in the query string (``?page=``, or ``?cpage=`` for comments).

    :raise 404: with ``missing`` for anything but a positive whole number of sane size (``0``, ``-1``, ``abc``).
    """
    raw = request.args.get(argument, "1")
    if not raw.isdecimal() or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        abort(404, description=missing)
    return int(raw)


class Page(NamedTuple):
    """One page of a public listing. No total is counted: its cost would grow with the blog."""

    items: list[Any]
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def page_of(query: Select[tuple[Post]], per_page: int) -> Page:
    """Return the requested page of a query for posts, reading one row more to know whether another follows.

    The rows before the page are skipped in the index alone (a subquery of ids), so a far page costs about
    what the first one does.

    :raise 404: for a malformed page number, or an empty page past the first.
    """
    number = requested_page()
    ids = query.with_only_columns(Post.id).options().limit(per_page + 1).offset((number - 1) * per_page)
    page = select(Post).where(Post.id.in_(ids.scalar_subquery())).order_by(*NEWEST_FIRST).options(*_post_details())
    rows = list(db.session.scalars(page))
    if number > 1 and not rows:
        abort(404, description="There is no such page.")
    return Page(rows[:per_page], number, len(rows) > per_page)


def posts_by_id(ids: list[int]) -> list[Post]:
    """Return these posts, with their tags and author, in the order of ``ids`` (looked up by primary key)."""
    posts = {
        post.id: post for post in db.session.scalars(select(Post).where(Post.id.in_(ids)).options(*_post_details()))
    }
    return [posts[post_id] for post_id in ids if post_id in posts]


def paginate(query: Select[Any], per_page: int) -> Pagination:
    """Return the requested page of ``query``.

    :raise 404: for a malformed page number, or one past the last page.
    """
    return db.paginate(query, page=requested_page(), per_page=per_page)


class Neighbours(NamedTuple):
    """The posts a post page links to besides itself."""

    earlier: PostLink | None
    later: PostLink | None
    recent: list[PostLink]


def neighbours(post: Post, recent: int = RECENT_POSTS) -> Neighbours:
    """Return the published posts just before and just after ``post``, and the latest ones, in one statement."""
    place = {"at": post.published_at, "post_id": post.id, "now": now_utc(), "recent": recent}
    found: dict[str, list[Any]] = defaultdict(list)
    for side, slug, title, published_at, post_id in db.session.execute(_neighbours_statement(), place):
        found[side].append((published_at, post_id, PostLink(slug, title)))
    earlier_link, later_link, recent_links = (
        [link for *_, link in sorted(found[side], key=lambda row: row[:2], reverse=True)]
        for side in ("earlier", "later", "recent")
    )
    return Neighbours(next(iter(earlier_link), None), next(iter(later_link), None), recent_links)


@cache
def _neighbours_statement() -> Any:
    """Built once (it runs on every post page): the post's date and id, the time now and how many recent posts
    are bound at each run."""
    at, now = bindparam("at", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime())
    post_id = bindparam("post_id", type_=Integer())
    links = select(Post.slug, Post.title, Post.published_at, Post.id)
    listed_by_now = (Post.is_published_by(now), Post.kind == PostKind.post)
    # Plain <= and >= bounds let the index on (status, published_at) start at this post. Earlier posts need
    # no "published by now" bound (published by this post's date will do): with two upper bounds SQLite might
    # pick the wrong one and scan.
    earlier = links.where(
        Post.is_published_by(at),
        Post.kind == PostKind.post,
        (Post.published_at < at) | (Post.id < post_id),
    ).order_by(*NEWEST_FIRST)
    later = links.where(
        *listed_by_now,
        Post.published_at >= at,
        (Post.published_at > at) | (Post.id > post_id),
    ).order_by(Post.published_at, Post.id)
    latest = links.where(*listed_by_now).order_by(*NEWEST_FIRST).limit(bindparam("recent", type_=Integer()))
    sides = (("earlier", earlier.limit(1)), ("later", later.limit(1)), ("recent", latest))
    return union_all(*(select(literal(side).label("side"), query.subquery()) for side, query in sides))


def tags_with_counts() -> list[tuple[Tag, int]]:
    """Return every tag that has published posts, with how many, by name."""
    posts = published_posts().order_by(None).options().subquery()
    query = (
        select(Tag, func.count(posts.c.id))
        .join(post_tags, post_tags.c.tag_id == Tag.id)
        .join(posts, posts.c.id == post_tags.c.post_id)
        .group_by(Tag.id)
        .order_by(func.lower(Tag.name))
    )
    return [(tag, count) for tag, count in db.session.execute(query)]


def archive_months() -> list[tuple[int, int, int]]:
    """Return (year, month, published posts) for every month with posts, newest first.

    The months are the blog's (``BLOG_TIMEZONE``): they begin at midnight on its clocks. SQLite knows no time
    zones, and a zone's offset changes with daylight saving, so the posts are counted between each month's bounds
    in UTC (:func:`month_bounds`), for the months that can hold posts: those around the UTC months that do.
    """
    utc_months = _utc_archive_months()
    if zone_name() == "UTC" or not utc_months:
        return utc_months
    candidates = sorted({_month_number(y, m) + step for y, m, _ in utc_months for step in (-1, 0, 1)})
    bounds = [(number, *month_bounds(*_year_and_month(number))) for number in candidates if 0 < number // 12 < 9999]
    columns = column("number", Integer), column("starts", UTCDateTime), column("ends", UTCDateTime)
    months = values(*columns, name="months").data(bounds).cte("months")  # SQLite names VALUES' columns only so
    query = (
        _readable_posts()
        .join(months, (Post.published_at >= months.c.starts) & (Post.published_at < months.c.ends))
        .with_only_columns(months.c.number, func.count(Post.id))
        .group_by(months.c.number)
        .order_by(months.c.number.desc())
    )
    return [(*_year_and_month(number), count) for number, count in db.session.execute(query)]


def _utc_archive_months() -> list[tuple[int, int, int]]:
    published = Post.published_at
    if db.session.get_bind().dialect.name == "postgresql":  # in UTC, whatever the server's TimeZone
        published = func.timezone("UTC", Post.published_at)
    year, month = func.extract("year", published), func.extract("month", published)
    query = (
        _readable_posts()
        .with_only_columns(year, month, func.count(Post.id))
        .group_by(year, month)
        .order_by(year.desc(), month.desc())
    )
    return [(int(y), int(m), count) for y, m, count in db.session.execute(query)]


def _month_number(year: int, month: int) -> int:
    return year * 12 + month - 1


def _year_and_month(number: int) -> tuple[int, int]:
    """(year, month) of a month counted from the year 0 (see ``_month_number``)."""
    year, month = divmod(number, 12)
    return year, month + 1


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """Return the first moment of the month and of the next, on the blog's clocks (in UTC): the archive's bounds."""
    return month_start(year, month), month_start(*_year_and_month(_month_number(year, month) + 1))


def post_at_legacy_address(path: str) -> Post | None:
    """Return the published post or page that lived at ``path`` on the blog's previous engine, if any."""
    query = _readable_posts().join(LegacyAddress, LegacyAddress.post_id == Post.id).where(LegacyAddress.path == path)
    return db.session.scalar(query)
