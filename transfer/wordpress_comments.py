"""WordPress comments: each post's comments in thread order, as HTML, with their statuses.

Approved comments stay approved, held ones held and spam spam; trashed ones are left out, and so are pingbacks and
trackbacks (Inkwell has no mentions yet), counted apart. A reply to a comment that is not in the file, or was left
out, is shown as a comment on the post, and the summary says so. A commenter's website is kept only if the
comment form would accept it.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from database import db
from markup import is_web_address
from models import BodyFormat
from models import Comment
from models import CommentStatus
from models import Post
from transfer.common import ImportSummary
from transfer.wpautop import wordpress_html
from transfer.wxr import NS
from transfer.wxr import text_of
from transfer.wxr import when_of

COMMENT_STATUSES = {"1": CommentStatus.approved, "0": CommentStatus.pending, "spam": CommentStatus.spam}
LINKBACKS = ("pingback", "trackback")
WEBSITE_MAX = 200  # a cut address would lead somewhere else, so a longer one is left out
NUMBER_DIGITS_MAX = 18  # a comment id longer than this is no id WordPress gave; it sorts as text


def _thread_order(item: Element, post: Post, summary: ImportSummary) -> list[Element]:
    """Return the item's comments oldest first but every parent before its replies, without pingbacks and trackbacks.

    A reply whose parent is not in the file, or was left out, is shown as a comment on the post itself.
    """
    in_file = item.findall("wp:comment", NS)
    entries = [entry for entry in in_file if text_of(entry, "wp:comment_type") not in LINKBACKS]
    summary.linkbacks_skipped += len(in_file) - len(entries)
    by_id: dict[str, Element] = {}
    for entry in entries:
        by_id.setdefault(text_of(entry, "wp:comment_id"), entry)
    ordered: list[Element] = []
    placed: set[int] = set()
    for entry in sorted(entries, key=lambda entry: _number(text_of(entry, "wp:comment_id"))):
        chain: list[Element] = []
        step: Element | None = entry
        while step is not None and id(step) not in placed:  # climb to the first ancestor already placed
            placed.add(id(step))
            chain.append(step)
            step = by_id.get(text_of(step, "wp:comment_parent"))
        ordered += reversed(chain)
        parent = text_of(entry, "wp:comment_parent")
        if _is_shown(entry) and parent not in ("", "0") and not _is_shown(by_id.get(parent)):
            known = any(text_of(other, "wp:comment_id") == parent for other in in_file)
            summary.adjustments.append(
                f"Comment {text_of(entry, 'wp:comment_id')} by {text_of(entry, 'wp:comment_author') or 'Anonymous'} "
                f"on {post.title!r} answers comment {parent}, which "
                f"{'was left out' if known else 'is not in the file'}; it is shown as a comment on the post."
            )
    return ordered


def _is_shown(entry: Element | None) -> bool:
    return entry is not None and COMMENT_STATUSES.get(text_of(entry, "wp:comment_approved")) is not None


def _number(text: str) -> tuple[int, str]:
    """Sort key of a comment id: by number when it is one (ASCII digits, not absurdly many), else by its text."""
    plain = text.isascii() and text.isdigit() and len(text) <= NUMBER_DIGITS_MAX
    return (int(text), "") if plain else (0, text)


def import_comments(item: Element, post: Post, summary: ImportSummary) -> None:
    """Add the item's comments oldest first, so every reply's parent exists before it."""
    entries = _thread_order(item, post, summary)
    imported: dict[str, Comment] = {}
    for entry in entries:
        status = COMMENT_STATUSES.get(text_of(entry, "wp:comment_approved"))
        if status is None:
            summary.comments_left_out += 1
            continue
        body = text_of(entry, "wp:comment_content")
        parent = imported.get(text_of(entry, "wp:comment_parent"))
        website = text_of(entry, "wp:comment_author_url")
        if website and (len(website) > WEBSITE_MAX or not is_web_address(website)):
            summary.websites_left_out += 1
            website = ""
        comment = Comment(
            post_id=post.id,
            parent=parent,  # a trashed parent was left out: the reply then starts its own thread
            author_name=(text_of(entry, "wp:comment_author") or "Anonymous")[:80],
            author_email=text_of(entry, "wp:comment_author_email")[:254] or None,
            author_website=website or None,
            format=BodyFormat.html,
            body=wordpress_html(body) or "…",
            status=status,
            held_reason="Held on WordPress" if status == CommentStatus.pending else None,
            created_at=when_of(entry, "wp:comment_date_gmt", "wp:comment_date") or post.created_at,
        )
        db.session.add(comment)
        imported[text_of(entry, "wp:comment_id")] = comment
        summary.comments[status.value] += 1
