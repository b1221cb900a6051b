"""Where posts and tags live on the web: their slugs, and the addresses they had before, which redirect (301).

A slug is made from a title or a name (``slugify``), never taken twice (``unique_slug``), and an old address
keeps working after a rename, a merge or a move from another blog engine. The tables are here because only these
rules and the pages that redirect use them; the database deletes a post's or a tag's old addresses with it.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from database import db
from models import Post
from models import Tag


def slugify(text: str, max_length: int = 80) -> str:
    """Return a URL-safe slug that keeps letters of every script ("Café déjà vu" → "café-déjà-vu")."""
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text).strip("-_")
    return slug[:max_length].rstrip("-") or "post"


class LegacyAddress(db.Model):
    """An address a post had on another blog engine (``/?p=123``, ``/2019/05/slug/``), redirected with a 301."""

    __tablename__ = "legacy_addresses"

    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    post: Mapped[Post] = relationship()  # also orders the inserts: the post first


class SlugRedirect(db.Model):
    """An address a post had before its slug changed, so old links keep working (301)."""

    __tablename__ = "slug_redirects"

    old_slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    post: Mapped[Post] = relationship()


class TagRedirect(db.Model):
    """An address a tag had before it was renamed or merged into another, so old links keep working (301).

    A slug is either a tag's or an old address, never both: a tag taking a slug back removes its redirect.
    """

    __tablename__ = "tag_redirects"

    old_slug: Mapped[str] = mapped_column(String(80), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    tag: Mapped[Tag] = relationship()


def tags_named(names: list[str]) -> list[Tag]:
    """Return the tags with these names, creating the missing ones (matched by slug, so "Travel" = "travel").

    A name whose slug a tag had before it was renamed or merged gives that tag: the owner said they are one.
    """
    tags = []
    for name in names:
        slug = slugify(name)
        tag = db.session.scalar(select(Tag).where(Tag.slug == slug)) or tag_redirected_from(slug)
        if tag is None:
            tag = Tag(name=name, slug=slug)
            db.session.add(tag)
        if tag not in tags:
            tags.append(tag)
    return tags


def tag_redirected_from(old_slug: str) -> Tag | None:
    """Return the tag that had ``old_slug`` before it was renamed or merged into another, if any."""
    query = select(Tag).join(TagRedirect, TagRedirect.tag_id == Tag.id).where(TagRedirect.old_slug == old_slug)
    return db.session.scalar(query)


def unique_slug(base: str, post: Post | None = None) -> str:
    """Return ``base``, or ``base-2``, ``base-3``…: the first address no other post uses or used before.

    A post in the trash keeps its address: it comes back there when restored.
    """
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
