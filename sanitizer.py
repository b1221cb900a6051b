"""bleach's HTML sanitizer, made strict and linear: what ``markup.py``'s allow-lists run on.

``Sanitizer`` is bleach's Cleaner (disallowed tags stripped, their text kept) with three changes, each found by a
test or the benchmark: the elements whose content a reader never sees (``<script>``, ``<style>``, ``<svg>``…) go
with their content; nesting past ``MAX_HTML_DEPTH`` open elements, or past ``MAX_FORMATTING`` unclosed formatting
ones, is shown flat; and html5lib's tree walker indexes each parent's children once. Without them, HTML nested or
repeated a few thousand times costs time quadratic in its length. Knows nothing of the blog: which tags and
attributes pass is markup.py's to say.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterator

import bleach
from bleach import html5lib_shim
from bleach.html5lib_shim import Filter

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

MAX_HTML_DEPTH = 64  # open HTML elements; a start tag past this is stripped like a disallowed one
MAX_FORMATTING = 8  # unclosed <em>, <a>, <code>…, which the parser reopens in every later paragraph
FORMATTING_ELEMENTS = {
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
}  # fmt: skip


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
        super().__init__(strip=True, **kwargs)
        self.parser = _Parser(
            tags=self.tags | DROPPED_WITH_CONTENT, strip=True, consume_entities=False, namespaceHTMLElements=False
        )
        self.walker = lambda tree: _DropWithContent(_Walker(tree))


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


_per_thread = threading.local()


def per_thread_sanitizer(name: str, build: Callable[[], Sanitizer]) -> Sanitizer:
    """Return this thread's sanitizer called ``name``: bleach's cleaners keep parsing state, so threads
    (the development server's, or a threaded worker's) cannot share one."""
    sanitizer = getattr(_per_thread, name, None)
    if sanitizer is None:
        sanitizer = build()
        setattr(_per_thread, name, sanitizer)
    return sanitizer
