"""Turn Markdown (or imported HTML) into safe HTML: the one place that decides what markup reaches a page.

Every string a person typed that is shown as HTML goes through a function here. Markdown is rendered by
markdown-it-py, a CommonMark parser built and tested to take time linear in its input whatever that input
is; then ``bleach`` keeps only an explicit allow-list, so whatever the Markdown parser lets through, the
output is safe. Post authors are trusted no more than commenters: their raw HTML goes through the same
kind of allow-list, only a longer one; so do posts and comments imported as HTML. Only this module and
sanitizer.py (bleach made strict and linear, which these allow-lists run on) import ``bleach``; only this one
``markdown_it`` or ``markdownify`` (which turns an HTML post into Markdown for its owner).

Work stays linear whatever the input: nesting deeper than a page can show is shown flat (Markdown past
``MAX_BLOCK_LEVEL``, HTML past sanitizer.py's ``MAX_HTML_DEPTH``) instead of being parsed ever deeper, and the
linkifier starts a match only where a link can start.

Fenced code in posts that names a language is highlighted as it is rendered (highlighting.py: Pygments'
short class names on spans, never a ``style`` attribute, which the CSP forbids); the allow-list lets
``class`` on ``span`` through only when it is one of those names. Comments are never highlighted.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from functools import partial
from urllib.parse import urlsplit

from bleach.linkifier import URL_RE
from bleach.linkifier import LinkifyFilter
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markupsafe import Markup
from markupsafe import escape
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

from highlighting import HIGHLIGHT_CLASSES
from highlighting import highlight_code
from highlighting import highlighting_budget
from sanitizer import KeepLeadingNewlineInPre
from sanitizer import Sanitizer
from sanitizer import per_thread_sanitizer

SAFE_PROTOCOLS = {"http", "https", "mailto"}
WEB_ADDRESS_SCHEMES = {"http", "https"}

COMMENT_TAGS = {"p", "br", "em", "strong", "code", "pre", "a", "blockquote", "ul", "ol", "li"}
COMMENT_ATTRIBUTES = {"a": ["href", "title", "rel"], "pre": ["tabindex"]}
COMMENT_LINK_REL = "nofollow ugc noopener"
SANITIZED_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')  # a tag as the sanitizer writes it: values in double quotes

POST_TAGS = COMMENT_TAGS | {
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "del", "s", "sub", "sup", "abbr",
    "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "span",
}  # fmt: skip
POST_ATTRIBUTES = {
    "a": ["href", "title", "id"],
    "li": ["id"],
    "img": ["src", "alt", "title", "width", "height"],
    "abbr": ["title"],
    "code": ["class"],
    "pre": ["tabindex"],
    "span": ["class"],
    "th": ["align"],
    "td": ["align"],
}

MAX_BLOCK_LEVEL = 16  # Markdown containers (quotes, lists, footnotes) past this are shown as flat text
MAX_NESTING = 20  # markdown-it's own (CommonMark preset); above MAX_BLOCK_LEVEL, so it drops nothing
ALIGNMENTS = {"text-align:left": "left", "text-align:center": "center", "text-align:right": "right"}
CODE_LANGUAGE = re.compile(r"language-[\w+#.-]{1,40}")


# Markdown


def _flat_past_max_level(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Show Markdown nested past ``MAX_BLOCK_LEVEL`` as a paragraph of its plain text.

    markdown-it drops whatever lies past its nesting limit, and without one every level of ``- - - …`` or
    ``> > > …`` is one more recursion until Python's limit: this rule, tried first, keeps the text instead.
    """
    if state.level < MAX_BLOCK_LEVEL:
        return False
    line = start + 1
    while line < end and not state.isEmpty(line) and state.sCount[line] >= state.blkIndent:
        line += 1
    if not silent:
        state.push("paragraph_open", "p", 1).map = [start, line]
        inline = state.push("inline", "", 0)
        inline.content = state.getLines(start, line, state.blkIndent, False).strip()
        inline.map, inline.children = [start, line], []
        state.push("paragraph_close", "p", -1)
    state.line = line
    return True


def _align_cells_with_attribute(state: StateCore) -> None:
    """Say a table column's alignment with ``align``: no ``style`` attribute ever reaches a page."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and "style" in token.attrs:
            alignment = ALIGNMENTS.get(str(token.attrs.pop("style")))
            if alignment:
                token.attrs["align"] = alignment


def _is_allowed_link(address: str) -> bool:
    """Tell whether a Markdown link or image address is relative or uses a safe scheme.

    markdown-it encodes what it escapes, so ``jav&#x09;ascript:`` arrives as ``jav%09ascript:``: a
    harmless relative address to a browser, but not what the writer meant, so it stays text.
    """
    first_part = re.split(r"[/?#]", address, maxsplit=1)[0]
    return ":" not in first_part or first_part.split(":", 1)[0].lower() in SAFE_PROTOCOLS


def _focusable(render: Callable[..., str]) -> Callable[..., str]:
    """Make a code block reachable from the keyboard (``tabindex="0"``), so a line too long for a phone's
    screen can be scrolled without a mouse (axe's "scrollable-region-focusable")."""

    def render_focusable(self: object, tokens: list, index: int, options: dict, env: dict) -> str:
        html = render(tokens, index, options, env)
        return '<pre tabindex="0">' + html.removeprefix("<pre>") if html.startswith("<pre>") else html

    return render_focusable


def _markdown(*, allows_html: bool) -> MarkdownIt:
    """Return a CommonMark parser whose deepest nesting is shown flat, whose links are safe and whose code
    blocks can be scrolled with the keyboard."""
    parser = MarkdownIt("commonmark", {"html": allows_html, "maxNesting": MAX_NESTING})
    for rule in ("fence", "code_block"):
        parser.add_render_rule(rule, _focusable(parser.renderer.rules[rule]))
    parser.validateLink = _is_allowed_link
    parser.block.ruler.before(parser.block.ruler.get_all_rules()[0], "flat_past_max_level", _flat_past_max_level)
    return parser


def _post_markdown() -> MarkdownIt:
    """Full Markdown for posts: raw HTML (cleaned later), tables, strikethrough, footnotes, definition lists,
    and fenced code highlighted."""
    parser = _markdown(allows_html=True)
    parser.options["highlight"] = highlight_code
    parser = parser.enable(["table", "strikethrough"]).use(footnote_plugin).use(deflist_plugin)
    parser.core.ruler.push("align_cells_with_attribute", _align_cells_with_attribute)
    return parser


def _comment_markdown() -> MarkdownIt:
    """A small Markdown subset for comments: no headings, rules, images or raw HTML.

    Raw HTML is not parsed at all, so someone writing "<b>" about HTML sees "<b>", not bold text or nothing.
    """
    return _markdown(allows_html=False).disable(["heading", "lheading", "hr", "image", "html_block", "html_inline"])


POST_MARKDOWN = _post_markdown()  # parsers keep no state between renders, so threads can share them
COMMENT_MARKDOWN = _comment_markdown()


# Sanitizing (the machinery: sanitizer.py)


def _mark_user_link(attrs: dict, new: bool = False) -> dict:
    """Tell search engines and browsers that a comment link is the commenter's, not the blog's."""
    attrs[(None, "rel")] = COMMENT_LINK_REL
    return attrs


# bleach's address pattern, but started only at the first "(" of a run and at the start of a word: bleach's
# own tries again from every character of a long run of "(" or "a-a-a-…", which costs time quadratic in it.
LINKABLE_ADDRESS = re.compile(
    URL_RE.pattern.replace(r"\(*", r"(?:(?<!\()\(+)?(?<![\w-])", 1), re.IGNORECASE | re.VERBOSE | re.UNICODE
)


def _is_allowed_in_comment(tag: str, name: str, value: str) -> bool:
    """The comment allow-list, where a code block's ``tabindex`` may only be "0" (in the page's order)."""
    return name in COMMENT_ATTRIBUTES.get(tag, []) and (name != "tabindex" or value == "0")


def _comment_sanitizer() -> Sanitizer:
    """The comment allow-list, with bare addresses linked and every link marked as the commenter's."""
    linkify = partial(
        LinkifyFilter,
        callbacks=[_mark_user_link],
        skip_tags={"pre", "code"},
        parse_email=False,
        url_re=LINKABLE_ADDRESS,
    )
    return Sanitizer(
        tags=COMMENT_TAGS,
        attributes=dict.fromkeys(COMMENT_ATTRIBUTES, _is_allowed_in_comment),
        protocols=SAFE_PROTOCOLS,
        filters=[linkify, KeepLeadingNewlineInPre],
    )


def _post_sanitizer(footnote_ids: re.Pattern[str]) -> Sanitizer:
    """Return the post allow-list, where an ``id`` must be one of this post's footnotes.

    ``id`` and ``class`` could restyle or clobber other parts of the page, so only the values Inkwell writes
    itself pass: a footnote's, whose random-looking part is a digest of the whole text (so no text can hold
    its own), ``language-…`` on code, and one of Pygments' short class names on a span.
    """

    def is_allowed(tag: str, name: str, value: str) -> bool:
        if name not in POST_ATTRIBUTES.get(tag, []):
            return False
        if name == "id":
            return footnote_ids.fullmatch(value) is not None
        if name == "tabindex":
            return value == "0"
        if name == "class" and tag == "span":
            return value in HIGHLIGHT_CLASSES
        if name == "class":
            return CODE_LANGUAGE.fullmatch(value) is not None
        return True

    return Sanitizer(
        tags=POST_TAGS,
        attributes=dict.fromkeys(POST_ATTRIBUTES, is_allowed),
        protocols=SAFE_PROTOCOLS,
        filters=[KeepLeadingNewlineInPre],
    )


def render_post(source: str) -> str:
    """Render an author's full Markdown (headings, tables, fenced code, footnotes, images) to safe HTML."""
    document = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    with highlighting_budget():
        rendered = POST_MARKDOWN.render(source, {"docId": document})
    return _post_sanitizer(re.compile(rf"fn(?:ref)?-{document}-\d+(?::\d+)?")).clean(rendered.rstrip("\n"))


@lru_cache(maxsize=256)
def render_comment(source: str) -> str:
    """Render a reader's comment (a small Markdown subset) to safe HTML with bare URLs linked.

    Every link, typed or linkified, gets ``rel="nofollow ugc noopener"``. Remembered for recent texts: the
    form's check and the stored comment render the same text.
    """
    sanitizer = per_thread_sanitizer("comment", _comment_sanitizer)
    return sanitizer.clean(COMMENT_MARKDOWN.render(source).rstrip("\n"))


def _html_post_sanitizer() -> Sanitizer:
    """The post allow-list for HTML written elsewhere: no ``id`` passes, since no footnote of Inkwell's is in it."""
    return _post_sanitizer(re.compile(r"(?!)"))


def render_post_html(source: str) -> str:
    """Clean a post written in HTML (an imported one) with the post allow-list, as Markdown posts' HTML is.

    Comments (WordPress's ``<!-- wp:paragraph -->`` block marks among them) go, and so do ``<script>`` and
    ``<style>`` with what is inside them.
    """
    return per_thread_sanitizer("post_html", _html_post_sanitizer).clean(source.strip())


@lru_cache(maxsize=256)
def render_comment_html(source: str) -> str:
    """Clean a comment written in HTML (an imported one) with the comment allow-list, links marked as a
    reader's (``rel="nofollow ugc noopener"``) and bare addresses linked, as in a rendered comment."""
    return per_thread_sanitizer("comment", _comment_sanitizer).clean(source.strip())


def markdown_from_html(source: str) -> str:
    """Return Markdown that shows as the post written in HTML ``source`` does, for an owner who converts it.

    What converts is the cleaned HTML, what readers saw; every sign Markdown would read (``*``, ``_``,
    backticks…) is escaped, so that the text says what it said.
    """
    from markdownify import MarkdownConverter  # here: it brings BeautifulSoup, which no worker needs to start

    converter = MarkdownConverter(heading_style="ATX", bullets="-", escape_misc=True, newline_style="BACKSLASH")
    return converter.convert(render_post_html(source)).strip()


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
    text = html.unescape(per_thread_sanitizer("text", partial(Sanitizer, tags=set())).clean(rendered_html))
    return re.sub(r"\s+", " ", text).strip()


def text_of_rendered_comment(rendered_html: str) -> str:
    """Return what :func:`plain_text` does, for HTML that :func:`render_comment` made, without parsing it again.

    The sanitizer wrote that HTML: every ``<`` and ``>`` of the text and of attribute values is escaped, so
    taking out what lies between ``<`` and ``>`` leaves exactly the text (the comment form checks every comment
    posted for visible text: a second parse was a tenth of its cost).
    """
    return re.sub(r"\s+", " ", html.unescape(SANITIZED_TAG.sub("", rendered_html))).strip()


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
