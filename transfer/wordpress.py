"""Moving in from WordPress: read a WXR export (Tools → Export) into Inkwell.

Posts (and pages, if asked) keep their slugs, dates, authors, categories and tags (both become tags), and
their approved comments keep their threads. Held comments stay held and spam stays spam; trashed ones are
left out. Old addresses (``/?p=123``, the post's permalink path) redirect to the new posts. Running the
import again skips what is already there. A commenter's website is kept only if the comment form would
accept it, and authors get accounts without a password. The XML is parsed with defusedxml: files with entity tricks
(billion laughs, external entities) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from urllib.parse import unquote
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from sqlalchemy import select

from database import db
from markup import is_web_address
from models import BodyFormat
from models import Comment
from models import CommentStatus
from models import LegacyAddress
from models import Post
from models import PostStatus
from models import User
from models import UserRole
from models import slugify
from models import tags_named
from models import unique_slug
from transfer.common import Tracker
from transfer.common import untracked
from transfer.wpautop import wordpress_html

NS = {
    "wp": "http://wordpress.org/export/1.2/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
MAX_BYTES = 200 * 1024 * 1024
COMMENT_STATUSES = {"1": CommentStatus.approved, "0": CommentStatus.pending, "spam": CommentStatus.spam}
POST_STATUSES = {"publish": PostStatus.published, "future": PostStatus.published}  # anything else: a draft
NO_DATE = "0000-00-00 00:00:00"
TAG_DOMAINS = ("category", "post_tag")
WEBSITE_MAX = 200  # the column's size; a cut address would lead somewhere else


class WordPressError(ValueError):
    """The file cannot be imported; the message names what is wrong and where."""


@dataclass
class Summary:
    posts: int = 0
    pages: int = 0
    drafts: int = 0
    already_there: int = 0
    comments: dict[str, int] = field(default_factory=lambda: {"approved": 0, "pending": 0, "spam": 0})
    comments_left_out: int = 0
    redirects: int = 0
    websites_left_out: int = 0
    accounts_without_password: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        held = self.comments
        return (
            f"Imported {self.posts} posts and {self.pages} pages ({self.drafts} as drafts); "
            f"{held['approved']} approved, {held['pending']} held and {held['spam']} spam comments "
            f"({self.comments_left_out} trashed left out); {self.redirects} old addresses redirect. "
            f"Already imported before: {self.already_there}." + self._notes()
        )

    def _notes(self) -> str:
        notes = ""
        if self.websites_left_out:
            notes += (
                f" {self.websites_left_out} commenters' websites were left out: "
                "only http:// and https:// addresses are linked."
            )
        if self.accounts_without_password:
            count = len(self.accounts_without_password)
            notes += (
                f" {count} {'author was' if count == 1 else 'authors were'} given an account without a password "
                f"({', '.join(self.accounts_without_password)}); set one with `flask --app app set-password NAME`."
            )
        return notes


def _text(item: Element, path: str) -> str:
    found = item.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _when(item: Element, gmt: str, local: str) -> datetime | None:
    value = _text(item, gmt)
    if not value or value == NO_DATE:
        value = _text(item, local)
    if not value or value == NO_DATE:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise WordPressError(f"The date {value!r} is not in WordPress's format (YYYY-MM-DD HH:MM:SS).") from None


def parse(raw: bytes) -> Element:
    """Return the channel of a WXR file.

    :raise WordPressError: for a file too large, malformed or truncated XML, entity tricks, or not a WXR file.
    """
    if len(raw) > MAX_BYTES:
        raise WordPressError("The file is larger than 200 MB, the most an import may be.")
    try:
        root = SafeElementTree.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException:
        raise WordPressError("The file uses XML entity declarations, which an export never needs; refused.") from None
    except ParseError as error:
        line, column = error.position
        raise WordPressError(
            f"The file is not complete XML (line {line}, column {column}). Was it cut short?"
        ) from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None or channel.find("wp:wxr_version", NS) is None:
        raise WordPressError("This is not a WordPress export (WXR) file: it has no <wp:wxr_version>.")
    return channel


def _check(items: list[Element]) -> None:
    """Refuse duplicate slugs and comments answering comments that are not in the file."""
    seen: dict[str, str] = {}
    for item in items:
        slug = unquote(_text(item, "wp:post_name"))
        if slug and _text(item, "wp:post_type") in ("post", "page"):
            if slug in seen:
                raise WordPressError(f"Two items have the slug {slug!r}: {seen[slug]!r} and {_text(item, 'title')!r}.")
            seen[slug] = _text(item, "title")
        ids = {_text(comment, "wp:comment_id") for comment in item.findall("wp:comment", NS)}
        for comment in item.findall("wp:comment", NS):
            parent = _text(comment, "wp:comment_parent")
            if parent not in ("", "0") and parent not in ids:
                raise WordPressError(
                    f"Comment {_text(comment, 'wp:comment_id')} on {_text(item, 'title')!r} answers comment "
                    f"{parent}, which is not in the file."
                )


def _author(login: str, names: dict[str, str], users: dict[str, User], summary: Summary) -> User | None:
    if not login:
        return None
    key = login.lower()
    if key not in users:
        # An account for the byline; it cannot log in until an administrator sets a password.
        users[key] = User(
            username=login[:40], display_name=names.get(login, login)[:80], role=UserRole.author, password_hash="!"
        )
        db.session.add(users[key])
        summary.accounts_without_password.append(users[key].username)
    return users[key]


def import_wordpress(raw: bytes, *, include_pages: bool = True, track: Tracker = untracked) -> Summary:
    """Import a WXR file in one transaction and return what was done.

    :raise WordPressError: naming the problem; nothing is imported then.
    """
    channel = parse(raw)
    items = channel.findall("item")
    _check(items)
    channel_authors = {
        _text(author, "wp:author_login"): _text(author, "wp:author_display_name")
        for author in channel.findall("wp:author", NS)
    }
    summary = Summary()
    try:
        users = {user.username.lower(): user for user in db.session.scalars(select(User))}
        for item in track(items, "Items"):
            _import_item(item, include_pages, channel_authors, users, summary)
        db.session.commit()
    except WordPressError:
        db.session.rollback()
        raise
    return summary


def _import_item(
    item: Element, include_pages: bool, names: dict[str, str], users: dict[str, User], summary: Summary
) -> None:
    kind, status = _text(item, "wp:post_type"), _text(item, "wp:status")
    if kind not in ("post", "page") or (kind == "page" and not include_pages) or status == "trash":
        return
    legacy = f"/?p={_text(item, 'wp:post_id')}" if kind == "post" else f"/?page_id={_text(item, 'wp:post_id')}"
    if db.session.get(LegacyAddress, legacy) is not None:
        summary.already_there += 1
        return
    title = _text(item, "title") or "Untitled"
    slug = unique_slug(slugify(unquote(_text(item, "wp:post_name")) or title))
    published_at = _when(item, "wp:post_date_gmt", "wp:post_date")
    categories = [
        c.text.strip() for c in item.findall("category") if c.text and c.get("domain") in ("category", "post_tag")
    ]
    post = Post(
        title=title,
        slug=slug,
        excerpt=_text(item, "excerpt:encoded"),
        format=BodyFormat.html,
        body=wordpress_html(_text(item, "content:encoded")),
        status=POST_STATUSES.get(status, PostStatus.draft),
        comments_open=_text(item, "wp:comment_status") != "closed",
        author=_author(_text(item, "dc:creator"), names, users, summary),
        tags=tags_named([name for name in dict.fromkeys(categories) if name.lower() != "uncategorized"]),
        published_at=published_at,
        created_at=published_at or datetime.now(UTC),
        updated_at=published_at or datetime.now(UTC),
    )
    db.session.add(post)
    db.session.flush()
    addresses = {legacy}
    link_path = urlsplit(_text(item, "link")).path
    if post.status == PostStatus.published and link_path not in ("", "/"):
        addresses.add(unquote(link_path))
    db.session.add_all(LegacyAddress(path=path, post_id=post.id) for path in addresses)
    summary.redirects += len(addresses)
    summary.pages += kind == "page"
    summary.posts += kind == "post"
    summary.drafts += post.status == PostStatus.draft
    _import_comments(item, post, summary)


def _import_comments(item: Element, post: Post, summary: Summary) -> None:
    """Add the item's comments oldest first, so every reply's parent exists before it."""
    entries = sorted(item.findall("wp:comment", NS), key=lambda c: int(_text(c, "wp:comment_id") or 0))
    imported: dict[str, Comment] = {}
    for entry in entries:
        status = COMMENT_STATUSES.get(_text(entry, "wp:comment_approved"))
        if status is None or _text(entry, "wp:comment_type") in ("pingback", "trackback"):
            summary.comments_left_out += 1
            continue
        body = _text(entry, "wp:comment_content")
        parent = imported.get(_text(entry, "wp:comment_parent"))
        website = _text(entry, "wp:comment_author_url")
        if website and (len(website) > WEBSITE_MAX or not is_web_address(website)):
            summary.websites_left_out += 1
            website = ""
        comment = Comment(
            post_id=post.id,
            parent=parent,  # a trashed parent was left out: the reply then starts its own thread
            author_name=(_text(entry, "wp:comment_author") or "Anonymous")[:80],
            author_email=_text(entry, "wp:comment_author_email")[:254] or None,
            author_website=website or None,
            format=BodyFormat.html,
            body=wordpress_html(body) or "…",
            status=status,
            held_reason="Held on WordPress" if status == CommentStatus.pending else None,
            created_at=_when(entry, "wp:comment_date_gmt", "wp:comment_date") or post.created_at,
        )
        db.session.add(comment)
        imported[_text(entry, "wp:comment_id")] = comment
        summary.comments[status.value] += 1
