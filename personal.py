"""The personal parts of a page every reader shares: the comment form filled in by "Remember me", and the "Edit"
and "Delete" of a commenter's own comment while it may still be changed.

A page is rendered once, for nobody, with *holes* where these go: markers ``@@<tag>:<hole>@@`` whose tag is
derived from the secret key, so no text anyone types can make one. The page cache (pageserver.py) stores a page
cut at its holes and fills them for each reader from their signed cookies, without Flask or the database; a page
Flask renders for one reader has its holes filled the same way as it leaves (pageserver.finish_page).
:meth:`HoledPage.filled_for` is the one rule for both; a page the cache fills with values alone is the same
thing in pieces (:meth:`HoledPage.gaps_for`), so that gzip can compress the pieces once (compression.py).

A hole is a value (``name``, ``email``, ``website``: the remembered details, escaped for an attribute;
``remembered``: the checkbox's ``checked``) or a section (``edit-<id>`` … ``end``: kept only for the browser
holding that comment's edit cookie).

A commenter's own comments awaiting moderation are not holes: the browser that wrote them holds a signed
``inkwell_held`` cookie naming their posts, and its pages of those posts are rendered for it alone.

This module reads the cookies; commenters.py sets them.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from functools import lru_cache
from html import escape

from itsdangerous import BadSignature
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeSerializer
from werkzeug.sansio.http import parse_cookie  # as Flask's request.cookies reads a header

COOKIE_PREFIX = "inkwell_"
COMMENTER_COOKIE = "inkwell_commenter"
DETAILS_COOKIE = "inkwell_details"
HELD_COOKIE = "inkwell_held"
EDIT_COOKIE_PREFIX = "inkwell_edit_"
# The cookies whose page is the shared one with holes filled in; any other ``inkwell_`` cookie (a session, a
# login) means a page rendered for that person alone.
PERSONAL_COOKIES = frozenset({COMMENTER_COOKIE, DETAILS_COOKIE, HELD_COOKIE})
REMEMBERED_FIELDS = ("name", "email", "website")
DETAILS_SALT = "inkwell-commenter-details"
HELD_SALT = "inkwell-held-comments"
EDIT_SALT = "inkwell-comment-edit"
HOLE_KIND = "hole:"  # how a stored page's list of cuts names a hole (its other cuts are form tokens)
EDIT_SECTION, END = "edit-", "end"


def hole_tag(secret_key: str) -> str:
    """The secret part of every hole's marker on this site.

    Keyed by the secret under a name of its own (``person``), so that no other keyed hash of the site (the address
    hash of a client whose proxy passed on any text as its address, say) can ever be the tag."""
    key = hashlib.sha256(secret_key.encode()).digest()
    return hashlib.blake2b(key=key, person=b"inkwell-holes", digest_size=8).hexdigest()


def hole_marker(tag: str, hole: str) -> str:
    """The text a page carries where ``hole`` goes; it passes HTML escaping unchanged."""
    return f"@@{tag}:{hole}@@"


def hole_pattern(tag: str) -> re.Pattern[bytes]:
    return re.compile(rb"@@" + tag.encode() + rb":([a-z0-9-]+)@@")


def is_personal_cookie(name: str) -> bool:
    return name in PERSONAL_COOKIES or name.startswith(EDIT_COOKIE_PREFIX)


@dataclass(frozen=True)
class Reader:
    """What one browser's signed cookies say about it: its remembered details and the comments it may change."""

    details: Mapping[str, str] = field(default_factory=dict)
    editable: frozenset[int] = frozenset()
    held_posts: frozenset[int] = frozenset()
    changes_at: float = math.inf  # when an edit cookie expires, and the reader with it

    @property
    def is_anonymous(self) -> bool:
        """Whether this reader's page is everyone's page (their cookies hold nothing shown on it)."""
        return not (self.details or self.editable or self.held_posts)

    def value(self, hole: str) -> bytes:
        """What the value hole ``hole`` shows this reader (nothing: ``b""``)."""
        return self._values.get(hole, b"")

    @cached_property
    def _values(self) -> dict[str, bytes]:
        values = {name: escape(value, quote=True).encode() for name, value in self.details.items()}
        return values | ({"remembered": b"checked"} if self.details else {})

    def keeps(self, section: str) -> bool:
        """Whether the section opened by ``section`` (``edit-<id>``) is shown to this reader."""
        return section.startswith(EDIT_SECTION) and int(section.removeprefix(EDIT_SECTION)) in self.editable

    @cached_property
    def fingerprint(self) -> str:
        """Stands for what this reader's holes show, for the ETag of their copy of a page."""
        shown = repr((sorted(self.details.items()), sorted(self.editable)))
        return hashlib.blake2b(shown.encode(), digest_size=8).hexdigest()


ANONYMOUS = Reader()


def reader_from(cookies: Mapping[str, str], secret_key: str, edit_seconds: float) -> Reader:
    """Read a browser's personal cookies; a forged, expired or foreign one counts as absent."""
    if not any(map(is_personal_cookie, cookies)):
        return ANONYMOUS
    editable = editable_comment_ids(cookies, secret_key, edit_seconds)
    return Reader(
        details=remembered_details(cookies, secret_key),
        editable=frozenset(editable),
        held_posts=frozenset(held_post_ids(cookies, secret_key)),
        changes_at=min(editable.values(), default=math.inf),
    )


class KnownReaders:
    """Readers already read from their ``Cookie`` header, kept by each worker: a returning commenter's
    signatures are checked once, not on every page (bounded; an entry lasts until an edit cookie in it expires).
    """

    def __init__(self, secret_key: str, limit: int = 10_000) -> None:
        self.secret_key = secret_key
        self.limit = limit
        self._known: dict[tuple[bytes, float], Reader | None] = {}

    def get(self, header: str, edit_seconds: float) -> Reader | None:
        """The reader of a request with this ``Cookie`` header, or ``None`` when it carries an ``inkwell_``
        cookie that is not a personal one (a session, a login): a page for that person alone."""
        if COOKIE_PREFIX not in header:
            return ANONYMOUS
        # Kept by a digest: a stranger's many large headers cost a worker a few bytes each, not their size.
        key = (hashlib.blake2b(header.encode("utf-8", "surrogatepass"), digest_size=16).digest(), edit_seconds)
        reader = self._known.get(key, ANONYMOUS)
        if reader is not None and (reader is ANONYMOUS or time.time() >= reader.changes_at):
            reader = self._read(header, edit_seconds)
            if len(self._known) >= self.limit:
                self._known.clear()
            if reader is not ANONYMOUS:  # read again each time anyway
                self._known[key] = reader
        return reader

    def _read(self, header: str, edit_seconds: float) -> Reader | None:
        cookies = personal_cookies(header)
        return None if cookies is None else reader_from(cookies, self.secret_key, edit_seconds)


def personal_cookies(header: str) -> dict[str, str] | None:
    """The ``inkwell_`` cookies of a ``Cookie`` header when each is a personal one, else ``None``.

    Read as Flask reads them, from the header's Latin-1 text: bytes that are not UTF-8 (a cookie another app on
    the host set) are not an error."""
    cookies = {name: value for name, value in parse_cookie(header).items() if name.startswith(COOKIE_PREFIX)}
    return cookies if all(map(is_personal_cookie, cookies)) else None


def remembered_details(cookies: Mapping[str, str], secret_key: str) -> dict[str, str]:
    """The name, email and website this browser asked to remember (never the comment text)."""
    try:
        details = URLSafeSerializer(secret_key, salt=DETAILS_SALT).loads(cookies.get(DETAILS_COOKIE, ""))
    except BadSignature:
        return {}
    if not isinstance(details, dict):
        return {}
    return {name: str(details[name]) for name in REMEMBERED_FIELDS if details.get(name)}


def held_post_ids(cookies: Mapping[str, str], secret_key: str) -> list[int]:
    """The posts on which this browser has a comment awaiting moderation (as far as it was last told), in the
    order it was told, the latest last."""
    try:
        posts = URLSafeSerializer(secret_key, salt=HELD_SALT).loads(cookies.get(HELD_COOKIE, ""))
    except BadSignature:
        return []
    return [post for post in posts if type(post) is int] if isinstance(posts, list) else []


@lru_cache(maxsize=8)
def edit_signer(secret_key: str) -> TimestampSigner:
    """The signer of edit cookies, made once for each secret key (a signer keeps nothing of what it signs)."""
    return TimestampSigner(secret_key, salt=EDIT_SALT)


def editable_comment_ids(cookies: Mapping[str, str], secret_key: str, edit_seconds: float) -> dict[int, float]:
    """The comments this browser holds a valid edit cookie for, signed less than ``edit_seconds`` ago, each with
    the time its window closes."""
    signer, editable = edit_signer(secret_key), {}
    for name, token in cookies.items():
        number = name.removeprefix(EDIT_COOKIE_PREFIX)
        if name.startswith(EDIT_COOKIE_PREFIX) and number.isdigit() and edit_seconds > 0:
            try:
                value, signed_at = signer.unsign(token, max_age=edit_seconds, return_timestamp=True)
            except BadSignature:
                continue
            if value.decode() == number:
                editable[int(number)] = signed_at.timestamp() + edit_seconds
    return editable


# A page cut at its holes: ``segments`` with, between each two, the ``kinds`` of the cuts.


def cut_at_holes(segments: list[bytes], kinds: list[str], tag: str) -> tuple[list[bytes], list[str]]:
    """Cut each segment of a page further at its holes (named ``hole:<hole>`` among ``kinds``)."""
    pattern = hole_pattern(tag)
    cut_segments, cut_kinds = [], []
    for index, segment in enumerate(segments):
        pieces = pattern.split(segment)  # text, hole, text, hole, …, text
        cut_segments += pieces[0::2]
        cut_kinds += [HOLE_KIND + hole.decode() for hole in pieces[1::2]]
        if index < len(kinds):
            cut_kinds.append(kinds[index])
    return cut_segments, cut_kinds


@dataclass(frozen=True)
class Hole:
    """Where a hole goes in the page shared by everyone (a cut page's segment ``segment``, at byte ``offset``),
    and, for a section, what it shows when kept: a cut page of its own (its delete button has a form token)."""

    name: str
    segment: int
    offset: int
    content: tuple[tuple[bytes, ...], tuple[str, ...]] = ((), ())


@dataclass(frozen=True)
class HoledPage:
    """A page as everyone gets it (``segments`` around the form tokens of ``kinds``), and its holes: the
    values anyone may have, and the sections by comment id. Filling it for a reader costs what their own
    holes cost, not the page's number of comments."""

    segments: list[bytes]
    kinds: list[str]
    values: tuple[Hole, ...] = ()
    sections: Mapping[int, Hole] = field(default_factory=dict)

    def filled_for(self, reader: Reader) -> tuple[list[bytes], list[str]]:
        """The page as ``reader`` gets it: still cut at its form tokens, for the page cache to fill."""
        chosen = [hole for hole in self.values if reader.value(hole.name)] if reader.details else []
        sections = [self.sections[number] for number in reader.editable if number in self.sections]
        if not (chosen or sections):
            return self.segments, self.kinds
        chosen += sections
        segments, kinds = [[]], []
        inserts = sorted(chosen, key=lambda hole: (hole.segment, hole.offset))
        at = 0
        for index, segment in enumerate(self.segments):
            start = 0
            while at < len(inserts) and inserts[at].segment == index:
                hole = inserts[at]
                segments[-1].append(segment[start : hole.offset])
                start = hole.offset
                if hole.content[0]:
                    inner, inner_kinds = hole.content
                    segments[-1].append(inner[0])
                    for kind, piece in zip(inner_kinds, inner[1:], strict=True):
                        kinds.append(kind)
                        segments.append([piece])
                else:
                    segments[-1].append(reader.value(hole.name))
                at += 1
            segments[-1].append(segment[start:])
            if index < len(self.kinds):
                kinds.append(self.kinds[index])
                segments.append([])
        return [b"".join(parts) for parts in segments], kinds

    def shows_values_to(self, reader: Reader) -> bool:
        """Whether any of the page's value holes shows ``reader`` something (their remembered details)."""
        return bool(reader.details) and any(reader.value(hole.name) for hole in self.values)

    @property
    def shared_pieces(self) -> list[bytes]:
        """The page everyone gets cut at its form tokens and at its value holes: what every copy without a
        section shares, with :meth:`gaps_for` between (gzip compresses these once: compression.splice_gzip)."""
        return self._cut_at_values[0]

    def gaps_for(self, reader: Reader, tokens: Mapping[str, bytes]) -> list[bytes]:
        """What goes between the :attr:`shared_pieces` for ``reader``: their values, and the form ``tokens``
        (by kind). Not their sections: a reader shown one gets :meth:`filled_for`."""
        return [reader.value(name) if is_value else tokens[name] for is_value, name in self._cut_at_values[1]]

    def join(self, gaps: list[bytes]) -> bytes:
        """The page from its :attr:`shared_pieces` with ``gaps`` between."""
        return interleaved(self.shared_pieces, gaps)

    @cached_property
    def _cut_at_values(self) -> tuple[list[bytes], list[tuple[bool, str]]]:
        """The shared pieces, and what goes between each two: ``(True, hole)`` a value, ``(False, kind)`` a token."""
        pieces: list[bytes] = []
        gaps: list[tuple[bool, str]] = []
        values = iter(self.values)  # in the page's order
        hole = next(values, None)
        for index, segment in enumerate(self.segments):
            start = 0
            while hole is not None and hole.segment == index:
                pieces.append(segment[start : hole.offset])
                gaps.append((True, hole.name))
                start = hole.offset
                hole = next(values, None)
            pieces.append(segment[start:])
            if index < len(self.kinds):
                gaps.append((False, self.kinds[index]))
        return pieces, gaps


def interleaved(pieces: Sequence[bytes], gaps: Iterable[bytes]) -> bytes:
    """``pieces`` put together with one of ``gaps`` between each two (a page cut at its holes or tokens, filled)."""
    parts = [pieces[0]]
    for gap, piece in zip(gaps, pieces[1:], strict=True):
        parts += (gap, piece)
    return b"".join(parts)


def holed_page(segments: list[bytes], kinds: list[str]) -> HoledPage:
    """Turn a page cut at its tokens and holes (``hole:<name>`` among ``kinds``) into the page everyone gets
    and where each hole goes in it."""
    shared: list[list[bytes]] = [[segments[0]]]
    shared_kinds: list[str] = []
    values: list[Hole] = []
    sections: dict[int, Hole] = {}
    section: tuple[str, list[bytes], list[str]] | None = None
    offset = len(segments[0])
    for kind, segment in zip(kinds, segments[1:], strict=True):
        hole = kind.removeprefix(HOLE_KIND) if kind.startswith(HOLE_KIND) else None
        if section is not None:
            name, inner, inner_kinds = section
            if hole == END:
                number = int(name.removeprefix(EDIT_SECTION))
                place = len(shared) - 1, offset
                sections[number] = Hole(name, *place, content=(tuple(inner), tuple(inner_kinds)))
                section = None
            else:
                inner_kinds.append(kind)
                inner.append(segment)
                continue
        elif hole is not None and hole.startswith(EDIT_SECTION):
            section = (hole, [segment], [])
            continue
        elif hole is not None:
            values.append(Hole(hole, len(shared) - 1, offset))
        else:
            shared_kinds.append(kind)
            shared.append([])
            offset = 0
        shared[-1].append(segment)
        offset += len(segment)
    return HoledPage([b"".join(parts) for parts in shared], shared_kinds, tuple(values), sections)


def fill_page(body: bytes, tag: str, reader: Reader) -> bytes:
    """Fill every hole of a page rendered whole (not cut for the cache) for ``reader``."""
    if f"@@{tag}:".encode() not in body:
        return body
    if not (reader.details or reader.editable):
        return emptied_page(body, tag)
    page = holed_page(*cut_at_holes([body], [], tag))
    return b"".join(page.filled_for(reader)[0])


def emptied_page(body: bytes, tag: str) -> bytes:
    """The page as a reader with nothing of theirs gets it: every hole empty, every edit section gone (to its end,
    or the page's), as :func:`holed_page` reads them, in a third of the time."""
    pieces = hole_pattern(tag).split(body)  # text, hole, text, hole, …, text
    kept = [pieces[0]]
    in_section = False
    for hole, text in zip(pieces[1::2], pieces[2::2], strict=True):
        in_section = hole != END.encode() if in_section else hole.startswith(EDIT_SECTION.encode())
        if not in_section:
            kept.append(text)
    return b"".join(kept)
