"""Importing Inkwell's own export (``transfer.export``) into an empty blog, in one transaction.

A file with any problem changes nothing. An import file may come from someone else, so nothing in it is
trusted more than what a stranger types: its images pass the checks of a fresh upload (an image that fails
them is left out and named in the result), a commenter's website is linked only if the comment form would
accept it, and accounts arrive without a usable password unless the owner asks to keep the file's
passwords and two-factor keys.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import pagecache
import search
from account.tables import RecoveryCode
from account.tables import User
from account.tables import UserRole
from admin.tables import ALT_MAX
from admin.tables import Upload
from comment_counts import recount_comments
from database import db
from forms import TAG_DESCRIPTION_MAX
from image_sizes import pixel_size
from images import UploadError
from images import checked_image
from images import is_stored_name
from images import uploads_folder
from images import write_upload
from markup import is_web_address
from models import BodyFormat
from models import Comment
from models import CommentStatus
from models import Post
from models import PostKind
from models import PostStatus
from models import Tag
from slugs import LegacyAddress
from slugs import SlugRedirect
from slugs import TagRedirect
from transfer.common import IMPORT_MAX_BYTES
from transfer.common import ImportResult
from transfer.common import Tracker
from transfer.common import TransferError
from transfer.common import has_content
from transfer.common import untracked
from transfer.export import COMMENT_FIELDS
from transfer.export import FORMAT
from transfer.export import VERSION
from transfer.export import ZIP_MEMBER

PASSWORD_HASH = re.compile(r"(scrypt|pbkdf2):[a-z0-9:]+\$[^$]+\$[0-9a-f]+")  # as werkzeug makes them


def read_export(raw: bytes) -> dict[str, Any]:
    """Parse and check an export file.

    :raise TransferError: for a file too large, not JSON, not an Inkwell export, or from a newer Inkwell.
    """
    if len(raw) > IMPORT_MAX_BYTES:
        raise TransferError(f"The file is {len(raw) / 1_048_576:,.0f} MB; imports can be at most 200 MB.")
    if raw[:4] == b"PK\x03\x04":
        return _read_zip_export(raw)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TransferError("This is not a text file, so not an Inkwell export.") from None
    except json.JSONDecodeError as error:
        raise TransferError(
            f"The file is not complete JSON: {error.msg} at line {error.lineno}, column {error.colno}. "
            "Was it cut short while copying?"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TransferError('This is not an Inkwell export (it has no "format": "inkwell-export").')
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise TransferError(
            f"This export was made by a newer Inkwell (format version {version}); this one reads version {VERSION}. "
            "Upgrade Inkwell, then import again."
        )
    return data


def _read_zip_export(raw: bytes) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            _check_unpacked_size(archive)
            data = read_export(archive.read(ZIP_MEMBER))
            for upload in data.get("uploads", []):
                if "file" in upload:
                    upload["data"] = base64.b64encode(archive.read(upload.pop("file"))).decode()
    except KeyError as missing:
        raise TransferError(f"The zip file has no {missing}; is it an Inkwell export?") from None
    except zipfile.BadZipFile as error:
        raise TransferError(f"The zip file is damaged: {error}.") from None
    return data


def _check_unpacked_size(archive: zipfile.ZipFile) -> None:
    """Refuse a zip that unpacks to more than a JSON export may be, before unpacking anything.

    A few megabytes of zip can claim gigabytes; Python's zipfile never unpacks more than a member claims.
    """
    unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > IMPORT_MAX_BYTES:
        raise TransferError(
            f"The zip file unpacks to {unpacked / 1_048_576:,.0f} MB; imports can be at most "
            f"{IMPORT_MAX_BYTES / 1_048_576:,.0f} MB."
        )


def import_data(data: dict[str, Any], track: Tracker = untracked, *, keep_passwords: bool = False) -> ImportResult:
    """Load an export into an empty blog, in one transaction; return what was added and what was left out.

    Import refuses a blog that already has content rather than merge: ids and addresses in the file are
    kept exactly, so links, comment permalinks and threads survive the move. Accounts keep the file's
    password hashes and two-factor keys only with ``keep_passwords``: a file someone else made could
    otherwise bring an administrator whose password its maker knows.

    :raise TransferError: naming the problem and where, with nothing changed.
    """
    if has_content():
        raise TransferError(
            "This blog already has posts or comments. Import into an empty blog: "
            "point DATABASE_URL at a new one and run init-db first."
        )
    try:
        _check_no_orphans(data)
        result = _load(data, track, keep_passwords)
        db.session.flush()
    except TransferError:
        db.session.rollback()
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        db.session.rollback()
        raise TransferError(f"The export is malformed: {error!r} is missing or of the wrong kind.") from None
    except SQLAlchemyError as error:
        db.session.rollback()
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise TransferError(f"The database refused the file's data: {reason}.") from None
    search.reindex_on(db.session.connection())
    db.session.commit()
    _fix_sequences()
    return result


def _check_no_orphans(data: dict[str, Any]) -> None:
    post_ids = {post["id"] for post in data["posts"]}
    comment_ids = {comment["id"] for comment in data["comments"]}
    for index, comment in enumerate(data["comments"]):
        if comment["post"] not in post_ids:
            raise TransferError(
                f"comments[{index}] (id {comment['id']}) belongs to post {comment['post']}, which is not in the file."
            )
        if comment["parent"] is not None and comment["parent"] not in comment_ids:
            raise TransferError(
                f"comments[{index}] (id {comment['id']}) answers comment {comment['parent']}, which is not in the file."
            )


def _duplicates(values: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(values).items() if count > 1)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _body_format(entry: dict[str, Any]) -> BodyFormat:
    """Return what a post's or a comment's body is written in; exports made before formats hold only Markdown."""
    return BodyFormat(entry.get("format", BodyFormat.markdown))


def _imported_tag(index: int, entry: dict[str, Any]) -> Tag:
    """A tag from the file; exports made before tag descriptions have none."""
    description = entry.get("description", "")
    if not isinstance(description, str) or len(description) > TAG_DESCRIPTION_MAX:
        raise TransferError(
            f"tags[{index}] ({entry['slug']!r}) has a description that is not text of at most "
            f"{TAG_DESCRIPTION_MAX} characters."
        )
    return Tag(name=entry["name"], slug=entry["slug"], description=description)


def _add_tag_redirects(entries: list[dict[str, Any]], tags: dict[str, Tag]) -> None:
    """Keep the tags' old addresses leading to them; one that is now another tag's would never be reached."""
    for index, entry in enumerate(entries):
        for old_slug in entry.get("old_slugs", []):
            if old_slug in tags:
                raise TransferError(
                    f"tags[{index}] ({entry['slug']!r}) had the address {old_slug!r}, which a tag in the file has now."
                )
            db.session.add(TagRedirect(old_slug=old_slug, tag_id=tags[entry["slug"]].id))


def _load(data: dict[str, Any], track: Tracker, keep_passwords: bool) -> ImportResult:
    for kind, key in (("post slug", "slug"), ("post id", "id")):
        repeated = _duplicates([post[key] for post in data["posts"]])
        if repeated:
            raise TransferError(f"The {kind} {repeated[0]!r} appears more than once in the file.")
    db.session.execute(text("DELETE FROM post_tags"))
    # At most the welcome post: see has_content().
    for model in (Comment, SlugRedirect, LegacyAddress, Post, TagRedirect, Tag):
        db.session.execute(model.__table__.delete())

    # Accounts that already exist (the importing administrator's) are kept as they are.
    users = {user.username.lower(): user for user in db.session.scalars(select(User))}
    added_users, without_password = 0, []
    for entry in data["users"]:
        if entry["username"].lower() in users:
            continue
        user = User(
            username=entry["username"],
            display_name=entry["display_name"],
            role=UserRole(entry["role"]),
            created_at=_parse_time(entry["created_at"]),
            password_hash="!",  # no password works until one is set
        )
        if keep_passwords and entry.get("password_hash") not in (None, "", "!"):
            user.password_hash = _checked_password_hash(user, entry["password_hash"])
        if keep_passwords and entry.get("two_factor"):
            _import_two_factor(user, entry["two_factor"])
        if user.password_hash == "!":
            without_password.append(user.username)
        db.session.add(user)
        users[user.username.lower()] = user
        added_users += 1
    tags = {entry["slug"]: _imported_tag(index, entry) for index, entry in enumerate(data["tags"])}
    db.session.add_all(tags.values())
    db.session.flush()
    _add_tag_redirects(data["tags"], tags)

    for index, entry in enumerate(track(data["posts"], "Posts")):
        missing = [slug for slug in entry["tags"] if slug not in tags]
        if missing:
            raise TransferError(
                f"posts[{index}] ({entry['slug']!r}) has the tag {missing[0]!r}, which is not in the file."
            )
        post = Post(
            id=entry["id"],
            title=entry["title"],
            slug=entry["slug"],
            excerpt=entry["excerpt"],
            feature_image=entry.get("feature_image") if is_stored_name(entry.get("feature_image") or "") else None,
            format=_body_format(entry),
            body=entry["body"],
            status=PostStatus(entry["status"]),
            comments_open=entry["comments_open"],
            kind=PostKind.page if entry.get("kind") == "page" else PostKind.post,  # older exports: posts
            author=users.get(entry["author"].lower()) if entry["author"] else None,
            tags=[tags[slug] for slug in entry["tags"]],
            published_at=_parse_time(entry["published_at"]),
            created_at=_parse_time(entry["created_at"]),
            updated_at=_parse_time(entry["updated_at"]),
            trashed_at=_parse_time(entry.get("trashed_at")),  # exports made before the trash have none
            trashed_by=entry.get("trashed_by"),
        )
        db.session.add(post)
        db.session.add_all(SlugRedirect(old_slug=old, post_id=entry["id"]) for old in entry["old_slugs"])
        db.session.add_all(LegacyAddress(path=path, post_id=entry["id"]) for path in entry.get("legacy_addresses", []))
    db.session.flush()

    websites_left_out = 0
    for entry in data["comments"]:
        if entry["author_website"] is not None and not is_web_address(entry["author_website"]):
            entry["author_website"] = None
            websites_left_out += 1
    comments = [
        {field: entry[field] for field in COMMENT_FIELDS}
        | {
            "id": entry["id"],
            "post_id": entry["post"],
            "parent_id": entry["parent"],
            "status": CommentStatus(entry["status"]),
            "created_at": _parse_time(entry["created_at"]),
            "edited_at": _parse_time(entry["edited_at"]),
            "by_owner": entry.get("by_owner") is True,  # exports made before it have none
            "trashed_at": _parse_time(entry.get("trashed_at")),  # exports made before the trash have none
            "trashed_by": entry.get("trashed_by"),
            "format": _body_format(entry),
            "body_html": _body_format(entry).render_comment(entry["body"]),
        }
        for entry in track(data["comments"], "Comments")
    ]
    if comments:
        db.session.execute(insert(Comment), comments)
    recount_comments()  # bulk inserts bypass the ORM events that keep counts and the page cache
    pagecache.note_bulk_change(db.session)

    images, refused_images = _import_uploads(data.get("uploads", []))
    counts = {
        "users": added_users,
        "tags": len(tags),
        "posts": len(data["posts"]),
        "comments": len(comments),
        "images": images,
    }
    return ImportResult(counts, refused_images, websites_left_out, without_password)


def _checked_password_hash(user: User, password_hash: Any) -> str:
    if not isinstance(password_hash, str) or not PASSWORD_HASH.fullmatch(password_hash):
        raise TransferError(f"The password hash of {user.username!r} is not one Inkwell makes (scrypt or pbkdf2).")
    return password_hash


def _import_two_factor(user: User, two_factor: dict[str, Any]) -> None:
    secret, hashes = two_factor["secret"], two_factor["recovery_code_hashes"]
    if not isinstance(secret, str) or not re.fullmatch(r"[A-Z2-7]{16,32}", secret):
        raise TransferError(f"The two-factor secret of {user.username!r} is not a base32 key.")
    if not all(isinstance(code_hash, str) and re.fullmatch(r"[0-9a-f]{64}", code_hash) for code_hash in hashes):
        raise TransferError(f"A recovery code of {user.username!r} is not a SHA-256 hash.")
    user.totp_secret, user.totp_last_step = secret, int(two_factor["last_step"])
    user.recovery_codes = [RecoveryCode(code_hash=code_hash) for code_hash in hashes]


def _import_uploads(uploads: list[dict[str, str]]) -> tuple[int, dict[str, str]]:
    """Store the file's images after the checks of a fresh upload; return how many, and those left out with why.

    Each image is re-encoded as an upload is; its name is kept (the posts link to it) only if it is one
    Inkwell gives images, with the extension of what the bytes really are.
    """
    checked, refused = [], {}
    descriptions = {}
    for index, entry in enumerate(uploads):
        name = entry["name"]
        try:
            content = base64.b64decode(entry["data"], validate=True)
        except (binascii.Error, ValueError):
            raise TransferError(f"uploads[{index}] ({name!r}) is not valid base64.") from None
        try:
            image, kind = checked_image(content)
        except UploadError as error:
            refused[name] = str(error)
            continue
        if not is_stored_name(name, kind):
            refused[name] = (
                f"Inkwell stores images only under names of letters, digits, - and _ ending in .{kind}, "
                "as its contents are."
            )
            continue
        checked.append((name, image))
        descriptions[name] = (str(entry.get("alt") or "")[:ALT_MAX], entry.get("decorative") is True)
    for name, image in checked:
        write_upload(name, image)
        upload = db.session.get(Upload, name) or Upload(name=name)  # in the media library with its description
        upload.alt, upload.is_decorative = descriptions[name]
        upload.size, (upload.width, upload.height) = len(image), pixel_size(uploads_folder() / name) or (None, None)
        db.session.add(upload)
    return len(checked), refused


def _fix_sequences() -> None:
    """After inserting explicit ids, move PostgreSQL's id counters past them."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("posts", "comments", "tags", "users"):
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            )
        )
    db.session.commit()
