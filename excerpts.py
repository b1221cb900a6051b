"""A post's excerpt, for cards, feeds and link previews: the author's own, else the opening prose of the post.

The opening prose is the text of the first paragraphs, never a heading or a block of code (a card that starts
with "Installing" or "$ pip install" says nothing). Only sanitized HTML reaches here (markup.py made it), so
the standard library's tolerant parser is enough. A leaf: it imports nothing of the project.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

EXCERPT_LENGTH = 280
# A first paragraph shorter than this ("Hello again.") is followed by the next one, up to EXCERPT_LENGTH.
SHORT_PARAGRAPH = 100
SKIPPED = {"h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "figure", "figcaption", "script", "style"}
BLOCKS = {"p", "li", "dd", "dt", "blockquote", "div", "ul", "ol", "dl", "hr", "br"}


class _Paragraphs(HTMLParser):
    """Collect the text of each paragraph outside skipped elements, and all such text for a post without one."""

    def __init__(self, enough: int) -> None:
        super().__init__(convert_charrefs=True)
        self.enough = enough
        self.skipping = 0
        self.paragraph: list[str] | None = None
        self.paragraphs: list[str] = []
        self.loose: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skipping += 1
        elif tag == "p" and not self.skipping:
            self.paragraph = []
        elif tag in BLOCKS:
            self.loose.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "p" and self.paragraph is not None:
            text = _collapsed("".join(self.paragraph))
            if text:
                self.paragraphs.append(text)
            self.paragraph = None
            self.loose.append(" ")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.paragraph is not None:
            self.paragraph.append(data)
        self.loose.append(data)

    def has_enough(self) -> bool:
        return sum(len(text) + 1 for text in self.paragraphs) >= self.enough


def _collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def opening_text(rendered_html: str, length: int = EXCERPT_LENGTH) -> str:
    """Return the post's first paragraph as plain text (the next ones too while it is short), never a heading or
    code, cut at a word before ``length`` characters with an ellipsis.

    A post without a paragraph of text (a list, a quote alone) gives its text outside headings and code.
    """
    parser = _Paragraphs(SHORT_PARAGRAPH)
    # Fed in pieces, so a long post is read only as far as its opening.
    for start in range(0, len(rendered_html), 4096):
        parser.feed(rendered_html[start : start + 4096])
        if parser.has_enough() or sum(map(len, parser.loose)) > 20 * length:
            break
    else:
        parser.close()
    text = ""
    for paragraph in parser.paragraphs:
        text = f"{text} {paragraph}".strip()
        if len(text) >= SHORT_PARAGRAPH:
            break
    return _cut(text or _collapsed("".join(parser.loose)), length)


def _cut(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0].rstrip(".,;:!?-—") + "…"
