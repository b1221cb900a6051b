"""Database models for posts, tags and comments, and the queries the pages run."""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import sqlite3
import unicodedata
from collections import defaultdict
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from functools import cache
from typing import Any
from typing import NamedTuple

from flask import abort
from flask import request
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import DateTime
from sqlalchemy import Enum
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import selectinload
from sqlalchemy.orm import validates
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql import Select
from sqlalchemy.sql import Update
from sqlalchemy.types import TypeDecorator
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from markup import excerpt_of
from markup import is_web_address
from markup import plain_text
from markup import render_comment
from markup import render_post
from settings import ModerationPolicy


def now_utc() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store datetimes as UTC and always hand back timezone-aware values.

    SQLite has no time zones, so values are kept there as naive UTC; PostgreSQL gets ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Inkwell stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})  # a request ends after its commit


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite fit a web server: concurrent readers (WAL), waits instead of errors, real foreign keys."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def database_problem() -> str | None:
    """Return why the database cannot be reached, in one line, or ``None`` when it answers.

    The one check of "is the database up": ``/healthz``, ``init-db`` and gunicorn's start-up all ask it.
    """
    try:
        with db.engine.connect() as connection:
            connection.execute(select(1))
    except SQLAlchemyError as error:
        reason = str(error.orig if getattr(error, "orig", None) else error).strip().splitlines()[0]
        return f"Cannot use the database {db.engine.url.render_as_string(hide_password=True)}: {reason}"
    return None


class PostStatus(StrEnum):
    draft = "draft"
    published = "published"


class CommentStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    spam = "spam"


class UserRole(StrEnum):
    admin = "admin"
    author = "author"


def slugify(text: str, max_length: int = 80) -> str:
    """Return a URL-safe slug that keeps letters of every script ("Café déjà vu" → "café-déjà-vu")."""
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text).strip("-_")
    return slug[:max_length].rstrip("-") or "post"


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


class RecoveryCode(db.Model):
    """A one-time code that stands in for the authenticator app, kept only as a hash (see account.py)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)


MAX_DATABASE_ID = 2**31 - 1  # an INTEGER column on PostgreSQL; SQLite takes more, but no id gets near


def id_from(text: str) -> int | None:
    """Read a database id typed into a form or an address, or ``None`` when it cannot be one.

    PostgreSQL refuses to compare an INTEGER column with a larger number, so such input must stop here.
    """
    if not text.isdecimal() or len(text) > len(str(MAX_DATABASE_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_DATABASE_ID else None


LOCK_AFTER_FAILURES = 5  # wrong passwords or codes in a row from one network lock that network out
ACCOUNT_LOCK_AFTER_FAILURES = 20  # from all networks together: a password alone no longer logs in
MAX_LOCK_MINUTES = 60
LOGIN_SESSION_DAYS = 365  # as long as a remember-me cookie lasts (Flask-Login's default)


class AccountLocked(Exception):
    """Too many failed logins in a row: logins are refused until ``until``.

    ``everywhere`` is the account-wide lock (failures from many networks), which a second factor gets through.
    """

    def __init__(self, until: datetime, *, everywhere: bool = False) -> None:
        super().__init__(until)
        self.until = until
        self.everywhere = everywhere


class LoginFailures(db.Model):
    """Wrong passwords and codes in a row for one account from one network (a keyed hash, as for comments), so
    a stranger's failures lock out the stranger's network, not the owner elsewhere."""

    __tablename__ = "login_failures"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    network: Mapped[str] = mapped_column(String(32), primary_key=True)
    failed: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(db.Model):
    """One browser's login, named in its session and remember-me cookies: logging out deletes it, so a copy of
    either cookie kept from before no longer logs anyone in. Only a hash of the token is stored."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class User(UserMixin, db.Model):
    """Someone who writes: an ``admin`` manages everything, an ``author`` only their own posts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(Enum(UserRole, native_enum=False), default=UserRole.author)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Part of every login session and remember-me cookie; a new password changes it, ending them all.
    session_version: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(8), server_default="")
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")  # since the last success
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor authentication (see account.py): the authenticator app's shared secret, when turned on, and the
    # time step of the last code accepted, so that no code works twice.
    totp_secret: Mapped[str | None] = mapped_column(String(32))
    totp_last_step: Mapped[int] = mapped_column(default=0, server_default="0")

    posts: Mapped[list[Post]] = relationship(back_populates="author")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    login_failures: Mapped[list[LoginFailures]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    login_sessions: Mapped[list[LoginSession]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    login_token = None  # this request's login session (see start_login_session), not a column

    def set_password(self, password: str) -> None:
        """Set a new password, log this account out everywhere it is logged in, and unlock it everywhere."""
        self.password_hash = generate_password_hash(password)
        self.session_version = secrets.token_hex(8)
        self.failed_logins, self.locked_until = 0, None
        self.login_failures.clear()
        self.login_sessions.clear()

    def is_locked(self) -> bool:
        """Whether the account-wide lock (failures from many networks) is on."""
        return self.locked_until is not None and self.locked_until > now_utc()

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session and the remember-me cookie: the user, the session version (a new
        password ends every session) and, once logged in, the login session (logging out ends this one)."""
        login = f"{self.id}:{self.session_version}"
        return f"{login}:{self.login_token}" if self.login_token else login

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.admin

    def can_edit(self, post: Post) -> bool:
        """Admins edit every post; authors only their own."""
        return self.is_admin or post.author_id == self.id

    def __repr__(self) -> str:
        return f"<User {self.username}>"


post_tags = Table(
    "post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)

    posts: Mapped[list[Post]] = relationship(secondary=post_tags, back_populates="tags")

    def __repr__(self) -> str:
        return f"<Tag {self.slug}>"


class Post(db.Model):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_status_published_at", "status", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    word_count: Mapped[int] = mapped_column(default=0)
    # Approved comments, kept up to date by count_comments() below: listings never count per page view.
    comment_count: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[PostStatus] = mapped_column(Enum(PostStatus, native_enum=False), default=PostStatus.draft)
    comments_open: Mapped[bool] = mapped_column(Boolean, default=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    author: Mapped[User | None] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(
        secondary=post_tags, back_populates="posts", order_by=lambda: func.lower(Tag.name)
    )
    old_slugs: Mapped[list[SlugRedirect]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    legacy_addresses: Mapped[list[LegacyAddress]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    comments: Mapped[list[Comment]] = relationship(
        back_populates="post", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("body")
    def _render_body(self, key: str, body: str) -> str:
        """Cache the sanitized HTML, so pages never render Markdown on a read."""
        self.body_html = render_post(body)
        self.summary = self.excerpt or excerpt_of(self.body_html)
        self.word_count = len(plain_text(self.body_html).split())
        return body

    @validates("excerpt")
    def _summarize(self, key: str, excerpt: str) -> str:
        self.summary = excerpt or excerpt_of(self.body_html or "")
        return excerpt

    @property
    def is_published(self) -> bool:
        return self.status == PostStatus.published and self.published_at is not None and self.published_at <= now_utc()

    @property
    def reading_minutes(self) -> int:
        return max(1, round((self.word_count or 0) / WORDS_PER_MINUTE))

    @property
    def first_image(self) -> str | None:
        """Return the address of the post's first image, for link previews on social sites."""
        match = FIRST_IMAGE.search(self.body_html or "")
        return html.unescape(match.group(1)) if match else None

    @property
    def is_scheduled(self) -> bool:
        return self.status == PostStatus.published and self.published_at is not None and self.published_at > now_utc()

    @property
    def was_updated_later(self) -> bool:
        """Tell whether the post changed more than a day after it was published: worth telling readers."""
        return self.published_at is not None and self.updated_at - self.published_at > UPDATE_WORTH_SHOWING

    def accepts_comments(self, close_after_days: int | None) -> bool:
        """Tell whether readers may comment: open on this post, and not too old when comments close with age."""
        if not self.comments_open:
            return False
        closes_at = self.comments_close_at(close_after_days)
        return closes_at is None or now_utc() <= closes_at

    def comments_close_at(self, close_after_days: int | None) -> datetime | None:
        """When comments close with age, or ``None`` when they do not."""
        if not close_after_days or self.published_at is None:
            return None
        return self.published_at + timedelta(days=close_after_days)

    def __repr__(self) -> str:
        return f"<Post {self.slug}>"


class LegacyAddress(db.Model):
    """An address a post had on another blog engine (``/?p=123``, ``/2019/05/slug/``), redirected with a 301."""

    __tablename__ = "legacy_addresses"

    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)


UPDATE_WORTH_SHOWING = timedelta(days=1)
WORDS_PER_MINUTE = 230
FIRST_IMAGE = re.compile(r'<img [^>]*src="([^"]+)"')
HELD_FIRST_TIME = "First comment from this commenter (moderation: first-time)"
HELD_ALWAYS = "Every comment is held for approval (moderation: all)"
HELD_HONEYPOT = "The hidden honeypot field was filled in, as bots do"
HELD_TOO_FAST = "Sent {seconds:.1f} s after the form was loaded, faster than a person types"
HELD_NO_TIMESTAMP = "The form's signed timestamp was missing or forged"
HELD_LINKS = "Contains {links} links (more than {limit})"
HELD_BLOCKLIST = "Matches “{phrase}” from the blocklist"


class Verdict(NamedTuple):
    """What happens to a new comment, and the reason the owner sees in the queue."""

    status: CommentStatus
    reason: str | None = None


def new_revision() -> str:
    return secrets.token_hex(8)


class SlugRedirect(db.Model):
    """An address a post had before its slug changed, so old links keep working (301)."""

    __tablename__ = "slug_redirects"

    old_slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_post_status_created", "post_id", "status", "created_at"),
        Index("ix_comments_post_created", "post_id", "created_at"),
        Index("ix_comments_commenter_status", "commenter_key", "status"),
        Index("ix_comments_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"), index=True)
    author_name: Mapped[str] = mapped_column(String(80))
    author_email: Mapped[str | None] = mapped_column(String(254))
    author_website: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[CommentStatus] = mapped_column(Enum(CommentStatus, native_enum=False), default=CommentStatus.pending)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    commenter_key: Mapped[str | None] = mapped_column(String(64))
    held_reason: Mapped[str | None] = mapped_column(String(200))
    notify_replies: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A new random value whenever the text or the status changes: a moderation link from an email names the
    # revision the owner was shown, so it acts on nothing else (see notifications.quick_moderation_url).
    revision: Mapped[str] = mapped_column(String(16), default=new_revision, server_default="")

    post: Mapped[Post] = relationship(back_populates="comments")
    parent: Mapped[Comment | None] = relationship(remote_side=[id])

    @validates("body")
    def _render_body(self, key: str, body: str) -> str:
        self.body_html = render_comment(body)
        if body != self.body:
            self.revision = new_revision()
        return body

    @validates("status", "author_name", "author_website")
    def _new_revision_when_changed(self, key: str, value: Any) -> Any:
        if value != getattr(self, key):
            self.revision = new_revision()
        return value

    @property
    def website_link(self) -> str | None:
        """Return the website to link the author's name to: only a web address, whatever was stored."""
        return self.author_website if self.author_website and is_web_address(self.author_website) else None

    @staticmethod
    def initial_verdict(policy: ModerationPolicy | str, is_known_commenter: bool) -> Verdict:
        """Decide whether a new comment is published at once or held for the owner, and why.

        Under ``first-time`` a commenter is known once the owner has approved one of their comments;
        they are recognised by their signed commenter cookie, never by a name or email anyone can type.
        """
        if policy == ModerationPolicy.off:
            return Verdict(CommentStatus.approved)
        if policy == ModerationPolicy.first_time:
            if is_known_commenter:
                return Verdict(CommentStatus.approved)
            return Verdict(CommentStatus.pending, HELD_FIRST_TIME)
        return Verdict(CommentStatus.pending, HELD_ALWAYS)

    def __repr__(self) -> str:
        return f"<Comment {self.id} on post {self.post_id}>"


@event.listens_for(Session, "after_flush")
def count_comments(session: Session, context: Any) -> None:
    """Recount the approved comments of every post whose comments this flush added, changed or removed."""
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
    approved = (
        select(func.count(Comment.id))
        .where(Comment.post_id == Post.id, Comment.status == CommentStatus.approved)
        .scalar_subquery()
    )
    # updated_at is set to itself: a new comment does not make the post "updated".
    return update(Post).values(comment_count=approved, updated_at=Post.updated_at)


def published_posts() -> Select[tuple[Post]]:
    """Select posts readers may see (published, publish date reached), newest first, with their tags."""
    return _readable_posts().order_by(*NEWEST_FIRST).options(*_post_details())


NEWEST_FIRST = (Post.published_at.desc(), Post.id.desc())


def _post_details() -> tuple[Any, ...]:
    """What a page showing posts needs with them: tags (one more statement) and the author (joined)."""
    return selectinload(Post.tags), joinedload(Post.author)


def _readable_posts() -> Select[tuple[Post]]:
    return select(Post).where(_is_readable())


def _is_readable() -> ColumnElement[bool]:
    """Posts readers may see: published, and the publish date reached (not a draft, not scheduled)."""
    return (Post.status == PostStatus.published) & (Post.published_at <= now_utc())


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


def published_post(slug: str | None) -> Post | None:
    """Return the published post with this slug, or ``None`` (missing, a draft, or scheduled for later)."""
    if not slug:
        return None
    # Tags by a second statement: joined, SQLite would scan every post's tags first.
    return db.session.scalar(_readable_posts().where(Post.slug == slug).options(*_post_details()))


def post_by_slug_or_404(slug: str) -> Post:
    """Return the published post with this slug, without its tags and author (they load if used).

    :raise 404: when there is no such post, or it is a draft or scheduled for later.
    """
    post = db.session.scalar(_readable_post_statement(), {"slug": slug, "now": now_utc()})
    if post is None:
        abort(404, description="There is no post at this address.")
    return post


@cache
def _readable_post_statement() -> Select[tuple[Post]]:
    """The post by its slug, if readers may see it (built once: every comment posted looks it up)."""
    now = bindparam("now", type_=UTCDateTime())
    published = (Post.status == PostStatus.published) & (Post.published_at <= now)
    return select(Post).where(published, Post.slug == bindparam("slug"))


def tag_by_slug_or_404(slug: str) -> Tag:
    """Return the tag with this slug, if a post readers may see carries it.

    :raise 404: when no tag has this slug, or only drafts and scheduled posts carry it: its name alone would
        tell of them, so it is not found, exactly like a tag that does not exist.
    """
    query = select(Tag).where(Tag.slug == slug, Tag.posts.any(_is_readable()))
    return db.first_or_404(query, description="There is no tag by that name.")


def visible_comments(post: Post, commenter_key: str | None) -> list[Comment]:
    """Return the post's approved comments, plus this commenter's own held ones, oldest first.

    Held comments are never public: only the browser that wrote one sees it, marked as awaiting moderation.
    """
    query = select(Comment).where(_visible_to(post, commenter_key)).order_by(Comment.created_at, Comment.id)
    return list(db.session.scalars(query))


def _visible_to(post: Post, commenter_key: str | None) -> ColumnElement[bool]:
    return (Comment.post_id == post.id) & _shown(Comment, commenter_key)


def _shown(comments: Any, commenter_key: str | None) -> ColumnElement[bool]:
    """Approved comments, and this commenter's own held ones (``comments`` is Comment or an alias of it)."""
    shown = comments.status == CommentStatus.approved
    if commenter_key:
        shown = shown | ((comments.status == CommentStatus.pending) & (comments.commenter_key == commenter_key))
    return shown


def is_known_commenter(commenter_key: str | None, *, besides: int | None = None) -> bool:
    """Tell whether the owner has approved a comment from this commenter before (other than ``besides``)."""
    if not commenter_key:
        return False
    query = select(Comment.id).where(Comment.commenter_key == commenter_key, Comment.status == CommentStatus.approved)
    if besides is not None:
        query = query.where(Comment.id != besides)
    return db.session.scalar(query.limit(1)) is not None


def tags_named(names: list[str]) -> list[Tag]:
    """Return the tags with these names, creating the missing ones (matched by slug, so "Travel" = "travel")."""
    tags = []
    for name in names:
        slug = slugify(name)
        tag = db.session.scalar(select(Tag).where(Tag.slug == slug))
        if tag is None:
            tag = Tag(name=name, slug=slug)
            db.session.add(tag)
        if tag not in tags:
            tags.append(tag)
    return tags


def unique_slug(base: str, post: Post | None = None) -> str:
    """Return ``base``, or ``base-2``, ``base-3``…: the first address no other post uses or used before."""
    taken_now = select(Post.slug).where(Post.slug.startswith(base, autoescape=True))
    taken_before = select(SlugRedirect.old_slug).where(SlugRedirect.old_slug.startswith(base, autoescape=True))
    if post is not None and post.id is not None:
        taken_now = taken_now.where(Post.id != post.id)
        taken_before = taken_before.where(SlugRedirect.post_id != post.id)
    taken = set(db.session.scalars(taken_now)) | set(db.session.scalars(taken_before))
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def post_redirected_from(old_slug: str) -> Post | None:
    """Return the published post that used to live at ``old_slug``, if any."""
    query = (
        published_posts().join(SlugRedirect, SlugRedirect.post_id == Post.id).where(SlugRedirect.old_slug == old_slug)
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


def user_for_session(session_id: str) -> User | None:
    """Return the user a login session belongs to, or ``None`` if it ended (logged out, or a password changed)."""
    user_id, _, token = session_id.rpartition(":")
    user = user_for_pending_login(user_id)
    if user is None or not token:
        return None
    login = db.session.get(LoginSession, _token_hash(token))
    if login is None or login.user_id != user.id:
        return None
    user.login_token = token
    return user


def user_for_pending_login(pending_id: str) -> User | None:
    """Return the user whose password was right (``id:session_version``), or ``None`` if the password changed since."""
    user_id, _, version = pending_id.partition(":")
    number = id_from(user_id)
    user = db.session.get(User, number) if number else None
    if user is None or not version or not hmac.compare_digest(user.session_version, version):
        return None
    return user


def start_login_session(user: User) -> None:
    """Record a new login session for ``user`` (its token goes into the cookies through ``get_id``); forget
    sessions older than any remember-me cookie. The caller commits."""
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(token_hash=_token_hash(token), user_id=user.id))
    too_old = now_utc() - timedelta(days=LOGIN_SESSION_DAYS)
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.started_at < too_old))
    user.login_token = token


def end_login_session(user: User) -> None:
    """Forget this login session, so neither its session cookie nor its remember-me cookie works again."""
    if user.login_token:
        db.session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(user.login_token)))
        user.login_token = None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_named(username: str) -> User | None:
    """Return the account with this username, matched without regard to case."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def authenticate(username: str, password: str, network: str) -> User | None:
    """Return the user with this username (any case) and password, or ``None``; record the attempt.

    For an account with two-factor authentication, this is only the first half of logging in.

    An unknown username costs the same password check as a known one, so timing does not reveal which exist.

    :raise AccountLocked: while logins from this network (or, without two-factor, from anywhere) are locked after
        repeated wrong passwords, even for the right one.
    """
    user = user_named(username)
    if user is None:
        check_password_hash(_unknown_user_hash(), password)
        return None
    correct = user.check_password(password)
    if locked := login_lock(user, network):
        raise locked
    if not correct:
        record_failed_login(user, network)
    elif not user.has_two_factor:  # otherwise the count goes on until the second factor is right too
        record_successful_login(user, network)
    db.session.commit()
    return user if correct else None


def login_lock(user: User, network: str, *, account_wide: bool = True) -> AccountLocked | None:
    """Return the lock that stops logging in to ``user`` from ``network`` now, if any.

    A network is locked after its own failures in a row. The account-wide lock (failures from many networks)
    stops a password alone; an account with two-factor still gets in with its password and a code or recovery code,
    so strangers cannot keep its owner out. ``account_wide=False`` leaves it out, for someone already logged in.
    """
    now = now_utc()
    here = db.session.scalar(
        select(LoginFailures.locked_until).where(
            LoginFailures.user_id == user.id, LoginFailures.network == network, LoginFailures.locked_until > now
        )
    )
    if here is not None:
        return AccountLocked(here)
    if account_wide and user.is_locked() and not user.has_two_factor:
        return AccountLocked(user.locked_until, everywhere=True)
    return None


def record_failed_login(user: User, network: str) -> None:
    """Count a wrong password or code for this network and for the account, each with one atomic statement (two
    tries at once count twice); from the 5th in a row from a network, or the 20th from all, lock for 1, 2, 4...
    up to 60 minutes. The caller commits."""
    table = LoginFailures.__table__
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    count_here = (
        insert(table)
        .values(user_id=user.id, network=network, failed=1)
        .on_conflict_do_update(index_elements=[table.c.user_id, table.c.network], set_={"failed": table.c.failed + 1})
        .returning(table.c.failed)
    )
    failed_here = db.session.execute(count_here).scalar_one()
    here = (table.c.user_id == user.id) & (table.c.network == network)
    _lock(table, here, failed_here, LOCK_AFTER_FAILURES)

    users = User.__table__
    count_all = (
        update(users)
        .where(users.c.id == user.id)
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    )
    failed_all = db.session.execute(count_all).scalar_one()
    _lock(users, users.c.id == user.id, failed_all, ACCOUNT_LOCK_AFTER_FAILURES)
    db.session.expire(user, ["failed_logins", "locked_until"])


def _lock(table: Table, row: ColumnElement[bool], failed: int, threshold: int) -> None:
    """Lock from the ``threshold``th failure on, never shortening a lock a parallel failure set."""
    if failed < threshold:
        return
    minutes = min(2 ** min(failed - threshold, 6), MAX_LOCK_MINUTES)
    until = now_utc() + timedelta(minutes=minutes)
    longer = (table.c.locked_until.is_(None)) | (table.c.locked_until < until)
    db.session.execute(update(table).where(row, longer).values(locked_until=until))


def record_successful_login(user: User, network: str) -> None:
    """Start the counts again for this network and the account (strangers' networks stay locked). The caller commits."""
    db.session.execute(delete(LoginFailures).where(LoginFailures.user_id == user.id, LoginFailures.network == network))
    db.session.execute(update(User).where(User.id == user.id).values(failed_logins=0, locked_until=None))
    db.session.expire(user, ["failed_logins", "locked_until"])


@cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def count_of(query: Select[Any]) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


MAX_REPLY_DEPTH = 3


def comment_thread(comments: list[Comment], max_depth: int = MAX_REPLY_DEPTH) -> list[tuple[Comment, int]]:
    """Order comments, given oldest first, as threads, each followed by its replies, oldest first at every level.

    Rows with just ``id`` and ``parent_id`` do as well as comments.

    Returns ``(comment, depth)`` pairs. Depth stops at ``max_depth``: deeper replies are shown at that
    level, after the comment they answer (as WordPress does). A reply whose parent is not shown starts
    a thread of its own.
    """
    shown = {comment.id for comment in comments}
    replies: dict[int | None, list[Comment]] = defaultdict(list)
    for comment in comments:
        replies[comment.parent_id if comment.parent_id in shown else None].append(comment)
    thread: list[tuple[Comment, int]] = []
    stack = [(comment, 1) for comment in reversed(replies[None])]
    while stack:
        comment, depth = stack.pop()
        thread.append((comment, min(depth, max_depth)))
        stack.extend((reply, depth + 1) for reply in reversed(replies[comment.id]))
    return thread


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


def comment_page_number(comment: Comment, commenter_key: str | None, per_page: int) -> int | None:
    """Return the page of the post's comments that shows ``comment`` to this commenter, or ``None`` if hidden.

    The page follows from how many threads start before the comment's own thread: one count, however long
    the conversation.
    """
    if not _is_visible(comment, commenter_key):
        return None
    root_id, root_created_at = _thread_root(comment, commenter_key)
    place = {"post_id": comment.post_id, "key": commenter_key, "at": root_created_at, "root_id": root_id}
    earlier_roots = db.session.scalar(_earlier_threads_statement(), place)
    return (earlier_roots or 0) // per_page + 1


def _thread_root(comment: Comment, commenter_key: str | None) -> tuple[int, datetime]:
    """Return the id and time of the first comment of the thread ``comment`` is shown in.

    The shown ancestors are read in one recursive statement: a chain of replies a thousand deep costs one
    statement, not one per ancestor. ``UNION`` (not ``UNION ALL``) ends even on a loop of parents.
    """
    ancestors = (
        select(Comment.id, Comment.parent_id, Comment.created_at)
        .where(Comment.id == comment.id)
        .cte("ancestors", recursive=True)
    )
    parent = aliased(Comment)
    ancestors = ancestors.union(
        select(parent.id, parent.parent_id, parent.created_at).where(
            parent.id == ancestors.c.parent_id,
            parent.post_id == comment.post_id,
            _shown(parent, commenter_key),
        )
    )
    rows = db.session.execute(select(ancestors)).all()
    shown = {row.id for row in rows}
    root = next((row for row in rows if row.parent_id not in shown), comment)
    return root.id, root.created_at


@cache
def _earlier_threads_statement() -> Select[tuple[int]]:
    """Count the threads shown before a thread's first comment (built once: it runs for every comment posted).

    A thread starts at a shown comment whose parent is not shown (usually: has none).
    """
    parent = aliased(Comment)

    def shown(comments: Any) -> ColumnElement[bool]:
        own_held = (comments.status == CommentStatus.pending) & (comments.commenter_key == bindparam("key"))
        return (comments.status == CommentStatus.approved) | own_held

    at, root_id = bindparam("at", type_=UTCDateTime()), bindparam("root_id")
    return select(func.count(Comment.id)).where(
        Comment.post_id == bindparam("post_id"),
        shown(Comment),
        (Comment.created_at < at) | ((Comment.created_at == at) & (Comment.id < root_id)),
        Comment.parent_id.is_(None) | ~exists().where(parent.id == Comment.parent_id, shown(parent)),
    )


def _is_visible(comment: Comment, commenter_key: str | None) -> bool:
    return comment.status == CommentStatus.approved or (
        comment.status == CommentStatus.pending and commenter_key is not None and comment.commenter_key == commenter_key
    )


class Neighbours(NamedTuple):
    """The posts a post page links to besides itself."""

    earlier: PostLink | None
    later: PostLink | None
    recent: list[PostLink]


def neighbours(post: Post, recent: int = RECENT_POSTS) -> Neighbours:
    """Return the published posts just before and just after ``post``, and the latest ones, in one statement."""
    # Plain <= and >= bounds let the index on (status, published_at) start at this post. Earlier posts need
    # no "published by now" bound: with two upper bounds SQLite might pick the wrong one and scan.
    earlier = (
        select(Post.slug, Post.title)
        .where(
            Post.status == PostStatus.published,
            Post.published_at <= post.published_at,
            (Post.published_at < post.published_at) | (Post.id < post.id),
        )
        .order_by(*NEWEST_FIRST)
    )
    later = (
        _links(published_posts())
        .where(
            Post.published_at >= post.published_at,
            (Post.published_at > post.published_at) | (Post.id > post.id),
        )
        .order_by(None)
        .order_by(Post.published_at, Post.id)
    )
    latest = _links(published_posts()).limit(recent)
    rows = union_all(
        *(
            select(literal(side).label("side"), query.add_columns(Post.published_at, Post.id).subquery())
            for side, query in (("earlier", earlier.limit(1)), ("later", later.limit(1)), ("recent", latest))
        )
    )
    found: dict[str, list[Any]] = defaultdict(list)
    for side, slug, title, published_at, post_id in db.session.execute(rows):
        found[side].append((published_at, post_id, PostLink(slug, title)))
    earlier_link, later_link, recent_links = (
        [link for *_, link in sorted(found[side], key=lambda row: row[:2], reverse=True)]
        for side in ("earlier", "later", "recent")
    )
    return Neighbours(next(iter(earlier_link), None), next(iter(later_link), None), recent_links)


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
    """Return (year, month, published posts) for every month with posts, newest first (months in UTC)."""
    year = func.extract("year", Post.published_at)
    month = func.extract("month", Post.published_at)
    query = (
        published_posts()
        .with_only_columns(year, month, func.count(Post.id))
        .group_by(year, month)
        .order_by(None)
        .order_by(year.desc(), month.desc())
    )
    return [(int(y), int(m), count) for y, m, count in db.session.execute(query)]


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def post_at_legacy_address(path: str) -> Post | None:
    """Return the published post that lived at ``path`` on the blog's previous engine, if any."""
    query = published_posts().join(LegacyAddress, LegacyAddress.post_id == Post.id).where(LegacyAddress.path == path)
    return db.session.scalar(query)
