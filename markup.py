"""Turn Markdown (or imported HTML) into safe HTML: the one place that decides what markup reaches a page.

Every string a person typed that is shown as HTML goes through a function here. Markdown is rendered by
markdown-it-py, a CommonMark parser built and tested to take time linear in its input whatever that input
is; then ``bleach`` keeps only an explicit allow-list, so whatever the Markdown parser lets through, the
output is safe. Post authors are trusted no more than commenters: their raw HTML goes through the same
kind of allow-list, only a longer one; so do posts and comments imported as HTML. This is the only module that
imports ``bleach``, ``markdown_it`` or ``markdownify`` (which turns an HTML post into Markdown for its owner).

Work stays linear whatever the input: nesting deeper than a page can show is shown flat (Markdown past
``MAX_BLOCK_LEVEL``, HTML past ``MAX_HTML_DEPTH``) instead of being parsed ever deeper, and the linkifier
starts a match only where a link can start.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
import unicodedata
from collections.abc import Callable
from collections.abc import Iterator
from functools import lru_cache
from functools import partial
from urllib.parse import urlsplit

import bleach
from bleach import html5lib_shim
from bleach.html5lib_shim import Filter
from bleach.linkifier import URL_RE
from bleach.linkifier import LinkifyFilter
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdownify import MarkdownConverter
from markupsafe import Markup
from markupsafe import escape
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

SAFE_PROTOCOLS = {"http", "https", "mailto"}
WEB_ADDRESS_SCHEMES = {"http", "https"}

COMMENT_TAGS = {"p", "br", "em", "strong", "code", "pre", "a", "blockquote", "ul", "ol", "li"}
COMMENT_ATTRIBUTES = {"a": ["href", "title", "rel"]}
COMMENT_LINK_REL = "nofollow ugc noopener"

POST_TAGS = COMMENT_TAGS | {
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "del", "s", "sub", "sup", "abbr",
    "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd",
}  # fmt: skip
POST_ATTRIBUTES = {
    "a": ["href", "title", "id"],
    "li": ["id"],
    "img": ["src", "alt", "title", "width", "height"],
    "abbr": ["title"],
    "code": ["class"],
    "th": ["align"],
    "td": ["align"],
}

# Elements whose content a reader never sees as text. They are dropped whole, content included: removing
# only the tags of "<script>alert(1)</script>" or "<style>…</style>" would show the code as words.
DROPPED_WITH_CONTENT = {
    "script", "style", "noscript", "noembed", "noframes", "template", "iframe", "frame", "frameset", "object",
    "applet", "textarea", "xmp", "title", "select", "svg", "math", "head",
}  # fmt: skip
# Of those, the ones the HTML parser reads as plain text up to their end tag: they never hold elements.
RAW_TEXT_ELEMENTS = {"script", "style", "noscript", "noembed", "noframes", "iframe", "textarea", "xmp", "title"}
# Elements that never hold others: raw text and void elements. They add nothing to the depth of nesting.
NEVER_HOLD_ELEMENTS = RAW_TEXT_ELEMENTS | {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
}  # fmt: skip

MAX_BLOCK_LEVEL = 16  # Markdown containers (quotes, lists, footnotes) past this are shown as flat text
MAX_NESTING = 20  # markdown-it's own (CommonMark preset); above MAX_BLOCK_LEVEL, so it drops nothing
MAX_HTML_DEPTH = 64  # open HTML elements; a start tag past this is stripped like a disallowed one
MAX_FORMATTING = 8  # unclosed <em>, <a>, <code>…, which the parser reopens in every later paragraph
FORMATTING_ELEMENTS = {
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
}  # fmt: skip
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


def _markdown(*, allows_html: bool) -> MarkdownIt:
    """Return a CommonMark parser whose deepest nesting is shown flat and whose links are safe."""
    parser = MarkdownIt("commonmark", {"html": allows_html, "maxNesting": MAX_NESTING})
    parser.validateLink = _is_allowed_link
    parser.block.ruler.before(parser.block.ruler.get_all_rules()[0], "flat_past_max_level", _flat_past_max_level)
    return parser


def _post_markdown() -> MarkdownIt:
    """Full Markdown for posts: raw HTML (cleaned later), tables, strikethrough, footnotes, definition lists."""
    parser = _markdown(allows_html=True).enable(["table", "strikethrough"]).use(footnote_plugin).use(deflist_plugin)
    parser.core.ruler.push("align_cells_with_attribute", _align_cells_with_attribute)
    return parser


def _comment_markdown() -> MarkdownIt:
    """A small Markdown subset for comments: no headings, rules, images or raw HTML.

    Raw HTML is not parsed at all, so someone writing "<b>" about HTML sees "<b>", not bold text or nothing.
    """
    return _markdown(allows_html=False).disable(["heading", "lheading", "hr", "image", "html_block", "html_inline"])


POST_MARKDOWN = _post_markdown()  # parsers keep no state between renders, so threads can share them
COMMENT_MARKDOWN = _comment_markdown()


# Sanitizing


class _Tokenizer(html5lib_shim.BleachHTMLTokenizer):
    """bleach's tokenizer, which also strips a start tag, as it strips a disallowed one, once ``MAX_HTML_DEPTH``
    elements or ``MAX_FORMATTING`` formatting elements are open, and leaves out what is inside a ``<template>``.

    html5lib looks through the open elements for almost every tag it reads, and reopens every unclosed
    formatting element in each new paragraph, so ``<blockquote>`` or ``<em a=1><em a=2>…`` repeated would
    cost time quadratic in their number; past the limits they are shown flat, their text kept. html5lib does
    not know ``<template>`` (whose content a browser never shows) and would show its content.
    """

    def __iter__(self) -> Iterator[dict]:
        templates = 0
        for token in super().__iter__():
            if token["type"] in html5lib_shim.TAG_TOKEN_TYPES and token["name"] == "template":
                is_start = token["type"] == html5lib_shim.TAG_TOKEN_TYPE_START
                templates = templates + 1 if is_start else max(0, templates - 1)
            elif not templates:
                yield token

    def emitCurrentToken(self) -> None:
        token, tree = self.currentToken, self.parser.tree
        name = token.get("name", "").lower()
        if token["type"] == html5lib_shim.TAG_TOKEN_TYPE_START and (
            (name not in NEVER_HOLD_ELEMENTS and len(tree.openElements) >= MAX_HTML_DEPTH)
            or (name in FORMATTING_ELEMENTS and len(tree.activeFormattingElements) >= MAX_FORMATTING)
        ):
            self.currentToken = self.emitted_last_token = {"type": html5lib_shim.TAG_TOKEN_TYPE_CHARACTERS, "data": ""}
            self.tokenQueue.append(self.currentToken)
            self.state = self.dataState
            return
        super().emitCurrentToken()


class _Parser(html5lib_shim.BleachHTMLParser):
    """bleach's HTML parser with ``_Tokenizer``."""

    def _parse(self, stream, innerHTML=False, container="div", scripting=True, **kwargs) -> None:  # noqa: ANN001
        self.innerHTMLMode = innerHTML
        self.container = container
        self.scripting = scripting  # as bleach: <noscript> is read as a browser with scripts on reads it
        self.tokenizer = _Tokenizer(stream=stream, consume_entities=self.consume_entities, parser=self, **kwargs)
        self.reset()
        try:
            self.mainLoop()
        except html5lib_shim.ReparseException:
            self.reset()
            self.mainLoop()


class _Walker(html5lib_shim.getTreeWalker("etree")):
    """html5lib's walker for its element trees, without the search through all an element's siblings that it
    makes each time it climbs back from a child, which made a paragraph of thousands of links (or a text of
    thousands of paragraphs) cost time quadratic in their number. Each parent's children are indexed once.
    """

    def __init__(self, tree: object) -> None:
        super().__init__(tree)
        self._positions: dict[int, dict[int, int]] = {}

    def getParentNode(self, node: object) -> object:  # noqa: N802 (html5lib's name)
        if not isinstance(node, tuple):
            return None
        element, key, parents, flag = node
        if flag == "text":
            return (element, key, parents, None) if parents else element
        parent = parents.pop()
        if not parents:
            return parent
        siblings = parents[-1]
        positions = self._positions.get(id(siblings))
        if positions is None:
            positions = self._positions[id(siblings)] = {id(child): n for n, child in enumerate(siblings)}
        return parent, positions[id(parent)], parents, None


class _DropWithContent(Filter):
    """Leave out every element of ``DROPPED_WITH_CONTENT`` together with everything inside it."""

    def __iter__(self) -> Iterator[dict]:
        inside = 0
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EndTag", "EmptyTag") and token["name"] in DROPPED_WITH_CONTENT:
                inside += {"StartTag": 1, "EndTag": -1}.get(token["type"], 0)
            elif not inside:
                yield token


class Sanitizer(bleach.Cleaner):
    """bleach's Cleaner (disallowed tags stripped, text kept), except that ``DROPPED_WITH_CONTENT`` elements go
    with their content and that nesting past ``MAX_HTML_DEPTH`` is shown flat (see ``_Tokenizer``).

    The parser reads those elements as a browser does (``<script>`` and ``<style>`` hold text, not tags),
    and the walker leaves them out before bleach's own filter sees the rest.
    """

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(strip=True, protocols=SAFE_PROTOCOLS, **kwargs)
        self.parser = _Parser(
            tags=self.tags | DROPPED_WITH_CONTENT, strip=True, consume_entities=False, namespaceHTMLElements=False
        )
        self.walker = lambda tree: _DropWithContent(_Walker(tree))


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


# bleach's address pattern, but started only at the first "(" of a run and at the start of a word: bleach's
# own tries again from every character of a long run of "(" or "a-a-a-…", which costs time quadratic in it.
LINKABLE_ADDRESS = re.compile(
    URL_RE.pattern.replace(r"\(*", r"(?:(?<!\()\(+)?(?<![\w-])", 1), re.IGNORECASE | re.VERBOSE | re.UNICODE
)

_per_thread = threading.local()


def _per_thread_sanitizer(name: str, build: Callable[[], Sanitizer]) -> Sanitizer:
    """Return this thread's sanitizer called ``name``: bleach's cleaners keep parsing state, so threads
    (the development server's, or a threaded worker's) cannot share one."""
    sanitizer = getattr(_per_thread, name, None)
    if sanitizer is None:
        sanitizer = build()
        setattr(_per_thread, name, sanitizer)
    return sanitizer


def _comment_sanitizer() -> Sanitizer:
    """The comment allow-list, with bare addresses linked and every link marked as the commenter's."""
    linkify = partial(
        LinkifyFilter,
        callbacks=[_mark_user_link],
        skip_tags={"pre", "code"},
        parse_email=False,
        url_re=LINKABLE_ADDRESS,
    )
    return Sanitizer(tags=COMMENT_TAGS, attributes=COMMENT_ATTRIBUTES, filters=[linkify, KeepLeadingNewlineInPre])


def _post_sanitizer(footnote_ids: re.Pattern[str]) -> Sanitizer:
    """Return the post allow-list, where an ``id`` must be one of this post's footnotes.

    ``id`` and ``class`` could restyle or clobber other parts of the page, so only the values Inkwell writes
    itself pass: a footnote's, whose random-looking part is a digest of the whole text (so no text can hold
    its own), and ``language-…`` on code.
    """

    def is_allowed(tag: str, name: str, value: str) -> bool:
        if name not in POST_ATTRIBUTES.get(tag, []):
            return False
        if name == "id":
            return footnote_ids.fullmatch(value) is not None
        if name == "class":
            return CODE_LANGUAGE.fullmatch(value) is not None
        return True

    return Sanitizer(
        tags=POST_TAGS, attributes=dict.fromkeys(POST_ATTRIBUTES, is_allowed), filters=[KeepLeadingNewlineInPre]
    )


def render_post(source: str) -> str:
    """Render an author's full Markdown (headings, tables, fenced code, footnotes, images) to safe HTML."""
    document = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    rendered = POST_MARKDOWN.render(source, {"docId": document})
    return _post_sanitizer(re.compile(rf"fn(?:ref)?-{document}-\d+(?::\d+)?")).clean(rendered.rstrip("\n"))


@lru_cache(maxsize=256)
def render_comment(source: str) -> str:
    """Render a reader's comment (a small Markdown subset) to safe HTML with bare URLs linked.

    Every link, typed or linkified, gets ``rel="nofollow ugc noopener"``. Remembered for recent texts: the
    form's check and the stored comment render the same text.
    """
    sanitizer = _per_thread_sanitizer("comment", _comment_sanitizer)
    return sanitizer.clean(COMMENT_MARKDOWN.render(source).rstrip("\n"))


def _html_post_sanitizer() -> Sanitizer:
    """The post allow-list for HTML written elsewhere: no ``id`` passes, since no footnote of Inkwell's is in it."""
    return _post_sanitizer(re.compile(r"(?!)"))


def render_post_html(source: str) -> str:
    """Clean a post written in HTML (an imported one) with the post allow-list, as Markdown posts' HTML is.

    Comments (WordPress's ``<!-- wp:paragraph -->`` block marks among them) go, and so do ``<script>`` and
    ``<style>`` with what is inside them.
    """
    return _per_thread_sanitizer("post_html", _html_post_sanitizer).clean(source.strip())


@lru_cache(maxsize=256)
def render_comment_html(source: str) -> str:
    """Clean a comment written in HTML (an imported one) with the comment allow-list, links marked as a
    reader's (``rel="nofollow ugc noopener"``) and bare addresses linked, as in a rendered comment."""
    return _per_thread_sanitizer("comment", _comment_sanitizer).clean(source.strip())


def markdown_from_html(source: str) -> str:
    """Return Markdown that shows as the post written in HTML ``source`` does, for an owner who converts it.

    What converts is the cleaned HTML, what readers saw; every sign Markdown would read (``*``, ``_``,
    backticks…) is escaped, so that the text says what it said.
    """
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
    text = html.unescape(_per_thread_sanitizer("text", partial(Sanitizer, tags=set())).clean(rendered_html))
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
