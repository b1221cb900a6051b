"""Turn Markdown into safe HTML: the one place that decides what markup reaches a page.

Every string a person typed that is shown as HTML goes through a function here. Markdown is rendered
first, then ``bleach`` keeps only an explicit allow-list, so whatever the Markdown library lets through,
the output is safe. This is the only module that imports ``bleach`` or ``markdown``.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from functools import partial
from urllib.parse import urlsplit

import bleach
import markdown
from bleach.html5lib_shim import Filter
from bleach.linkifier import LinkifyFilter
from markupsafe import Markup
from markupsafe import escape

SAFE_PROTOCOLS = {"http", "https", "mailto"}
WEB_ADDRESS_SCHEMES = {"http", "https"}

COMMENT_TAGS = {"p", "br", "em", "strong", "code", "pre", "a", "blockquote", "ul", "ol", "li"}
COMMENT_ATTRIBUTES = {"a": ["href", "title", "rel"]}
COMMENT_LINK_REL = "nofollow ugc noopener"

POST_TAGS = COMMENT_TAGS | {
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "del", "sub", "sup", "abbr",
    "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd",
}  # fmt: skip
POST_ATTRIBUTES = {
    "a": ["href", "title"],
    "img": ["src", "alt", "title", "width", "height"],
    "abbr": ["title"],
    "code": ["class"],
    "th": ["align"],
    "td": ["align"],
}

# Comments are a small subset of Markdown: no headings, rules, images or raw HTML. Raw HTML is not
# parsed at all, so someone writing "<b>" about HTML sees "<b>", not bold text or nothing.
COMMENT_DISABLED_BLOCKS = ["hashheader", "setextheader", "hr"]
COMMENT_DISABLED_INLINES = ["html", "image_link", "image_reference", "short_image_ref"]
POST_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]

_local = threading.local()


def _post_markdown() -> markdown.Markdown:
    """Return this thread's Markdown converter for posts (converters are not thread-safe)."""
    if not hasattr(_local, "post"):
        _local.post = markdown.Markdown(extensions=POST_EXTENSIONS)
    return _local.post.reset()


def _comment_markdown() -> markdown.Markdown:
    """Return this thread's Markdown converter for comments, with the unsafe syntax removed."""
    if not hasattr(_local, "comment"):
        converter = markdown.Markdown(extensions=["sane_lists"])
        converter.preprocessors.deregister("html_block")
        for name in COMMENT_DISABLED_BLOCKS:
            converter.parser.blockprocessors.deregister(name)
        for name in COMMENT_DISABLED_INLINES:
            converter.inlinePatterns.deregister(name)
        _local.comment = converter
    return _local.comment.reset()


def _mark_user_link(attrs: dict, new: bool = False) -> dict:
    """Tell search engines and browsers that a comment link is the commenter's, not the blog's."""
    attrs[(None, "rel")] = COMMENT_LINK_REL
    return attrs


class KeepLeadingNewlineInPre(Filter):
    """Write a ``<pre>`` whose text starts with a newline as the HTML standard does, with one more newline.

    Browsers drop a newline right after ``<pre>``; html5lib's serializer does not add it back, so without
    this a leading blank line would be lost, and cleaning the output again would change it.
    """

    def __iter__(self) -> Iterator[dict]:
        after_pre = False
        for token in super().__iter__():
            if after_pre and token["type"] in ("Characters", "SpaceCharacters") and token["data"].startswith("\n"):
                token = {**token, "data": "\n" + token["data"]}
            after_pre = token["type"] == "StartTag" and token["name"] == "pre"
            yield token


_post_cleaner = bleach.Cleaner(
    tags=POST_TAGS,
    attributes=POST_ATTRIBUTES,
    protocols=SAFE_PROTOCOLS,
    strip=True,
    filters=[KeepLeadingNewlineInPre],
)
_comment_cleaner = bleach.Cleaner(
    tags=COMMENT_TAGS,
    attributes=COMMENT_ATTRIBUTES,
    protocols=SAFE_PROTOCOLS,
    strip=True,
    filters=[
        partial(LinkifyFilter, callbacks=[_mark_user_link], skip_tags={"pre", "code"}, parse_email=False),
        KeepLeadingNewlineInPre,
    ],
)
_text_only_cleaner = bleach.Cleaner(tags=set(), strip=True)


def render_post(source: str) -> str:
    """Render the owner's full Markdown (headings, tables, fenced code, images) to safe HTML."""
    return _post_cleaner.clean(_post_markdown().convert(source))


@lru_cache(maxsize=256)
def render_comment(source: str) -> str:
    """Render a reader's comment (a small Markdown subset) to safe HTML with bare URLs linked.

    Every link, typed or linkified, gets ``rel="nofollow ugc noopener"``. Remembered for recent texts: the
    form's check and the stored comment render the same text.
    """
    return _comment_cleaner.clean(_comment_markdown().convert(source))


def is_web_address(url: str) -> bool:
    """Tell whether ``url`` is an absolute http(s) address, the only kind a commenter's website may link to.

    The one rule for the comment form, imports and pages: ``javascript:``, ``data:``, ``vbscript:`` and
    every other scheme are refused, and so is any space or control character, which browsers drop or read
    otherwise than Python does (``java\tscript:``).
    """
    if not url or any(char.isspace() or unicodedata.category(char) == "Cc" for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed IPv6 bracket
        return False
    return parts.scheme.lower() in WEB_ADDRESS_SCHEMES and bool(parts.hostname)


def plain_text(rendered_html: str) -> str:
    """Return the readable text of rendered HTML, whitespace collapsed, for excerpts and summaries."""
    text = html.unescape(_text_only_cleaner.clean(rendered_html))
    return re.sub(r"\s+", " ", text).strip()


def excerpt_of(rendered_html: str, length: int = 280) -> str:
    """Return the first ``length`` characters of the text, cut at a word and ending in an ellipsis."""
    text = plain_text(rendered_html)
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0].rstrip(".,;:!?-—") + "…"


def highlight(text: str, words: list[str]) -> Markup:
    """Escape ``text`` and mark each occurrence of ``words`` (any case) with ``<mark>``.

    Pieces are escaped one by one, so a searched word can never match inside an entity or a tag.
    """
    if not words:
        return escape(text)
    pattern = re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    pieces, last = [], 0
    for match in pattern.finditer(text):
        pieces += [escape(text[last : match.start()]), Markup("<mark>%s</mark>") % match.group()]
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def excerpt_around(text: str, words: list[str], length: int = 240) -> str:
    """Return about ``length`` characters of ``text`` around the first of ``words`` found, cut at words."""
    positions = [found for word in words if (found := text.casefold().find(word)) >= 0]
    start = max(0, min(positions, default=0) - length // 3)
    if start:
        start = text.find(" ", start) + 1 or start
    piece = text[start : start + length]
    if start + length < len(text):
        piece = piece.rsplit(" ", 1)[0] + "…"
    return ("…" if start else "") + piece
