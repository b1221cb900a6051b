"""Moving in from a static site generator: a folder (or zip) of Markdown posts from Jekyll, Hugo, Pelican or Eleventy.

Each file becomes a post: its title (front matter, else its first ``# heading``, else its file name), date (front
matter, else Jekyll's file name; UTC when no zone is given), slug, tags and categories (both become tags),
draft flag and summary. Its old addresses redirect to it: the front matter's ``permalink`` or ``url``, else the
generator's default address, plus Hugo's ``aliases`` and Jekyll's ``redirect_from``. Liquid tags and Hugo
shortcodes stay visible as code and are listed; ``{% highlight %}`` blocks become fenced code. Files that cannot
be read are left out and listed, the rest is imported in one transaction; running it again adds nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

from sqlalchemy import select

from database import db
from database import now_utc
from models import Post
from models import PostStatus
from slugs import LegacyAddress
from slugs import slugify
from slugs import tags_named
from slugs import unique_slug
from transfer.common import ImportSummary
from transfer.common import Tracker
from transfer.common import untracked
from transfer.markdown_files import Document
from transfer.markdown_files import read_site
from transfer.record import recorded_import

JEKYLL_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(.+)")
FIRST_HEADING = re.compile(r"^# +(.+?)(?: +#+)? *$", re.MULTILINE)
SPACE_BEFORE_ZONE = re.compile(r"(\d)\s+([+-]\d\d:?\d\d|Z)$")
JEKYLL_PLACEHOLDER = re.compile(r":([a-z_]+)")
TEMPLATE = re.compile(r"\{\{|\{%")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
HIGHLIGHT_START = re.compile(r"\s*(?:\{%-?\s*highlight|\{\{<\s*highlight)\s+([\w+#.-]+)[^\n]*?(?:%\}|>\}\})\s*")
HIGHLIGHT_END = re.compile(r"\s*(?:\{%-?\s*endhighlight\s*-?%\}|\{\{<\s*/\s*highlight\s*>\}\})\s*")
BACKTICKS = re.compile(r"`+")
DATE_KEYS = ("date", "publishdate", "pubdate", "published_at")
SUMMARY_KEYS = ("description", "summary", "excerpt")
MAX_ADDRESS = 300  # the legacy_addresses column
MAX_TITLE = 200
MAX_TAG = 60


def import_static_site(
    path: Path, *, track: Tracker = untracked, dry_run: bool = False, file_name: str = ""
) -> ImportSummary:
    """Import the Markdown posts of a static site's folder, or of a zip of one, in one transaction.

    A ``dry_run`` returns what would be done and keeps nothing.

    :raise TransferError: when the path is not such a folder at all, or the database refuses; nothing is imported.
    """
    site = read_site(path)
    summary = ImportSummary(source="a static site", dry_run=dry_run, left_out=site.left_out)
    claimed: set[str] = set()
    with recorded_import(summary, file_name or path.name):
        for document in track(site.documents, "Files"):
            _import_document(document, site.is_jekyll, claimed, summary)
    return summary


def _import_document(document: Document, is_jekyll: bool, claimed: set[str], summary: ImportSummary) -> None:
    meta, name = document.metadata, str(document.path)
    notes = summary.adjustments
    stem = document.path.stem
    jekyll = JEKYLL_NAME.fullmatch(stem) if document.style != "pelican" else None
    body, title = _title_and_body(document, jekyll)
    if len(title) > MAX_TITLE:
        notes.append(f"{name}: the title was cut to {MAX_TITLE} characters.")
        title = title[:MAX_TITLE]
    old_slug = _text(meta.get("slug")) or (jekyll[4] if jekyll else "")
    if not old_slug and document.style == "pelican":
        old_slug = slugify(title)  # Pelican names a post after its title
    if not old_slug:
        old_slug = document.path.parent.name if stem == "index" and document.path.parent.name else stem
    written = _written_date(meta, jekyll, name, notes)
    categories = _names(meta.get("categories"), by_space=is_jekyll) + _names(meta.get("category"), by_space=False)
    tags = _names(meta.get("tags"), by_space=is_jekyll) + categories
    addresses = _old_addresses(document, old_slug, written, categories, is_jekyll, notes)
    if _is_there(addresses, slugify(old_slug), title):
        summary.already_there += 1
        return
    body, converted = _convert_highlights(body)
    if converted:
        notes.append(f"{name}: {converted} highlight block(s) became fenced code blocks.")
    body = _mark_template_tags(body, document, summary.shortcodes)
    slug = unique_slug(slugify(old_slug))
    if slug != slugify(old_slug):
        notes.append(f"{name}: the address /posts/{slugify(old_slug)} was taken; this post is at /posts/{slug}.")
    published_at = written.astimezone(UTC) if written else None
    post = Post(
        title=title,
        slug=slug,
        excerpt=next((_text(meta.get(key)) for key in SUMMARY_KEYS if _text(meta.get(key))), ""),
        body=body,
        status=PostStatus.draft if _is_draft(document) else PostStatus.published,
        tags=tags_named([tag[:MAX_TAG] for tag in dict.fromkeys(tags)]),
        published_at=published_at or now_utc(),
        created_at=published_at or now_utc(),
        updated_at=published_at or now_utc(),
    )
    db.session.add(post)
    db.session.flush()
    for address in addresses:
        if address in claimed:
            notes.append(f"{name}: the old address {address} belongs to an earlier file too; it leads there.")
        elif address != f"/posts/{slug}":
            db.session.add(LegacyAddress(path=address, post_id=post.id))
            claimed.add(address)
            summary.redirects += 1
    summary.posts += 1
    summary.drafts += post.status == PostStatus.draft


def _text(value: Any) -> str:
    """Return a scalar front matter value as text; lists and tables are not text."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return ""
    return str(value)


def _names(value: Any, *, by_space: bool) -> list[str]:
    """Return tag names from a list, or from a comma-separated string (Jekyll: space-separated when no comma)."""
    if isinstance(value, list):
        names = [_text(item) for item in value]
    else:
        text = _text(value)
        names = text.split(",") if "," in text or not by_space else text.split()
    return [name.strip() for name in names if name.strip()]


def _title_and_body(document: Document, jekyll: re.Match[str] | None) -> tuple[str, str]:
    title = _text(document.metadata.get("title"))
    if title:
        return document.body, title
    heading = FIRST_HEADING.search(document.body)
    if heading:  # the heading becomes the title; a blank line keeps the line numbers of what follows
        return document.body[: heading.start()] + document.body[heading.end() :], heading[1].strip()
    name = jekyll[4] if jekyll else document.path.stem
    if name == "index":
        name = document.path.parent.name or name
    return document.body, name.replace("-", " ").replace("_", " ").strip().capitalize() or "Untitled"


def _written_date(meta: dict[str, Any], jekyll: re.Match[str] | None, name: str, notes: list[str]) -> datetime | None:
    """Return the post's date as written (its own zone kept, for old addresses), UTC when it names none."""
    for key in DATE_KEYS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        when = _as_datetime(value)
        if when is not None:
            return when
        notes.append(f"{name}: the {key} {value!r} is not a date Inkwell understands; it was not used.")
    if jekyll:
        try:
            return datetime(int(jekyll[1]), int(jekyll[2]), int(jekyll[3]), tzinfo=UTC)
        except ValueError:
            notes.append(f"{name}: the file name's date is not a date.")
    notes.append(f"{name}: no date; the post is dated with the time of the import.")
    return None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(SPACE_BEFORE_ZONE.sub(r"\1\2", value.strip()).replace(" UTC", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        try:
            value.astimezone(UTC)  # 0001-01-01T00:00+05:00 is before the year 1 in UTC
        except OverflowError:
            return None
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _is_draft(document: Document) -> bool:
    meta = document.metadata
    return (
        _flag(meta.get("draft")) is True
        or _flag(meta.get("published")) is False
        or _text(meta.get("status")).lower() in ("draft", "hidden")
        or "_drafts" in document.path.parts
    )


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "yes": True, "false": False, "no": False}.get(_text(value).lower())


def _old_addresses(
    document: Document, slug: str, written: datetime | None, categories: list[str], is_jekyll: bool, notes: list[str]
) -> list[str]:
    """Return the addresses the post had: the front matter's, or else the generator's default, and its aliases."""
    meta, name = document.metadata, str(document.path)
    addresses: list[str | None] = []
    permalink = meta.get("permalink", meta.get("url"))
    if permalink is False:
        notes.append(f"{name}: permalink is false (the page was never written out), so no old address redirects.")
    elif _text(permalink):
        address = _expand_jekyll(_text(permalink), slug, written, categories)
        if address is None:
            notes.append(f"{name}: the permalink {_text(permalink)!r} is a template; the default address was used.")
        else:
            addresses.append(address)
    if not addresses and permalink is not False:
        addresses.append(_default_address(document, slug, written, categories, is_jekyll))
    for key in ("aliases", "redirect_from"):
        value = meta.get(key)
        addresses += [_text(item) for item in value] if isinstance(value, list) else [_text(value)]
    paths: list[str] = []
    for address in filter(None, addresses):
        path = _as_path(address)
        if path is None:
            notes.append(f"{name}: the old address {address[:80]!r} is too long or not an address; left out.")
        elif path not in paths:
            paths.append(path)
    return paths


def _expand_jekyll(permalink: str, slug: str, written: datetime | None, categories: list[str]) -> str | None:
    """Fill in Jekyll's ``:year``, ``:title``… placeholders; None for a template Inkwell cannot fill in."""
    if TEMPLATE.search(permalink):
        return None
    values = {"title": slug, "slug": slug, "categories": "/".join(c.lower() for c in categories), "output_ext": ".html"}
    if written:
        values |= {
            "year": f"{written:%Y}",
            "month": f"{written:%m}",
            "day": f"{written:%d}",
            "i_month": str(written.month),
            "i_day": str(written.day),
            "short_year": f"{written:%y}",
        }
    if any(key not in values for key in JEKYLL_PLACEHOLDER.findall(permalink)):
        return None
    return re.sub("/+", "/", JEKYLL_PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), permalink))


def _default_address(
    document: Document, slug: str, written: datetime | None, categories: list[str], is_jekyll: bool
) -> str | None:
    """Guess the generator's default address: Jekyll's dated ``.html`` (none for an undated draft), Pelican's
    ``slug.html``, else Hugo's and Eleventy's folder and slug (``/posts/my-post/``)."""
    if is_jekyll:
        if written is None:
            return None
        return "/" + "/".join([*(c.lower() for c in categories), f"{written:%Y/%m/%d}", f"{slug}.html"])
    if document.style == "pelican":
        return f"/{slug}.html"
    folder = document.site_path.parent
    if document.site_path.stem == "index":
        folder = folder.parent
    return "/" + "/".join([*folder.parts, slug]) + "/"


def _as_path(address: str) -> str | None:
    try:
        parts = urlsplit(address)
    except ValueError:  # "http://[x/y": an unclosed IPv6 host
        return None
    if parts.scheme not in ("", "http", "https"):
        return None
    path = unquote(parts.path) or "/"
    path = (path if path.startswith("/") else "/" + path) + (f"?{parts.query}" if parts.query else "")
    return path if len(path) <= MAX_ADDRESS and path != "/" else None


def _is_there(addresses: list[str], slug: str, title: str) -> bool:
    """Tell whether an earlier import brought this file: one of its old addresses, or its slug and title."""
    if addresses:
        return db.session.scalar(select(LegacyAddress.path).where(LegacyAddress.path.in_(addresses))) is not None
    return db.session.scalar(select(Post.id).where(Post.slug == slug, Post.title == title)) is not None


def _convert_highlights(body: str) -> tuple[str, int]:
    """Turn ``{% highlight lang %}`` and Hugo's ``{{< highlight lang >}}`` blocks into fenced code blocks."""
    lines, converted, inside = body.split("\n"), 0, False
    for number, line in enumerate(lines):
        start = HIGHLIGHT_START.fullmatch(line)
        if start and not inside:
            lines[number], inside = f"```{start[1]}", True
        elif inside and HIGHLIGHT_END.fullmatch(line):
            lines[number], inside, converted = "```", False, converted + 1
    return "\n".join(lines), converted


def _mark_template_tags(body: str, document: Document, found: list[str]) -> str:
    """Show every Liquid tag and Hugo shortcode outside code as inline code, exactly as written, and list it."""
    lines, fence = body.split("\n"), ""
    for number, line in enumerate(lines):
        opening = FENCE.match(line)
        if opening and (not fence or opening[1].startswith(fence)):
            fence = "" if fence else opening[1]
            continue
        if fence or line.startswith(("    ", "\t")):
            continue

        lines[number] = _marked_line(
            line,
            lambda tag, number=number: found.append(f"{document.path}, line {document.first_line + number}: {tag}"),
        )
    return "\n".join(lines)


def _marked_line(line: str, found: Callable[[str], object]) -> str:
    """Wrap each template tag of a line outside code spans in backticks, reporting it to ``found``.

    One pass from left to right, in time linear in the line (a backtracking regular expression took minutes on a
    long line of backticks): a code span opens with a run of backticks and closes at the next run of exactly that
    length (CommonMark); ``{% … %}`` closes at the next ``%}``, ``{{< … >}}`` and ``{{% … %}}`` at the next
    ``>}}`` or ``%}}``, else ``{{ … }}`` at the next ``}}``.
    """
    runs = [(match.start(), match.end()) for match in BACKTICKS.finditer(line)]
    closing = [-1] * len(runs)  # the next run of the same length, or -1
    later: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        length = runs[index][1] - runs[index][0]
        closing[index] = later.get(length, -1)
        later[length] = index
    found_at: dict[str, int] = {}

    def find(token: str, start: int) -> int:
        """``line.find(token, start)`` for ever later starts, each stretch of the line searched once."""
        at = found_at.get(token)
        if at is None or (at != -1 and at < start):
            at = found_at[token] = line.find(token, start)
        return at

    out: list[str] = []
    position = run = 0
    while position < len(line):
        while run < len(runs) and runs[run][0] < position:
            run += 1
        tick = runs[run][0] if run < len(runs) else len(line)
        tag = find("{{", position), find("{%", position)
        brace = min((at for at in tag if at != -1), default=len(line))
        if tick == len(line) and brace == len(line):
            break
        if tick < brace:  # a code span, kept as written; an unclosed run of backticks is text
            end = runs[closing[run]][1] if closing[run] != -1 else runs[run][1]
            out.append(line[position:end])
            position = end
            continue
        end = _tag_end(line, brace, find)
        if end == -1:
            out.append(line[position : brace + 1])
            position = brace + 1
            continue
        text = line[brace:end]
        found(text)
        ticks = "``" if "`" in text else "`"
        out.append(f"{line[position:brace]}{ticks}{text}{ticks}")
        position = end
    out.append(line[position:])
    return "".join(out)


def _tag_end(line: str, start: int, find: Callable[[str, int], int]) -> int:
    """Where the template tag starting at ``start`` ends, or -1 when it is not closed on its line."""
    if line[start + 1] == "%":
        at = find("%}", start + 2)
        return at + 2 if at != -1 else -1
    if line[start + 2 : start + 3] in ("<", "%"):
        ends = [at for at in (find(">}}", start + 3), find("%}}", start + 3)) if at != -1]
        if ends:
            return min(ends) + 3
    at = find("}}", start + 2)
    return at + 2 if at != -1 else -1
