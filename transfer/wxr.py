"""Reading a WordPress export (WXR) file: the XML, whichever WXR version wrote it, and what is wrong where; then
an element's text and dates (``text_of``, ``date_of``, ``when_of``).

WordPress has written WXR 1.0, 1.1 and 1.2, and some exporters spell 1.2's namespace with ``https://``; the
elements are the same, so every ``wp`` (and ``excerpt``) namespace is renamed to one spelling before anyone looks.
Broken XML is refused with the line and column of the fault and, where the fault is a common one, what to write
instead; a file that merely stops (a download cut short) is told apart from one with a mistake in the middle.
The XML is parsed with defusedxml and no DTD: files with entity tricks (billion laughs, external entities) are
refused.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from html.entities import name2codepoint
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError
from xml.etree.ElementTree import TreeBuilder
from xml.parsers.expat import ErrorString
from xml.parsers.expat import errors

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from transfer.common import TransferError
from transfer.common import check_import_size

NS = {
    "wp": "http://wordpress.org/export/1.2/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
}
WXR_NAMESPACE = re.compile(r"https?://wordpress\.org/export/\d+\.\d+/(excerpt/)?")  # 1.0, 1.1, 1.2, http or https
NOT_WXR = "This is not a WordPress export (WXR) file"
BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
CONTROL_CHARACTERS = {chr(code) for code in range(32)} - {"\t", "\n", "\r"}
NO_DATE = "0000-00-00 00:00:00"  # how WordPress writes "no date"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class _OpenElements(TreeBuilder):
    """Build the tree and remember which elements are open, and from which line, to say what a fault broke."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, int]] = []
        self.line = lambda: 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self.open.append((tag, self.line()))
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self.open.pop()
        return super().end(tag)


def read_channel(raw: bytes) -> Element:
    """Return the ``<channel>`` of a WXR file, its elements named in the namespaces of ``NS``.

    :raise TransferError: for a file too large, not XML, broken or cut-short XML, entity tricks, or not a WXR file.
    """
    check_import_size(len(raw))
    if not raw.strip():
        raise TransferError("The file is empty.")
    if not raw.startswith(BYTE_ORDER_MARKS) and not raw.lstrip().startswith(b"<"):
        raise TransferError(f"{NOT_WXR}: it is not XML at all.")
    builder = _OpenElements()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.line = lambda: parser.parser.CurrentLineNumber
    try:
        parser.feed(raw)
    except DefusedXmlException:
        raise TransferError(
            f"The file declares a DTD at line {parser.parser.CurrentLineNumber}, where XML entity declarations "
            "live; an export never needs them, so it is refused."
        ) from None
    except ParseError as error:
        raise TransferError(_fault(raw, error, builder.open)) from None
    try:
        root = parser.close()
    except ParseError as error:
        raise TransferError(_cut_short(raw, error, builder.open)) from None
    for element in root.iter():
        _rename_wxr_namespace(element)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None or channel.find("wp:wxr_version", NS) is None:
        raise TransferError(f"{NOT_WXR}: it has no <wp:wxr_version>.")
    return channel


def _rename_wxr_namespace(element: Element) -> None:
    if not element.tag.startswith("{"):
        return
    namespace, _, name = element.tag[1:].partition("}")
    found = WXR_NAMESPACE.fullmatch(namespace)
    if found:
        element.tag = "{" + NS["excerpt" if found.group(1) else "wp"] + "}" + name


def _name(tag: str) -> str:
    """Return an element's name as the file spells it (``wp:comment``), for messages."""
    if not tag.startswith("{"):
        return tag
    namespace, _, name = tag[1:].partition("}")
    found = WXR_NAMESPACE.fullmatch(namespace)
    if found:
        return f"{'excerpt' if found.group(1) else 'wp'}:{name}"
    prefix = next((prefix for prefix, uri in NS.items() if uri == namespace), None)
    return f"{prefix}:{name}" if prefix else name


def _place(raw: bytes, error: ParseError) -> tuple[int, int, bytes]:
    """Return the line, the column as an editor counts it (from 1, in characters) and the bytes from there on.

    Expat points just past a bare ``&``, and at the name of a wrong closing tag; the place is moved back onto
    the ``&`` or the ``</``, which is what an owner looks for.
    """
    line, byte_column = error.position
    text = raw.split(b"\n", line)[line - 1] if line else b""
    for code, start in ((errors.XML_ERROR_INVALID_TOKEN, b"&"), (errors.XML_ERROR_TAG_MISMATCH, b"</")):
        if error.code == errors.codes[code] and text[:byte_column].endswith(start):
            byte_column -= len(start)
    column = len(text[:byte_column].decode("utf-8", errors="replace")) + 1
    return line, column, text[byte_column:]


def _fault(raw: bytes, error: ParseError, open_elements: list[tuple[str, int]]) -> str:
    line, column, rest = _place(raw, error)
    hint = _hint(error.code, rest, open_elements)
    return f"The file is not well-formed XML: {ErrorString(error.code)} at line {line}, column {column}{hint}."


def _hint(code: int, rest: bytes, open_elements: list[tuple[str, int]]) -> str:
    """Say what was wrong in words an owner can act on, for the faults real exports have."""
    text = rest[:60].decode("utf-8", errors="replace")
    if code == errors.codes[errors.XML_ERROR_INVALID_TOKEN]:
        if text.startswith("&"):
            return ": an `&` must be written `&amp;`"
        if text.startswith("<"):
            return ": a `<` in text must be written `&lt;`"
        if text[:1] in CONTROL_CHARACTERS:
            return f": the control character U+{ord(text[0]):04X} is not allowed in XML"
        if text.startswith("\ufffd"):
            return ": these bytes are not UTF-8 (was the file saved in another encoding?)"
    if code == errors.codes[errors.XML_ERROR_UNDEFINED_ENTITY]:
        entity = re.match(r"&([A-Za-z][A-Za-z0-9]*);", text)
        if entity and entity.group(1) in name2codepoint:
            return (
                f": `&{entity.group(1)};` is an HTML entity that XML does not know; "
                f"write `&#{name2codepoint[entity.group(1)]};` instead"
            )
    if code == errors.codes[errors.XML_ERROR_TAG_MISMATCH] and open_elements:
        tag, opened = open_elements[-1]
        found = re.match(r"</([^\s>]+)", text)
        closing = f"</{found.group(1)}>" if found else "a closing tag"
        return f": {closing} where </{_name(tag)}> was expected, to close the <{_name(tag)}> of line {opened}"
    if code == errors.codes[errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]:
        return ": there is more after the end of the document"
    return ""


def _cut_short(raw: bytes, error: ParseError, open_elements: list[tuple[str, int]]) -> str:
    line, column, _ = _place(raw, error)
    if not open_elements:
        return f"{NOT_WXR}: it has no XML elements."
    tag, opened = open_elements[-1]
    still_open = ", ".join(f"<{_name(tag)}>" for tag, _ in reversed(open_elements))
    return (
        f"The file is not complete XML (line {line}, column {column}): it ends inside <{_name(tag)}> "
        f"(opened at line {opened}), with {still_open} never closed. Was it cut short while downloading?"
    )


def text_of(item: Element, path: str) -> str:
    """Return the stripped text of the element at ``path`` (``wp:status``…), or ``""`` when there is none."""
    found = item.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def date_of(text: str) -> datetime | None:
    """Read a WXR date (``2019-05-04 09:30:00``) as UTC; ``None`` for none, ``0000-00-00 00:00:00`` or nonsense."""
    if not text or text == NO_DATE:
        return None
    try:
        return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def when_of(item: Element, gmt: str, local: str) -> datetime | None:
    """Return the GMT date, else the local one taken as UTC, else ``None`` (also for a date that is no date)."""
    return date_of(text_of(item, gmt)) or date_of(text_of(item, local))
