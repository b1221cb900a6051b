"""Database models for posts, tags and comments, and the queries the pages run."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from datetime import datetime
from datetime import timezone
from enum import StrEnum
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Column
from sqlalchemy import DateTime
from sqlalchemy import Enum
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import column_property
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import selectinload
from sqlalchemy.orm import validates
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator

from markup import excerpt_of
from markup import render_comment
from markup import render_post


def now_utc() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


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
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


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


class PostStatus(StrEnum):
    draft = "draft"
    published = "published"


class CommentStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    spam = "spam"


class ModerationPolicy(StrEnum):
    off = "off"
    first_time = "first-time"
    all = "all"


def slugify(text: str, max_length: int = 80) -> str:
    """Return a URL-safe slug that keeps letters of every script ("Café déjà vu" → "café-déjà-vu")."""
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text).strip("-_")
    return slug[:max_length].rstrip("-") or "post"


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
    status: Mapped[PostStatus] = mapped_column(Enum(PostStatus, native_enum=False), default=PostStatus.draft)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, back_populates="posts", order_by="Tag.name")
    comments: Mapped[list[Comment]] = relationship(back_populates="post", cascade="all, delete-orphan", passive_deletes=True)

    @validates("body")
    def _render_body(self, key: str, body: str) -> str:
        """Cache the sanitized HTML, so pages never render Markdown on a read."""
        self.body_html = render_post(body)
        self.summary = self.excerpt or excerpt_of(self.body_html)
        return body

    @validates("excerpt")
    def _summarize(self, key: str, excerpt: str) -> str:
        self.summary = excerpt or excerpt_of(self.body_html or "")
        return excerpt

    @property
    def is_published(self) -> bool:
        return self.status == PostStatus.published and self.published_at is not None and self.published_at <= now_utc()

    def __repr__(self) -> str:
        return f"<Post {self.slug}>"


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_post_status_created", "post_id", "status", "created_at"),
        Index("ix_comments_commenter_status", "commenter_key", "status"),
        Index("ix_comments_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_name: Mapped[str] = mapped_column(String(80))
    author_email: Mapped[str | None] = mapped_column(String(254))
    author_website: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[CommentStatus] = mapped_column(Enum(CommentStatus, native_enum=False), default=CommentStatus.pending)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    commenter_key: Mapped[str | None] = mapped_column(String(64))

    post: Mapped[Post] = relationship(back_populates="comments")

    @validates("body")
    def _render_body(self, key: str, body: str) -> str:
        self.body_html = render_comment(body)
        return body

    @staticmethod
    def initial_status(policy: ModerationPolicy | str, is_known_commenter: bool) -> CommentStatus:
        """Decide whether a new comment is published at once or held for the owner.

        Under ``first-time`` a commenter is known once the owner has approved one of their comments;
        they are recognised by their signed commenter cookie, never by a name or email anyone can type.
        """
        if policy == ModerationPolicy.off:
            return CommentStatus.approved
        if policy == ModerationPolicy.first_time and is_known_commenter:
            return CommentStatus.approved
        return CommentStatus.pending

    def __repr__(self) -> str:
        return f"<Comment {self.id} on post {self.post_id}>"


Post.comment_count = column_property(
    select(func.count(Comment.id))
    .where(Comment.post_id == Post.id, Comment.status == CommentStatus.approved)
    .correlate_except(Comment)
    .scalar_subquery()
)


def published_posts() -> Select[tuple[Post]]:
    """Select posts readers may see (published, publish date reached), newest first."""
    return (
        select(Post)
        .where(Post.status == PostStatus.published, Post.published_at <= now_utc())
        .order_by(Post.published_at.desc(), Post.id.desc())
        .options(selectinload(Post.tags))
    )


def recent_posts(limit: int = 5) -> list[Post]:
    """Return the latest published posts for the "Recent posts" list."""
    return list(db.session.scalars(published_posts().limit(limit)))


def post_by_slug_or_404(slug: str) -> Post:
    """Return the published post with this slug.

    :raise 404: when there is no such post, or it is a draft or scheduled for later.
    """
    return db.first_or_404(published_posts().where(Post.slug == slug), description="There is no post at this address.")


def tag_by_slug_or_404(slug: str) -> Tag:
    """:raise 404: when no tag has this slug."""
    return db.first_or_404(select(Tag).where(Tag.slug == slug), description="There is no tag by that name.")


def visible_comments(post: Post, commenter_key: str | None) -> list[Comment]:
    """Return the post's approved comments, plus this commenter's own held ones, oldest first.

    Held comments are never public: only the browser that wrote one sees it, marked as awaiting moderation.
    """
    shown = Comment.status == CommentStatus.approved
    if commenter_key:
        shown = shown | ((Comment.status == CommentStatus.pending) & (Comment.commenter_key == commenter_key))
    query = select(Comment).where(Comment.post_id == post.id, shown).order_by(Comment.created_at, Comment.id)
    return list(db.session.scalars(query))


def is_known_commenter(commenter_key: str | None) -> bool:
    """Tell whether the owner has approved a comment from this commenter before."""
    if not commenter_key:
        return False
    query = select(Comment.id).where(Comment.commenter_key == commenter_key, Comment.status == CommentStatus.approved)
    return db.session.scalar(query.limit(1)) is not None
