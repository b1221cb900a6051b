"""WordPress's ``wpautop``: the paragraphs a classic-editor post or a comment has on a WordPress page.

WordPress stores such text with bare line breaks and adds the ``<p>`` and ``<br />`` only when it shows it: a
blank line starts a paragraph, a single line break is a ``<br />``, but not inside ``<pre>``, ``<script>`` or
``<style>``, nor between block elements (lists, tables, quotes…) or inside a tag. This is a port of that
function, so an imported post reads as it did; block-editor posts carry their ``<p>`` already and skip it.
Every pattern fails or matches without looking past the next ``<``, so the work stays linear in the text.
"""

from __future__ import annotations

import re

BLOCKS = (
    r"(?:table|thead|tfoot|caption|col|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre|form|map|area|blockquote"
    r"|address|style|p|h[1-6]|hr|fieldset|legend|section|article|aside|hgroup|header|footer|nav|figure|figcaption"
    r"|details|menu|summary)"
)
BLOCK_OPENING = re.compile(rf"(<{BLOCKS}[\s/>])")
BLOCK_CLOSING = re.compile(rf"(</{BLOCKS}>)")
BLOCK_TAG = rf"</?{BLOCKS}[^<>]*>"
TAG_OR_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)|<[^<>]*>", re.DOTALL)
NEWLINE_IN_TAG = " <!-- wpnl --> "
KEEP_NEWLINE = "<WPPreserveNewline />"
RAW_TEXT = re.compile(r"<(script|style|svg|math)\b", re.IGNORECASE)
RAW_TEXT_END = {name: re.compile(rf"</{name}>", re.IGNORECASE) for name in ("script", "style", "svg", "math")}


def wpautop(text: str) -> str:
    """Return ``text`` with WordPress's paragraphs and line breaks written out as ``<p>`` and ``<br />``."""
    if not text.strip():
        return ""
    text, pre_blocks = _set_aside_pre(text.replace("\r\n", "\n").replace("\r", "\n") + "\n")
    text = re.sub(r"<br\s*/?>\s*<br\s*/?>", "\n\n", text)
    text = BLOCK_OPENING.sub(r"\n\n\1", text)
    text = BLOCK_CLOSING.sub(r"\1\n\n", text)
    text = re.sub(r"(<hr\s*/?>)", r"\1\n\n", text)
    text = TAG_OR_COMMENT.sub(lambda tag: tag.group().replace("\n", NEWLINE_IN_TAG), text)
    text = re.sub(r"(?<!\s)\s+(?=<option)", "", text)
    text = re.sub(r"</option>\s*", "</option>", text)
    text = re.sub(r"\n\n+", "\n\n", text)
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part]
    text = "".join(f"<p>{paragraph.strip(chr(10))}</p>\n" for paragraph in paragraphs)
    text = re.sub(r"<p>\s*</p>", "", text)
    text = re.sub(r"<p>([^<]+)</(div|address|form)>", r"<p>\1</p></\2>", text)
    text = re.sub(rf"<p>\s*({BLOCK_TAG})\s*</p>", r"\1", text)
    text = re.sub(r"<p>(<li[^\n]+?)</p>", r"\1", text)
    text = re.sub(r"<p><blockquote([^<>]*)>", r"<blockquote\1><p>", text, flags=re.IGNORECASE)
    text = text.replace("</blockquote></p>", "</p></blockquote>")
    text = re.sub(rf"<p>\s*({BLOCK_TAG})", r"\1", text)
    text = re.sub(rf"({BLOCK_TAG})\s*</p>", r"\1", text)
    text = _keep_raw_text_newlines(text).replace("<br>", "<br />").replace("<br/>", "<br />")
    text = re.sub(r"(?<!<br />)(?<![^\S\n])[^\S\n]*\n", "<br />\n", text).replace(KEEP_NEWLINE, "\n")
    text = re.sub(rf"({BLOCK_TAG})\s*<br />", r"\1", text)
    text = re.sub(r"<br />(\s*</?(?:p|li|div|dl|dd|dt|th|pre|td|ul|ol)[^<>]*>)", r"\1", text)
    text = re.sub(r"\n</p>$", "</p>", text)
    if pre_blocks:  # in one pass: a replace per block would copy the whole text once for each
        text = re.sub(r"<pre wp-pre-tag-\d+></pre>", lambda found: pre_blocks.get(found[0], found[0]), text)
    return text.replace(NEWLINE_IN_TAG, "\n").replace(NEWLINE_IN_TAG.strip(), "\n")


def _set_aside_pre(text: str) -> tuple[str, dict[str, str]]:
    """Replace each ``<pre>…</pre>`` with a placeholder, so that its line breaks stay as they are."""
    if "<pre" not in text:
        return text, {}
    *parts, last = text.split("</pre>")
    kept, pre_blocks = [], {}
    for part in parts:
        start = part.find("<pre")
        if start < 0:
            kept.append(part)
            continue
        placeholder = f"<pre wp-pre-tag-{len(pre_blocks)}></pre>"
        pre_blocks[placeholder] = part[start:] + "</pre>"
        kept.append(part[:start] + placeholder)
    return "".join(kept) + last, pre_blocks


def _keep_raw_text_newlines(text: str) -> str:
    """Mark the line breaks inside ``<script>``, ``<style>``, ``<svg>`` and ``<math>``, which get no ``<br />``."""
    pieces, position = [], 0
    while match := RAW_TEXT.search(text, position):
        end_tag = RAW_TEXT_END[match.group(1).lower()].search(text, match.end())
        if end_tag is None:
            break
        end = end_tag.end()
        pieces += [text[position : match.start()], text[match.start() : end].replace("\n", KEEP_NEWLINE)]
        position = end
    return "".join(pieces) + text[position:]


def wordpress_html(content: str) -> str:
    """Return a post's or a comment's content from a WordPress export as the HTML its page showed.

    Block-editor content (marked with ``<!-- wp:… -->`` comments) has its paragraphs written out already, and
    WordPress does not run ``wpautop`` on it; classic-editor posts and comments are stored without them.
    """
    return content if "<!-- wp:" in content else wpautop(content).strip()
