"""The schema of what readers see (posts, tags, comments) and the small methods that belong to one row.

Nothing here reads a request: what readers may see is in reading.py. The accounts are in account/tables.py, the
slugs and old addresses in slugs.py, each beside its rules; they point here, never the other way round. The
connection, the UTC type and the SQLAlchemy object are in database.py. May import only that and the leaves (markup).
"""

from __future__ import annotations

import html
import re
import secrets
from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Enum
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import exists
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import text
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import aliased
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import validates
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.sql import ColumnElement

from database import UTCDateTime
from database import db
from database import now_utc
from excerpts import opening_text
from markup import is_web_address
from markup import plain_text
from markup import render_comment
from markup import render_comment_html
from markup import render_post
from markup import render_post_html


class PostStatus(StrEnum):
    draft = "draft"
    published = "published"


class PostKind(StrEnum):
    """A post is dated and listed (home page, feeds, archive, tags, search); a page (About, Contact) stands apart,
    at its own address, linked from the menu."""

    post = "post"
    page = "page"


class CommentStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    spam = "spam"


class BodyFormat(StrEnum):
    """What a post's or a comment's ``body`` is written in: Markdown (typed here) or HTML (imported)."""

    markdown = "markdown"
    html = "html"

    def render_post(self, body: str) -> str:
        return render_post_html(body) if self is BodyFormat.html else render_post(body)

    def render_comment(self, body: str) -> str:
        return render_comment_html(body) if self is BodyFormat.html else render_comment(body)


post_tags = Table(
    "post_tags",
    db.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    # Plain text, shown under the tag page's heading and as its meta description.
    description: Mapped[str] = mapped_column(String(300), default="", server_default="")

    posts: Mapped[list[Post]] = relationship(secondary=post_tags, back_populates="tags")

    def __repr__(self) -> str:
        return f"<Tag {self.slug}>"


class Trashable:
    """A row deleted to the trash (admin/trash.py) rather than at once: hidden from readers, everything else kept as
    it was for a restore. The username, not the account: the trash still says who when the account is gone."""

    trashed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trashed_by: Mapped[str | None] = mapped_column(String(40))

    @property
    def is_trashed(self) -> bool:
        return self.trashed_at is not None

    def move_to_trash(self, by_username: str) -> None:
        self.trashed_at, self.trashed_by = now_utc(), by_username
        self._trash_changed()

    def restore_from_trash(self) -> None:
        self.trashed_at = self.trashed_by = None
        self._trash_changed()

    def _trash_changed(self) -> None:
        """What else a move to or from the trash must do, in the tables that need more."""


class Post(Trashable, db.Model):
    __tablename__ = "posts"
    # The listings (Post.is_listed, newest first) skip the posts before a far page in ix_posts_listed alone.
    __table_args__ = (
        Index("ix_posts_status_published_at", "status", "published_at"),
        Index("ix_posts_listed", "status", "kind", "trashed_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[BodyFormat] = mapped_column(
        Enum(BodyFormat, native_enum=False), default=BodyFormat.markdown, server_default=BodyFormat.markdown.value
    )
    body_html: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    feature_image: Mapped[str | None] = mapped_column(String(80))  # an image of the media library, by its name
    word_count: Mapped[int] = mapped_column(default=0)
    # The comments everyone sees (approved, not in the trash), kept up to date by comment_counts.py: listings
    # never count per page view.
    comment_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # How many threads everyone sees (comments that start one: see Comment.thread_ordinal), kept with comment_count:
    # "page X of Y" without counting.
    thread_count: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[PostStatus] = mapped_column(Enum(PostStatus, native_enum=False), default=PostStatus.draft)
    kind: Mapped[PostKind] = mapped_column(
        Enum(PostKind, native_enum=False), default=PostKind.post, server_default=PostKind.post.value
    )
    comments_open: Mapped[bool] = mapped_column(Boolean, default=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    # The account who wrote it, a relationship with its type in account/tables.py, where User lives.
    author = relationship("User", back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(
        secondary=post_tags, back_populates="posts", order_by=lambda: func.lower(Tag.name)
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="post", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("body", "format")
    def _render_body(self, key: str, value: Any) -> Any:
        """Cache the sanitized HTML, so pages never render on a read.

        A new body or a new format renders again, so the HTML is right whichever is set first (set the format
        first, as ``Post(format=…, body=…)`` does, to render once)."""
        if key == "format":
            value = BodyFormat(value)
        body, body_format = (value, self.format) if key == "body" else (self.body, value)
        if body is not None:
            self.body_html = BodyFormat(body_format or BodyFormat.markdown).render_post(body)
            self.summary = self.excerpt or opening_text(self.body_html)
            self.word_count = len(plain_text(self.body_html).split())
        return value

    @validates("excerpt")
    def _summarize(self, key: str, excerpt: str) -> str:
        self.summary = excerpt or opening_text(self.body_html or "")
        return excerpt

    @hybrid_method
    def is_published_by(self, moment: datetime) -> bool:
        """Tell whether readers may see the post at ``moment``: published, its publish date reached (not a draft,
        not scheduled for later), and not in the trash. The one definition of the rule, in Python here and in SQL
        below."""
        return (
            self.status == PostStatus.published
            and self.published_at is not None
            and self.published_at <= moment
            and self.trashed_at is None
        )

    @is_published_by.inplace.expression
    @classmethod
    def _is_published_by_in_sql(cls, moment: Any) -> ColumnElement[bool]:
        return (cls.status == PostStatus.published) & (cls.published_at <= moment) & cls.trashed_at.is_(None)

    @hybrid_property
    def is_published(self) -> bool:
        """Tell whether readers may see the post now; ``Post.is_published`` is the same rule in a query."""
        return self.is_published_by(now_utc())

    @hybrid_property
    def is_listed(self) -> bool:
        """Tell whether the post is in the listings (home page, feeds, archive, tags, search): a published post, not
        a page. ``Post.is_listed`` is the same rule in a query."""
        return self.is_published and self.kind == PostKind.post

    @is_listed.inplace.expression
    @classmethod
    def _is_listed_in_sql(cls) -> ColumnElement[bool]:
        return cls.is_published & (cls.kind == PostKind.post)

    @property
    def is_page(self) -> bool:
        return self.kind == PostKind.page

    @property
    def reading_minutes(self) -> int:
        return max(1, round((self.word_count or 0) / WORDS_PER_MINUTE))

    @property
    def first_image(self) -> str | None:
        """Return the address of the post's first image, for link previews on social sites."""
        match = FIRST_IMAGE.search(self.body_html or "")
        return html.unescape(match.group(1)) if match else None

    @hybrid_method
    def is_scheduled_at(self, moment: datetime) -> bool:
        """Tell whether the post is published but its publish date is still to come at ``moment`` (and it is not in
        the trash: a trashed post never appears by itself)."""
        return (
            self.status == PostStatus.published
            and self.published_at is not None
            and self.published_at > moment
            and self.trashed_at is None
        )

    @is_scheduled_at.inplace.expression
    @classmethod
    def _is_scheduled_at_in_sql(cls, moment: Any) -> ColumnElement[bool]:
        return (cls.status == PostStatus.published) & (cls.published_at > moment) & cls.trashed_at.is_(None)

    @hybrid_property
    def is_scheduled(self) -> bool:
        """Tell whether the post waits for its publish date; ``Post.is_scheduled`` is the same rule in a query."""
        return self.is_scheduled_at(now_utc())

    def _trash_changed(self) -> None:
        """Trashing and restoring are no edits: the post's "updated" date (shown to readers) stays."""
        flag_modified(self, "updated_at")

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


UPDATE_WORTH_SHOWING = timedelta(days=1)
WORDS_PER_MINUTE = 230
FIRST_IMAGE = re.compile(r'<img [^>]*src="([^"]+)"')


def new_revision() -> str:
    return secrets.token_hex(8)


class Comment(Trashable, db.Model):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_post_status_created", "post_id", "status", "created_at"),
        Index("ix_comments_post_created", "post_id", "created_at"),
        Index("ix_comments_commenter_status", "commenter_key", "status"),
        Index("ix_comments_status_created", "status", "created_at"),
        Index("ix_comments_trashed_at", "trashed_at"),
        Index("ix_comments_post_thread_ordinal", "post_id", "thread_ordinal"),
        Index(
            "ix_comments_post_thread_starts",
            "post_id",
            "created_at",
            "id",
            sqlite_where=text("thread_ordinal IS NOT NULL"),
            postgresql_where=text("thread_ordinal IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"), index=True)
    author_name: Mapped[str] = mapped_column(String(80))
    author_email: Mapped[str | None] = mapped_column(String(254))
    author_website: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    format: Mapped[BodyFormat] = mapped_column(
        Enum(BodyFormat, native_enum=False), default=BodyFormat.markdown, server_default=BodyFormat.markdown.value
    )
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[CommentStatus] = mapped_column(Enum(CommentStatus, native_enum=False), default=CommentStatus.pending)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    commenter_key: Mapped[str | None] = mapped_column(String(64))
    held_reason: Mapped[str | None] = mapped_column(String(200))
    notify_replies: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Posted while logged in as one of the blog's administrators: readers see it marked as the owner's. Set by the
    # server only, never by anything a commenter types (a name alone proves nothing).
    by_owner: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A new random value whenever the text or the status changes: a moderation link from an email names the
    # revision the owner was shown, so it acts on nothing else (see notifications.quick_moderation_url).
    revision: Mapped[str] = mapped_column(String(16), default=new_revision, server_default="")
    # For a comment that starts a thread for every reader (shown to all, answering nothing or a comment not shown),
    # its place among the post's threads, 1 for the oldest; otherwise none. Kept by comment_counts.py, so a page
    # of threads is an index range and a comment's page a division, however long the conversation.
    thread_ordinal: Mapped[int | None] = mapped_column()

    post: Mapped[Post] = relationship(back_populates="comments")
    parent: Mapped[Comment | None] = relationship(remote_side=[id])

    @validates("body", "format")
    def _render_body(self, key: str, value: Any) -> Any:
        if key == "format":
            value = BodyFormat(value)
        body, body_format = (value, self.format) if key == "body" else (self.body, value)
        if body is not None:
            self.body_html = BodyFormat(body_format or BodyFormat.markdown).render_comment(body)
        if value != getattr(self, key):
            self.revision = new_revision()
        return value

    @validates("status", "author_name", "author_website")
    def _new_revision_when_changed(self, key: str, value: Any) -> Any:
        if value != getattr(self, key):
            self.revision = new_revision()
        return value

    @hybrid_method
    def is_visible_to(self, commenter_key: str | None) -> bool:
        """Tell whether this commenter sees the comment: everyone sees approved comments; a held one only the
        browser that wrote it, marked as awaiting moderation; nobody one in the trash. The one definition, in Python
        here and in SQL below (``comment_count`` counts what everyone sees: ``is_visible_to(None)``)."""
        own_held = bool(commenter_key) and self.status == CommentStatus.pending and self.commenter_key == commenter_key
        return (self.status == CommentStatus.approved or own_held) and self.trashed_at is None

    @is_visible_to.inplace.expression
    @classmethod
    def _is_visible_to_in_sql(cls, commenter_key: str | ColumnElement[str] | None) -> ColumnElement[bool]:
        """``cls`` may be an alias of Comment, and ``commenter_key`` a bound parameter of a statement built once."""
        approved, kept = cls.status == CommentStatus.approved, cls.trashed_at.is_(None)
        if not isinstance(commenter_key, ColumnElement) and not commenter_key:
            return approved & kept
        return (approved | ((cls.status == CommentStatus.pending) & (cls.commenter_key == commenter_key))) & kept

    @classmethod
    def starts_a_thread_for(cls, commenter_key: str | ColumnElement[str] | None) -> ColumnElement[bool]:
        """A shown comment starts a thread when it answers nothing, or a comment this reader does not see (a reply
        to a held, spam or trashed comment is not lost: it opens a thread of its own)."""
        parent = aliased(Comment)
        hidden_parent = ~exists().where(parent.id == cls.parent_id, parent.is_visible_to(commenter_key))
        return cls.parent_id.is_(None) | hidden_parent

    @property
    def website_link(self) -> str | None:
        """Return the website to link the author's name to: only a web address, whatever was stored."""
        return self.author_website if self.author_website and is_web_address(self.author_website) else None

    def __repr__(self) -> str:
        return f"<Comment {self.id} on post {self.post_id}>"
