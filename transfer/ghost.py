"""Moving in from Ghost: read a Ghost JSON export (Settings → Labs → Export content) into Inkwell.

Posts and pages keep their slugs, dates, excerpts, public tags and authors (as accounts without a password, named
as on Ghost); drafts stay drafts and scheduled posts stay scheduled. Bodies come from the export's ``html`` field,
which Ghost fills from its Mobiledoc or Lexical documents, and are stored as HTML; a Ghost 0.x post with only
Markdown keeps it as Markdown. Each post's Ghost address (``/slug/``) redirects to it. Running the import again
skips what is already there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from database import db
from models import BodyFormat
from models import Post
from models import PostKind
from models import PostStatus
from slugs import LegacyAddress
from slugs import slugify
from slugs import tags_named
from slugs import unique_slug
from transfer.common import Bylines
from transfer.common import ImportSummary
from transfer.common import Tracker
from transfer.common import TransferError
from transfer.common import check_import_size
from transfer.common import untracked
from transfer.media import MediaFolder
from transfer.record import recorded_import

STATUSES = {"published": PostStatus.published, "scheduled": PostStatus.published}  # anything else: a draft
GHOST_URL = "__GHOST_URL__"  # Ghost 4+ writes its own address this way in exported bodies


@dataclass
class _Run:
    """What one import knows beyond the post it is on."""

    media: MediaFolder | None  # where the images come from, when the owner gave Ghost's images folder
    feature_alts: dict[str, str]  # post id → its feature image's alt text
    tags: dict[str, list[str]]  # post id → its public tag names
    authors: dict[str, dict[str, Any]]  # post id → its first author
    bylines: Bylines
    summary: ImportSummary


def read_ghost(raw: bytes) -> dict[str, Any]:
    """Return the ``data`` of a Ghost export: its posts, tags, users and the tables linking them.

    :raise TransferError: for a file too large, JSON that does not parse (with its line and column), or JSON
        that is not a Ghost export.
    """
    check_import_size(len(raw))
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise TransferError("The file is not text in UTF-8, as Ghost writes its exports.") from None
    except RecursionError:
        raise TransferError("The file nests its JSON deeper than any Ghost export does.") from None
    except json.JSONDecodeError as error:
        raise TransferError(
            f"The file is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    if isinstance(document, dict) and isinstance(document.get("db"), list) and document["db"]:
        document = document["db"][0]
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
        raise TransferError("This is not a Ghost export: it has no list of posts under “data”.")
    for table in ("posts", "tags", "posts_tags", "users", "posts_authors", "posts_meta"):
        rows = data.get(table, [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise TransferError(f"The export's “{table}” is not a list of records, as Ghost writes it.")
    return data


def import_ghost(
    raw: bytes,
    *,
    include_pages: bool = True,
    images: Path | None = None,
    track: Tracker = untracked,
    dry_run: bool = False,
    file_name: str = "Ghost export",
) -> ImportSummary:
    """Import a Ghost export in one transaction and return what was done (or, on a ``dry_run``, would be).

    ``images`` is a copy of the blog's ``content/images`` folder (or a zip of it): the images the posts show,
    and their feature images, are brought in from it.

    :raise TransferError: naming the problem; nothing is imported then.
    """
    data = read_ghost(raw)
    summary = ImportSummary(source="Ghost", dry_run=dry_run)
    run = _Run(
        media=(
            MediaFolder(images, marker="/content/images/", dry_run=dry_run, stored=summary.new_uploads)
            if images is not None
            else None
        ),
        feature_alts={
            str(meta.get("post_id")): str(meta.get("feature_image_alt") or "") for meta in data.get("posts_meta", [])
        },
        tags=_tags_by_post(data),
        authors=_authors_by_post(data),
        bylines=Bylines(),
        summary=summary,
    )
    summary.accounts_without_password = run.bylines.without_password
    with recorded_import(summary, file_name):
        for entry in track(data["posts"], "Posts"):
            if include_pages or not _is_page(entry):
                _import_post(entry, run)
        if run.media is not None:
            run.media.report_to(summary)
    return summary


def _is_page(entry: dict[str, Any]) -> bool:
    return entry.get("type") == "page" or entry.get("page") in (True, 1, "1")  # Ghost 0.x and 1.x: a flag


def _tags_by_post(data: dict[str, Any]) -> dict[str, list[str]]:
    """Return each post's public tag names in Ghost's order; internal tags (``#name``) are Ghost's own."""
    names = {
        str(tag.get("id")): str(tag.get("name") or "").strip()
        for tag in data.get("tags", [])
        if tag.get("visibility", "public") == "public" and not str(tag.get("name") or "").startswith("#")
    }
    by_post: dict[str, list[str]] = {}
    for link in sorted(data.get("posts_tags", []), key=_sort_order):
        name = names.get(str(link.get("tag_id")))
        if name:
            by_post.setdefault(str(link.get("post_id")), []).append(name)
    return by_post


def _authors_by_post(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return each post's first author: from ``posts_authors`` (Ghost 1.22+) or the post's ``author_id``."""
    users = {str(user.get("id")): user for user in data.get("users", [])}
    by_post: dict[str, dict[str, Any]] = {}
    for link in sorted(data.get("posts_authors", []), key=_sort_order):
        if str(link.get("author_id")) in users:
            by_post.setdefault(str(link.get("post_id")), users[str(link.get("author_id"))])
    for post in data["posts"]:
        author = users.get(str(post.get("author_id")))
        if author is not None:
            by_post.setdefault(str(post.get("id")), author)
    return by_post


def _account_id(author: dict[str, Any] | None, bylines: Bylines) -> int | None:
    """Return the id of the account for a Ghost author, known by the slug of their profile (made a safe username)."""
    if author is None:
        return None
    username = slugify(str(author.get("slug") or author.get("name") or "author"), max_length=40)
    return bylines.account_id(username, str(author.get("name") or ""))


def _sort_order(row: dict[str, Any]) -> float:
    """Return a link's place in Ghost's order; a value that is not a number sorts first."""
    order = row.get("sort_order")
    return order if isinstance(order, int | float) and not isinstance(order, bool) and order == order else 0


def _when(value: Any) -> datetime | None:
    """Read a Ghost date, ISO 8601 (``2021-03-04T05:06:07.000Z``) or, in Ghost 0.x, milliseconds since 1970, in
    UTC; ``None`` for anything else, or a date that cannot be stored in UTC (the year 1 in a zone east of it)."""
    if value in (None, "") or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _body(entry: dict[str, Any], title: str, run: _Run) -> tuple[str, BodyFormat]:
    """Return the post's body and its format: Ghost's rendered HTML, else 0.x Markdown, else the plain text."""
    html = entry.get("html")
    if isinstance(html, str) and html.strip():
        html = html.replace(f'"{GHOST_URL}/', '"/')
        if run.media is None:
            return html, BodyFormat.html
        feature = run.media.image_address(str(entry.get("feature_image") or "").replace(GHOST_URL, ""))
        if feature is not None:
            alt = run.feature_alts.get(str(entry.get("id")), "")
            html = f'<p><img src="{feature}" alt="{escape(alt)}"></p>\n{html}'
        return run.media.bring_images(html), BodyFormat.html
    if isinstance(entry.get("markdown"), str):
        return entry["markdown"], BodyFormat.markdown
    run.summary.adjustments.append(f"“{title}” had no HTML in the export, so its plain text was imported.")
    return str(entry.get("plaintext") or ""), BodyFormat.markdown


def _import_post(entry: dict[str, Any], run: _Run) -> None:
    summary, key = run.summary, str(entry.get("id"))
    title = str(entry.get("title") or "").strip()[:200] or "Untitled"
    ghost_slug = slugify(str(entry.get("slug") or title))
    old_address = f"/{ghost_slug}/"
    if db.session.get(LegacyAddress, old_address) is not None:
        summary.already_there += 1
        return
    slug = unique_slug(ghost_slug)
    if slug != ghost_slug:
        folder = "/pages" if _is_page(entry) else "/posts"
        summary.adjustments.append(f"“{title}”: the address {folder}/{ghost_slug} was taken, so it is {folder}/{slug}.")
    status = STATUSES.get(str(entry.get("status")), PostStatus.draft)
    published_at = _when(entry.get("published_at"))
    if status == PostStatus.published and published_at is None:
        published_at = _when(entry.get("created_at")) or datetime.now(UTC)
        summary.adjustments.append(f"“{title}” had no publication date, so it is dated when it was created.")
    created_at = _when(entry.get("created_at")) or published_at or datetime.now(UTC)
    body, body_format = _body(entry, title, run)
    post = Post(
        title=title,
        slug=slug,
        format=body_format,
        excerpt=str(entry.get("custom_excerpt") or "")[:500],
        body=body,
        status=status,
        kind=PostKind.page if _is_page(entry) else PostKind.post,
        author_id=_account_id(run.authors.get(key), run.bylines),
        tags=tags_named(list(dict.fromkeys(name[:60] for name in run.tags.get(key, [])))),
        published_at=published_at,
        created_at=created_at,
        updated_at=_when(entry.get("updated_at")) or created_at,
    )
    db.session.add(post)
    db.session.flush()
    db.session.add(LegacyAddress(path=old_address, post_id=post.id))
    page = _is_page(entry)
    summary.pages += page
    summary.posts += not page
    summary.drafts += status == PostStatus.draft
