"""WordPress shortcodes: the ``[caption]``, ``[code]``, ``[embed]``… a WordPress post stores and its page expands.

What has an HTML equivalent becomes it: a captioned image is the image and its caption in italics, code is a
``<pre><code>`` block with its language, an embed, a bare address on a line of its own (which WordPress
embeds), an audio or a video file become a plain link (Inkwell loads nothing from other sites), a gallery its
images (which the export lists as attachments). The rest (unknown shortcodes, a gallery whose images are not in
the file) stays as the visible text it is, and :func:`kept_as_text` lists it for the summary; nothing is dropped.
``[[name]]`` is WordPress's way to show ``[name]`` itself, and shows so.

The scan reads each ``[`` once, looks no further than the next bracket for a tag, and finds closing tags from
one index made beforehand, so the work stays linear in the text whatever it holds.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from markup import is_web_address

CODE = {"code", "sourcecode"}
LANGUAGES = {  # SyntaxHighlighter's own shortcodes, one per language: [php]…[/php]
    "bash", "c", "cpp", "csharp", "css", "go", "html", "java", "javascript", "js", "json", "perl", "php",
    "plain", "python", "ruby", "rust", "shell", "sql", "text", "xml", "yaml",
}  # fmt: skip
MEDIA = {"audio", "video"}
MEDIA_SOURCES = ("src", "mp3", "m4a", "ogg", "oga", "wav", "mp4", "m4v", "webm", "ogv", "flv", "wmv")
TAG = re.compile(r"\[([A-Za-z][\w-]*)((?:\s[^\[\]]*)?)\]")
CLOSING_TAG = re.compile(r"\[/([A-Za-z][\w-]*)\]")
ATTRIBUTE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+))""")
CURLY_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2033": '"', "\u2018": "'", "\u2019": "'"})
LANGUAGE_NAME = re.compile(r"[\w+#.-]{1,40}")  # what markup.py lets through in ``class="language-…"``
IMAGE = re.compile(r"(?:<a\s[^<>]*>\s*)?<img\s[^<>]*>(?:\s*</a>)?", re.IGNORECASE)
BARE_ADDRESS = re.compile(r"[ \t]*(https?://[^\s<>\"']+)[ \t]*")
REASONS = {
    "gallery": "its images are not in the export",
    "embed": "it holds no web address",
    "audio": "it names no file",
    "video": "it names no file",
}
UNCLOSED = "its closing tag is missing"
UNKNOWN = "Inkwell does not know it"
MAX_LISTED = 10  # kinds of shortcode named one by one in the summary, per post

Gallery = Callable[[dict[str, str]], list[tuple[str, str]]]  # a [gallery]'s attributes → its images: (address, alt)


def no_gallery(attributes: dict[str, str]) -> list[tuple[str, str]]:
    """Find no images for a gallery: the default, where the export's attachments are not known."""
    return []


class _Closings:
    """Where each ``[/name]`` is, found in one pass, so that finding the next one never reads the text again."""

    def __init__(self, text: str) -> None:
        self.places: dict[str, list[int]] = {}
        for match in CLOSING_TAG.finditer(text):
            self.places.setdefault(match.group(1), []).append(match.start())

    def after(self, name: str, position: int) -> int:
        places = self.places.get(name, [])
        index = bisect_left(places, position)
        return places[index] if index < len(places) else -1


@dataclass
class _Scan:
    """What one pass over a post's text keeps: where closing tags are, the HTML written, what stayed as text."""

    closings: _Closings
    gallery: Gallery
    made: list[str]  # HTML written here, put back after bare addresses are linked
    kept: Counter[tuple[str, str]]


def expand_shortcodes(content: str, gallery: Gallery = no_gallery) -> tuple[str, Counter[tuple[str, str]]]:
    """Return ``content`` with its shortcodes as HTML, and how often each (shortcode, reason) was kept as text.

    ``gallery`` finds the images of a ``[gallery]``.
    """
    if "[" not in content and "http" not in content:
        return content, Counter()
    scan = _Scan(closings=_Closings(content), gallery=gallery, made=[], kept=Counter())
    pieces: list[str] = []
    position = 0
    while (start := content.find("[", position)) >= 0:
        pieces.append(content[position:start])
        position = _shortcode(content, start, scan, pieces)
    pieces.append(content[position:])
    text = _link_bare_addresses("".join(pieces))
    return re.sub("\x02(\\d+)\x03", lambda placeholder: scan.made[int(placeholder.group(1))], text), scan.kept


def _shortcode(content: str, start: int, scan: _Scan, pieces: list[str]) -> int:
    """Write out the shortcode at ``start`` (or the ``[`` as text) and return where the scan goes on."""
    escaped = content.startswith("[[", start)
    tag = TAG.match(content, start + escaped)
    if tag is None:
        pieces.append(content[start : start + 1 + escaped])
        return start + 1 + escaped
    name, attributes = tag.group(1), tag.group(2)
    closing = scan.closings.after(name, tag.end())
    end_of_closing = closing + len(name) + 3
    if escaped:  # [[name]] and [[name]…[/name]] show as [name] and [name]…[/name]
        if content.startswith("]", tag.end()):
            pieces.append(tag.group())
            return tag.end() + 1
        if closing >= 0 and content.startswith("]", end_of_closing):
            pieces.append(content[tag.start() : end_of_closing])
            return end_of_closing + 1
        pieces.append("[")
        return start + 1
    found = _attributes(attributes)
    inner = content[tag.end() : closing] if closing >= 0 else None
    written = _gallery(found, scan.gallery) if name == "gallery" else _html(name, found, inner)
    if written is not None:
        scan.made.append(written)
        pieces.append(f"\x02{len(scan.made) - 1}\x03")
        return end_of_closing if closing >= 0 and _encloses(name, found, inner) else tag.end()
    reason = REASONS.get(name)
    if reason is None and name in CODE | LANGUAGES | {"caption"}:
        reason = UNCLOSED
    if reason is None and (closing >= 0 or found or attributes.rstrip().endswith("/")):
        reason = UNKNOWN
    if reason is not None:
        scan.kept[(name, reason)] += 1
    pieces.append(tag.group())
    return tag.end()


def _attributes(text: str) -> dict[str, str]:
    return {
        match.group(1).lower(): html.unescape(next(value for value in match.groups()[1:] if value is not None))
        for match in ATTRIBUTE.finditer(text.translate(CURLY_QUOTES))
    }


def _encloses(name: str, attributes: dict[str, str], inner: str | None) -> bool:
    """Tell whether the shortcode's HTML took in its content and closing tag (a self-closed media one does not)."""
    if name == "gallery":
        return False
    if name not in MEDIA:
        return True
    return inner is not None and (not inner.strip() or not any(attributes.get(key) for key in MEDIA_SOURCES))


def _html(name: str, attributes: dict[str, str], inner: str | None) -> str | None:
    """Return the HTML a shortcode stands for, or ``None`` when it has none and stays as text."""
    if name in CODE | LANGUAGES and inner is not None:
        language = attributes.get("lang") or attributes.get("language") or (name if name in LANGUAGES else "")
        shown = f' class="language-{language}"' if LANGUAGE_NAME.fullmatch(language) else ""
        code = html.escape(html.unescape(inner.strip("\r\n")), quote=False)
        return f"\n\n<pre><code{shown}>{code}</code></pre>\n\n"
    if name == "caption" and inner is not None:
        image = IMAGE.search(inner)
        picture = image.group() if image else ""
        caption = (inner[image.end() :] if image else inner).strip() or html.escape(attributes.get("caption", ""))
        return "\n\n" + "\n\n".join(
            part for part in (picture and f"<p>{picture}</p>", caption and f"<p><em>{caption}</em></p>") if part
        )
    if name == "embed" and inner is not None and is_web_address(html.unescape(inner.strip())):
        return _link(html.unescape(inner.strip()))
    if name in MEDIA:
        source = next((attributes[key] for key in MEDIA_SOURCES if attributes.get(key)), "")
        source = source or html.unescape((inner or "").strip())
        return _link(source) if is_web_address(source) else None
    return None


def _gallery(attributes: dict[str, str], gallery: Gallery) -> str | None:
    """Return a gallery's images in a paragraph, or ``None`` when none of them is known (it stays as text)."""
    images = [(source, alt) for source, alt in gallery(attributes) if is_web_address(source)]
    if not images:
        return None
    shown = "\n".join(f'<img src="{html.escape(source)}" alt="{html.escape(alt)}">' for source, alt in images)
    return f"\n\n<p>{shown}</p>\n\n"


def _link(address: str) -> str:
    shown = html.escape(address)
    return f'\n\n<p><a href="{shown}">{shown}</a></p>\n\n'


def _link_bare_addresses(text: str) -> str:
    """Link each address alone on its line, as WordPress embeds it; not inside ``<pre>``, whose text is code."""
    lines, in_pre = text.split("\n"), False
    for number, line in enumerate(lines):
        address = BARE_ADDRESS.fullmatch(line)
        if address is not None and not in_pre and is_web_address(address.group(1)):
            shown = html.escape(html.unescape(address.group(1)))
            lines[number] = f'<a href="{shown}">{shown}</a>'
        lowered = line.lower()
        in_pre = lowered.rfind("<pre") > lowered.rfind("</pre>") if "pre" in lowered else in_pre
    return "\n".join(lines)


def kept_as_text(title: str, kept: Counter[tuple[str, str]]) -> list[str]:
    """Return the summary's sentences for the shortcodes of the post ``title`` that were kept as text.

    One per shortcode and reason, up to ``MAX_LISTED``; a post full of bracketed words gets one more for the rest.
    """
    sentences = [
        f"{title!r}: the [{name}] shortcode was kept as text{f' ({times} times)' if times > 1 else ''}: {reason}."
        for (name, reason), times in list(kept.items())[:MAX_LISTED]
    ]
    if len(kept) > MAX_LISTED:
        rest = sum(list(kept.values())[MAX_LISTED:])
        sentences.append(
            f"{title!r}: {rest} more shortcodes of {len(kept) - MAX_LISTED} other kinds were kept as text."
        )
    return sentences
