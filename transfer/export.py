"""Inkwell's own export: the whole blog as sorted, stable JSON, or a zip with the images beside it as files.

The export holds everything — posts of every status with their old addresses, tags with their descriptions and
old addresses, threaded comments with their commenter data, uploaded images, the blog's settings, and users
(password hashes only on request) — so export → import into an empty database → export gives the same bytes.
``transfer.inkwell`` reads it back.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from account.tables import User
from admin.tables import Upload
from database import db
from images import is_stored_name
from images import uploads_folder
from models import Comment
from models import Post
from models import Tag
from slugs import LegacyAddress
from slugs import SlugRedirect
from slugs import TagRedirect

FORMAT = "inkwell-export"
VERSION = 1
EXPORTED_SETTINGS = ("BLOG_TITLE", "BLOG_DESCRIPTION", "BLOG_LANGUAGE")
ZIP_MEMBER = "inkwell-export.json"
COMMENT_FIELDS = (
    "author_name", "author_email", "author_website", "body", "ip_hash", "commenter_key", "held_reason",
    "notify_replies", "notify_approval",
)  # fmt: skip


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_data(*, with_users: bool = False) -> dict[str, Any]:
    """Return the whole blog as plain data, in a stable order."""
    users = db.session.scalars(select(User).order_by(User.id)).all()
    posts = db.session.scalars(select(Post).order_by(Post.id)).all()
    comments = db.session.scalars(select(Comment).order_by(Comment.id)).all()
    old_slugs: dict[int, list[str]] = {}
    for redirect in db.session.scalars(select(SlugRedirect).order_by(SlugRedirect.old_slug)):
        old_slugs.setdefault(redirect.post_id, []).append(redirect.old_slug)
    legacy: dict[int, list[str]] = {}
    for address in db.session.scalars(select(LegacyAddress).order_by(LegacyAddress.path)):
        legacy.setdefault(address.post_id, []).append(address.path)
    return {
        "format": FORMAT,
        "version": VERSION,
        "settings": {name: current_app.config[name] for name in EXPORTED_SETTINGS},
        "users": [_exported_user(user, with_users) for user in users],
        "tags": _exported_tags(),
        "posts": [_exported_post(post, old_slugs.get(post.id, []), legacy.get(post.id, [])) for post in posts],
        "comments": [_exported_comment(comment) for comment in comments],
        "uploads": _exported_uploads(),
    }


def _exported_tags() -> list[dict[str, Any]]:
    """Each tag with its description and the addresses it had before it was renamed or had others merged in."""
    old_slugs: dict[int, list[str]] = {}
    for redirect in db.session.scalars(select(TagRedirect).order_by(TagRedirect.old_slug)):
        old_slugs.setdefault(redirect.tag_id, []).append(redirect.old_slug)
    return [
        {"name": tag.name, "slug": tag.slug, "description": tag.description, "old_slugs": old_slugs.get(tag.id, [])}
        for tag in db.session.scalars(select(Tag).order_by(Tag.slug))
    ]


def _exported_user(user: User, with_password: bool) -> dict[str, Any]:
    data = {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "created_at": _when(user.created_at),
    }
    if with_password:
        data["password_hash"] = user.password_hash
    if with_password and user.has_two_factor:  # a moved account stays as well protected
        data["two_factor"] = {
            "secret": user.totp_secret,
            "last_step": user.totp_last_step,
            "recovery_code_hashes": [code.code_hash for code in user.recovery_codes],
        }
    return data


def _exported_post(post: Post, old_slugs: list[str], legacy_addresses: list[str]) -> dict[str, Any]:
    return {
        "id": post.id,
        "legacy_addresses": legacy_addresses,
        "title": post.title,
        "slug": post.slug,
        "old_slugs": old_slugs,
        "body": post.body,
        "format": post.format.value,
        "excerpt": post.excerpt,
        "feature_image": post.feature_image,  # an image's name, among the uploads
        "status": post.status.value,
        "comments_open": post.comments_open,
        "kind": post.kind.value,
        "author": post.author.username if post.author else None,
        "tags": sorted(tag.slug for tag in post.tags),
        "published_at": _when(post.published_at),
        "created_at": _when(post.created_at),
        "updated_at": _when(post.updated_at),
        "trashed_at": _when(post.trashed_at),  # in the trash: it stays there, hidden, through an import
        "trashed_by": post.trashed_by,
    }


def _exported_comment(comment: Comment) -> dict[str, Any]:
    data = {field: getattr(comment, field) for field in COMMENT_FIELDS}
    return data | {
        "id": comment.id,
        "post": comment.post_id,
        "parent": comment.parent_id,
        "status": comment.status.value,
        "format": comment.format.value,
        "created_at": _when(comment.created_at),
        "edited_at": _when(comment.edited_at),
        "by_owner": comment.by_owner,
        "trashed_at": _when(comment.trashed_at),  # as for posts: a comment in the trash stays there
        "trashed_by": comment.trashed_by,
    }


def _exported_uploads() -> list[dict[str, str]]:
    folder = uploads_folder()
    if not folder.is_dir():
        return []
    files = sorted(path for path in folder.iterdir() if path.is_file() and is_stored_name(path.name))
    described = {upload.name: upload for upload in db.session.scalars(select(Upload))}
    return [
        {"name": path.name, "data": base64.b64encode(path.read_bytes()).decode()}
        | _description(described.get(path.name))
        for path in files
    ]


def _description(upload: Upload | None) -> dict[str, Any]:
    """An image's description in the media library (its smaller copies are made again on import)."""
    if upload is None:
        return {}
    return {"alt": upload.alt, "decorative": upload.is_decorative}


def as_json(data: dict[str, Any]) -> str:
    """Return exported data as JSON text: sorted keys, two-space indents, one trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def as_zip(data: dict[str, Any]) -> bytes:
    """Return exported data as a zip: ``inkwell-export.json`` with the images beside it as files, not base64."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for upload in data["uploads"]:
            archive.writestr(f"uploads/{upload['name']}", base64.b64decode(upload.pop("data")))
            upload["file"] = f"uploads/{upload['name']}"
        archive.writestr(ZIP_MEMBER, as_json(data))
    return buffer.getvalue()


def export_json(*, with_users: bool = False) -> str:
    """Return the whole blog as the JSON text of an export."""
    return as_json(export_data(with_users=with_users))


def export_zip(*, with_users: bool = False) -> bytes:
    """Return the whole blog as the zip of an export."""
    return as_zip(export_data(with_users=with_users))
