"""Every reason a comment is held, with its message: anti-spam layers, each on its own setting and none
needing a third-party service, then the moderation policy.

Layers, in order: honeypot and minimum fill time (likely bots: kept as spam), blocklist and too many
links (held for the owner), then the moderation policy (off, first-time, all). Duplicates are refused
before any of them.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from datetime import timedelta
from functools import cache
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy.sql import Select

from commenters import is_known_commenter
from database import UTCDateTime
from database import now_utc
from database import rows_of
from forms import CommentForm
from forms import form_shown_at
from forms import stamp_form_shown
from models import Comment
from models import CommentStatus
from models import Post
from pagecache import token_kind
from settings import ModerationPolicy

FORM_MAX_AGE = 24 * 3600
FORM_STARTED_SALT = "inkwell-comment-form-started"
DUPLICATE_WINDOW = timedelta(minutes=10)
DUPLICATES_COMPARED = 20
LINK = re.compile(r"<a\s")

# The reasons the owner reads in the queue and in the email about a held comment.
HELD_FIRST_TIME = "First comment from this commenter (moderation: first-time)"
HELD_ALWAYS = "Every comment is held for approval (moderation: all)"
HELD_HONEYPOT = "The hidden honeypot field was filled in, as bots do"
HELD_TOO_FAST = "Sent {seconds:.1f} s after the form was loaded, faster than a person types"
HELD_NO_TIMESTAMP = "The form's signed timestamp was missing or forged"
HELD_LINKS = "Contains {links} links (more than {limit})"
HELD_BLOCKLIST = "Matches “{phrase}” from the blocklist"

log = logging.getLogger(__name__)


class Verdict(NamedTuple):
    """What happens to a new comment, and the reason the owner sees in the queue."""

    status: CommentStatus
    reason: str | None = None


class FormTooOld(Exception):
    """The comment form was shown more than a day ago: ask to send it again, keeping the text."""


@token_kind("form-started")
def form_started_token(secret_key: str) -> str:
    """Return a signed timestamp for a freshly shown comment form."""
    return stamp_form_shown(secret_key, FORM_STARTED_SALT)


def seconds_since_form_shown(token: str | None) -> float | None:
    """Return how long ago the form was shown, or ``None`` when its timestamp is missing or forged.

    :raise FormTooOld: when the form was shown more than a day ago.
    """
    if not token:
        return None
    try:
        signed_at = form_shown_at(token, FORM_STARTED_SALT, FORM_MAX_AGE)
    except SignatureExpired:
        raise FormTooOld from None
    except BadSignature:
        return None
    return (now_utc() - signed_at).total_seconds()


def blocklist() -> list[str]:
    """Return the blocked words and phrases, one a line in ``COMMENT_BLOCKLIST`` (``#`` starts a comment).

    A missing or unreadable file is logged and treated as empty: comments are still accepted.
    """
    path = os.path.join(current_app.instance_path, current_app.config["COMMENT_BLOCKLIST"])
    try:
        found = os.stat(path)
        return list(_phrases_in(path, found.st_ino, found.st_mtime_ns, found.st_size))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        log.warning("Comment blocklist %s could not be read (%s); accepting comments as if it were empty", path, error)
        return []


@lru_cache(maxsize=8)
def _phrases_in(path: str, inode: int, modified_ns: int, size: int) -> tuple[str, ...]:
    """Read the blocklist again only when it changed (its file, time or size): every comment posted consults it.

    :raise OSError, UnicodeDecodeError: when it cannot be read (not remembered: tried again next time).
    """
    phrases = (line.split("#", 1)[0].strip().casefold() for line in Path(path).read_text("utf-8").splitlines())
    return tuple(phrase for phrase in phrases if phrase)


def _blocked_phrase(form: CommentForm) -> str | None:
    typed = " ".join(filter(None, [form.name.data, form.email.data, form.website.data, form.body.data])).casefold()
    return next((phrase for phrase in blocklist() if phrase in typed), None)


def content_verdict(form: CommentForm, body_html: str) -> Verdict | None:
    """Hold a comment whose words are on the blocklist or that carries too many links."""
    phrase = _blocked_phrase(form)
    if phrase:
        return Verdict(CommentStatus.pending, HELD_BLOCKLIST.format(phrase=phrase))
    links, limit = len(LINK.findall(body_html)), current_app.config["COMMENT_MAX_LINKS"]
    if limit and links > limit:
        return Verdict(CommentStatus.pending, HELD_LINKS.format(links=links, limit=limit))
    return None


def bot_verdict(form: CommentForm) -> Verdict | None:
    """Mark as spam what only a bot does: fill the hidden field, or send the form faster than anyone types.

    Spam is kept rather than dropped: a person wrongly caught loses nothing, and the owner can rescue it.

    :raise FormTooOld: when the form was shown more than a day ago.
    """
    if form.is_probably_spam:
        return Verdict(CommentStatus.spam, HELD_HONEYPOT)
    minimum = current_app.config["COMMENT_MIN_SECONDS"]
    seconds = seconds_since_form_shown(form.started.data)
    if not minimum:
        return None
    if seconds is None:
        return Verdict(CommentStatus.spam, HELD_NO_TIMESTAMP)
    if seconds < minimum:
        return Verdict(CommentStatus.spam, HELD_TOO_FAST.format(seconds=seconds))
    return None


def content_and_policy_verdict(form: CommentForm, comment: Comment) -> Verdict:
    """Decide from what a comment says and the moderation policy whether it is published or held.

    A new comment meets this after the bot checks; an edited one meets it again. Under ``first-time`` a
    commenter is known by *another* approved comment: the approval of the very comment being edited
    was of words that are gone.
    """
    policy = current_app.config["COMMENT_MODERATION"]
    is_known = policy == ModerationPolicy.first_time and is_known_commenter(comment.commenter_key, besides=comment.id)
    return content_verdict(form, comment.body_html) or policy_verdict(policy, is_known)


def policy_verdict(policy: ModerationPolicy | str, is_known: bool) -> Verdict:
    """Decide under the moderation policy whether a comment is published at once or held for the owner, and why.

    Under ``first-time`` a commenter is known (``is_known``) once the owner has approved one of their
    comments; they are recognised by their signed commenter cookie, never by a name or email anyone can type.
    """
    if policy == ModerationPolicy.off:
        return Verdict(CommentStatus.approved)
    if policy == ModerationPolicy.first_time:
        if is_known:
            return Verdict(CommentStatus.approved)
        return Verdict(CommentStatus.pending, HELD_FIRST_TIME)
    return Verdict(CommentStatus.pending, HELD_ALWAYS)


def is_duplicate(post: Post, body: str, commenter_key: str | None, ip_hash: str, *, besides: int | None = None) -> bool:
    """Tell whether the same person posted the same text on this post in the last ten minutes.

    Texts are compared as a reader sees them (see :func:`comparable`), so a trailing full stop or another
    case does not make a repeat new. ``besides`` is a comment being edited, which does not repeat itself.
    Only the post's latest few comments are compared: a double-submitted form, the case this is for,
    arrives seconds after the first.
    """
    latest = rows_of(_latest_comments(), {"post_id": post.id, "since": now_utc() - DUPLICATE_WINDOW})
    text = comparable(body)
    return any(
        (ip == ip_hash or (commenter_key and key == commenter_key)) and comparable(earlier) == text
        for comment_id, earlier, key, ip in latest
        if comment_id != besides
    )  # whose comment it is first: comparing another's text would be wasted work


@lru_cache(maxsize=512)
def comparable(text: str) -> str:
    """Return ``text`` as compared for repeats: Unicode NFKC (full-width and ligatures as plain letters), case
    folded, whitespace runs as one space, and punctuation and symbols at either end dropped.

    Remembered for recent texts: each comment posted compares itself with its post's latest ones, the same
    texts the comment before it on that post did (512 of them: the latest of 25 busy posts at once)."""
    words = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(words)
    while start < end and _is_edge_mark(words[start]):
        start += 1
    while end > start and _is_edge_mark(words[end - 1]):
        end -= 1
    return words[start:end] or words  # "👍" and "?!" stay themselves


def _is_edge_mark(character: str) -> bool:
    return character.isspace() or unicodedata.category(character)[0] in "PSZC"


@cache
def _latest_comments() -> Select[tuple[int, str, str | None, str | None]]:
    """The post's latest comments since a time (built once: it runs for every comment posted)."""
    since = bindparam("since", type_=UTCDateTime())
    return (
        select(Comment.id, Comment.body, Comment.commenter_key, Comment.ip_hash)
        .where(Comment.post_id == bindparam("post_id"), Comment.created_at >= since)
        .order_by(Comment.created_at.desc())
        .limit(DUPLICATES_COMPARED)
    )
