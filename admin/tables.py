"""The tables behind the owner's desk: a post's versions (history.py), what the editor autosaved
(autosave.py), the settings saved on the settings page (stored_settings.py), what a moderation in the queue
changed, for its undo (moderation.py), the emails its approvals called for, held until it can no longer be
undone (notifications.py), and the uploaded images of the media library (media.py).

They point at posts and accounts, but nothing in models.py points back, so they live here beside the rest of
the schema rather than in it. May import only database and models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from account.tables import User
from database import UTCDateTime
from database import db
from database import now_utc
from models import BodyFormat
from models import Trashable

ALT_MAX = 250  # an image's description: a sentence or two, as screen readers read it


class PostVersion(db.Model):
    """One saved version of a post: its words as saved, by whom and when; every save that changes them adds one,
    so the owner can see what changed and bring back any earlier version (history.py)."""

    __tablename__ = "post_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    excerpt: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[BodyFormat] = mapped_column(Enum(BodyFormat, native_enum=False), default=BodyFormat.markdown)
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="")  # the tags' names, comma-separated
    note: Mapped[str] = mapped_column(String(200), default="")  # "Restored the version of …"

    user: Mapped[User | None] = relationship()


class PostAutosave(db.Model):
    """What an author was typing in a post when the editor last saved it by itself (autosave.py), kept until they
    save the post: a closed tab, a crash or a lost connection costs at most a few seconds of writing."""

    __tablename__ = "post_autosaves"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    title: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="")


class SiteSetting(db.Model):
    """One setting changed on the settings page (the title, the moderation policy, ...), stored as JSON: it takes
    the place of its default from settings.py, instance/config.py or the environment (stored_settings.py)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User | None] = relationship()


class ModerationUndo(db.Model):
    """What one moderation in the queue changed, kept a short while so that its "Undo" puts it back exactly:
    each comment's status and revision before, and a deleted comment's whole row with the replies that answered it
    (JSON, see moderation.py). Kept by the server, not in the form: a deleted comment's email never leaves it."""

    __tablename__ = "moderation_undos"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(String(200))  # "Approved: 2 comments."
    changes: Mapped[str] = mapped_column(Text)


class Upload(Trashable, db.Model):
    """An image in instance/uploads/ (images.py stores it, uploads.py serves it), as the media library knows it:
    its description (alt text), who uploaded it and when, and whether it is in the trash.

    A file that arrived without a row (an import, or an upload from before the library) gets one when the
    library is next shown (media.py). A trashed image's file waits outside the served folder until it is
    restored or deleted for good.
    """

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_trashed_at", "trashed_at"),)

    name: Mapped[str] = mapped_column(String(80), primary_key=True)  # images.STORED_NAME, e.g. 3f…a1.png
    alt: Mapped[str] = mapped_column(String(ALT_MAX), default="")
    is_decorative: Mapped[bool] = mapped_column(default=False)  # no description wanted: shown with alt=""
    size: Mapped[int] = mapped_column(default=0)  # bytes
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    uploader: Mapped[User | None] = relationship()


class HeldMail(db.Model):
    """An email an approval in the queue called for (to the commenter, to the comment answered), held until that
    approval can no longer be undone: notifications.py sends it then, and an undo deletes it unsent. Gone with its
    comment; sent only if readers still see the comment by then."""

    __tablename__ = "held_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    undo_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_undos.id", ondelete="SET NULL"), index=True)
    message: Mapped[str] = mapped_column(Text)  # the whole email, headers and all, as it will be sent
