"""Moving in from WordPress: read a WXR export (Tools → Export) into Inkwell.

Posts (and pages, if asked) keep their slugs, dates, authors, categories and tags (both become tags), and
their approved comments keep their threads. Held comments stay held and spam stays spam; trashed ones are
left out, and so are pingbacks and trackbacks (Inkwell has no mentions yet). Old addresses (``/?p=123``, or
``/blog/?p=123`` for a blog in a folder, and the post's permalink path) redirect to the new posts. Running the
import again skips what is already there. A commenter's website is kept only if the comment form would accept
it, and authors get accounts without a password. One odd item does not refuse the file: a slug already taken
gets a suffix, a reply to a missing comment joins the post, an undated post takes its place in the file, an
address already taken stays where it was, and the summary lists each of these. ``wxr`` reads the XML, and
``wordpress_comments`` brings in each post's comments.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from sqlalchemy import select

from database import db
from models import BodyFormat
from models import Post
from models import PostKind
from models import PostStatus
from slugs import LegacyAddress
from slugs import slugify
from slugs import tags_named
from slugs import unique_slug
from transfer.common import Bylines
from transfer.common import ImportSummary
from transfer.common import Tracker
from transfer.common import TransferError
from transfer.common import untracked
from transfer.media import MediaFolder
from transfer.record import origin_of
from transfer.record import recorded_import
from transfer.shortcodes import expand_shortcodes
from transfer.shortcodes import kept_as_text
from transfer.wordpress_comments import import_comments
from transfer.wpautop import wordpress_html
from transfer.wxr import NS
from transfer.wxr import date_of
from transfer.wxr import read_channel
from transfer.wxr import text_of

WordPressError = TransferError  # the name this module's callers knew; every import now refuses with TransferError
POST_STATUSES = {"publish": PostStatus.published, "future": PostStatus.published}  # anything else: a draft
TAG_DOMAINS = ("category", "post_tag")
TITLE_MAX = 200  # the columns' sizes: a longer value is cut, and the summary says so
TAG_MAX = 60
ADDRESS_MAX = 300
LEGACY_QUERY_ARGS = ("p", "page_id")  # the plain permalinks WordPress answers in any permalink setting
AFTER_PREVIOUS = timedelta(minutes=1)


@dataclass
class _Run:
    """What one import knows beyond the item it is on."""

    include_pages: bool
    names: dict[str, str]  # author login → display name
    bylines: Bylines
    summary: ImportSummary
    home: str  # the blog's path on its old site: "" at the root, "/blog" in a folder
    origin: str  # the blog's own address, which tells its posts from another WordPress blog's
    dates: dict[int, datetime | None]  # item (by id()) → its publication date, filled in where the file has none
    media: MediaFolder | None  # where the posts' images come from, when the owner gave the uploads folder
    attachments: dict[str, tuple[str, str]]  # attachment id → its file's address and its alt text
    attached: dict[str, list[str]]  # post id → its attachments' ids, in the file's order (a [gallery]'s default)
    claimed: dict[str, str] = field(default_factory=dict)  # old address → the title of the item that has it


def _is_imported(item: Element, include_pages: bool) -> bool:
    kind = text_of(item, "wp:post_type")
    return kind in ("post", "page") and (kind == "post" or include_pages) and text_of(item, "wp:status") != "trash"


def _title(item: Element) -> str:
    return text_of(item, "title") or "Untitled"


def _publication_dates(items: list[Element], summary: ImportSummary) -> dict[int, datetime | None]:
    """Date every published item: its GMT date, else its local date at the blog's usual offset, else its place.

    A draft without a date stays undated, as drafts written in Inkwell are. An item without any date is put just
    after the one before it in the file (WordPress writes its export oldest first), or just before the first
    dated one.
    """
    gmt = {id(item): date_of(text_of(item, "wp:post_date_gmt")) for item in items}
    local = {id(item): date_of(text_of(item, "wp:post_date")) for item in items}
    offsets = Counter(local[key] - gmt[key] for key in gmt if gmt[key] and local[key])
    offset = offsets.most_common(1)[0][0] if offsets else timedelta(0)
    dates: dict[int, datetime | None] = {}
    undated: list[Element] = []
    for item in items:
        key = id(item)
        published = text_of(item, "wp:status") in POST_STATUSES
        if gmt[key] or not published:
            dates[key] = gmt[key] or local[key]
        elif local[key] and (utc := _shifted(local[key], -offset)) is None:
            dates[key] = None
            undated.append(item)
            summary.adjustments.append(
                f"{_title(item)!r} has only a local date ({text_of(item, 'wp:post_date')}), which the blog's usual "
                "offset moves past the range of dates; it is dated by its place in the file instead."
            )
        elif local[key]:
            dates[key] = utc
            hours = offset.total_seconds() / 3600
            summary.adjustments.append(
                f"{_title(item)!r} has only a local date ({local[key]:%Y-%m-%d %H:%M}); it is dated "
                f"{dates[key]:%Y-%m-%d %H:%M} UTC, at the blog's usual offset of {hours:+g} hours."
            )
        else:
            dates[key] = None
            undated.append(item)
    for item in undated:
        _date_by_place(item, items, dates, summary)
    return dates


def _date_by_place(
    item: Element, items: list[Element], dates: dict[int, datetime | None], summary: ImportSummary
) -> None:
    place = items.index(item)
    before = [other for other in reversed(items[:place]) if dates.get(id(other))]
    after = [other for other in items[place + 1 :] if dates.get(id(other))]
    places = [(before[:1], AFTER_PREVIOUS, "just after"), (after[:1], -AFTER_PREVIOUS, "just before")]
    # A neighbour at the very edge of the range of dates has no moment just after (or before) it: skip it.
    found = [
        (neighbour, moment, where)
        for neighbours, step, where in places
        for neighbour in neighbours
        if (moment := _shifted(dates[id(neighbour)], step)) is not None
    ]
    neighbour, moment, where = (found or [(None, datetime.now(UTC).replace(microsecond=0), "now")])[0]
    dates[id(item)] = moment
    reason = f"{where} {_title(neighbour)!r}, its neighbour in the file" if neighbour is not None else "as imported"
    summary.adjustments.append(
        f"{_title(item)!r} is published but has no date in the file; it is dated {moment:%Y-%m-%d %H:%M} UTC, {reason}."
    )


def _shifted(moment: datetime, step: timedelta) -> datetime | None:
    """Return ``moment + step``, or ``None`` when that falls outside the years 1 to 9999."""
    try:
        return moment + step
    except OverflowError:
        return None


def _home(channel: Element, summary: ImportSummary) -> str:
    """Return the path of the blog on its old site: ``""`` at the root, ``"/blog"`` when installed in a folder.

    A malformed address (``http://[x``) is skipped and listed: the channel's link is tried next, then the root.
    """
    for name in ("wp:base_blog_url", "link"):
        address = text_of(channel, name)
        if not address:
            continue
        try:
            return urlsplit(address).path.rstrip("/")
        except ValueError:
            summary.adjustments.append(
                f"The blog's address {address[:60]!r} (<{name}>) is malformed; it is not used to place old addresses."
            )
    return ""


def _attachments(channel: Element) -> tuple[dict[str, tuple[str, str]], dict[str, list[str]]]:
    """Index the media the file lists: each attachment's address and alt text, and the posts they belong to."""
    attachments: dict[str, tuple[str, str]] = {}
    attached: dict[str, list[str]] = {}
    for item in channel.findall("item"):
        if text_of(item, "wp:post_type") != "attachment" or not text_of(item, "wp:attachment_url"):
            continue
        alt = next(
            (text_of(meta, "wp:meta_value") for meta in item.findall("wp:postmeta", NS)
             if text_of(meta, "wp:meta_key") == "_wp_attachment_image_alt"),
            "",
        )  # fmt: skip
        attachment_id = text_of(item, "wp:post_id")
        attachments[attachment_id] = (text_of(item, "wp:attachment_url"), alt)
        attached.setdefault(text_of(item, "wp:post_parent"), []).append(attachment_id)
    return attachments, attached


def _gallery(attributes: dict[str, str], post_id: str, run: _Run) -> list[tuple[str, str]]:
    """Return the images of a ``[gallery]``: those its ``ids`` name, else those attached to its post."""
    named = (attributes.get("ids") or attributes.get("include") or "").replace(" ", "")
    ids = named.split(",") if named else run.attached.get(post_id, [])
    return [run.attachments[image] for image in ids if image in run.attachments]


def _origin(channel: Element) -> str:
    """Return the address of the blog the file comes from (``https://example.com/blog``), or ``""``."""
    return (text_of(channel, "wp:base_blog_url") or text_of(channel, "link")).rstrip("/")[:300]


def import_wordpress(
    raw: bytes,
    *,
    include_pages: bool = True,
    uploads: Path | None = None,
    track: Tracker = untracked,
    dry_run: bool = False,
    file_name: str = "WordPress export",
) -> ImportSummary:
    """Import a WXR file in one transaction and return what was done, and what was changed on the way.

    ``uploads`` is a copy of the blog's ``wp-content/uploads`` folder (or a zip of it): the images the posts
    show are brought in from it (an export lists its media, but not their bytes). A ``dry_run`` returns what
    would be done and keeps nothing.

    :raise TransferError: naming the problem and its place in the file; nothing is imported then.
    """
    channel = read_channel(raw)
    items = [item for item in channel.findall("item") if _is_imported(item, include_pages)]
    summary = ImportSummary(source="WordPress", dry_run=dry_run)
    attachments, attached = _attachments(channel)
    run = _Run(
        include_pages=include_pages,
        names={
            text_of(author, "wp:author_login"): text_of(author, "wp:author_display_name")
            for author in channel.findall("wp:author", NS)
        },
        bylines=Bylines(),
        summary=summary,
        home=_home(channel, summary),
        origin=_origin(channel),
        attachments=attachments,
        attached=attached,
        dates=_publication_dates(items, summary),
        media=(
            MediaFolder(uploads, marker="/wp-content/uploads/", dry_run=dry_run, stored=summary.new_uploads)
            if uploads is not None
            else None
        ),
    )
    summary.accounts_without_password = run.bylines.without_password
    with recorded_import(summary, file_name, origin=run.origin):
        for item in track(items, "Items"):
            _import_item(item, run)
        if run.media is not None:
            run.media.report_to(summary)
    return summary


def _with_images(html: str, media: MediaFolder | None) -> str:
    return media.bring_images(html) if media is not None else html


def _import_item(item: Element, run: _Run) -> None:
    names, summary = run.names, run.summary
    kind, status = text_of(item, "wp:post_type"), text_of(item, "wp:status")
    post_id = text_of(item, "wp:post_id")
    legacy = f"{run.home}/?{'p' if kind == 'post' else 'page_id'}={post_id}"
    at_the_root = f"/?{'p' if kind == 'post' else 'page_id'}={post_id}"  # where earlier imports kept it
    title = _title(item)
    if _brought_before({legacy, at_the_root}, run.origin, title[:TITLE_MAX]):
        summary.already_there += 1
        return
    if len(title) > TITLE_MAX:
        summary.adjustments.append(f"The title {title[:60]!r}… is cut to {TITLE_MAX} characters.")
        title = title[:TITLE_MAX]
    wanted = slugify(unquote(text_of(item, "wp:post_name")) or title)
    slug = unique_slug(wanted)
    if slug != wanted:
        folder = "/pages" if kind == "page" else "/posts"
        summary.adjustments.append(
            f"{title!r} ({kind} {post_id}) would have had the address {folder}/{wanted}, which another post "
            f"already has; it is at {folder}/{slug}."
        )
    published_at = run.dates[id(item)]
    content, kept = expand_shortcodes(text_of(item, "content:encoded"), lambda found: _gallery(found, post_id, run))
    summary.adjustments += kept_as_text(title, kept)
    categories = [
        c.text.strip()[:TAG_MAX] for c in item.findall("category") if c.text and c.get("domain") in TAG_DOMAINS
    ]
    post = Post(
        title=title,
        slug=slug,
        excerpt=text_of(item, "excerpt:encoded"),
        format=BodyFormat.html,
        body=_with_images(wordpress_html(content), run.media),
        status=POST_STATUSES.get(status, PostStatus.draft),
        kind=PostKind.page if kind == "page" else PostKind.post,
        comments_open=text_of(item, "wp:comment_status") != "closed",
        author_id=run.bylines.account_id(login := text_of(item, "dc:creator"), names.get(login, login)),
        tags=tags_named([name for name in dict.fromkeys(categories) if name.lower() != "uncategorized"]),
        published_at=published_at,
        created_at=published_at or datetime.now(UTC),
        updated_at=published_at or datetime.now(UTC),
    )
    db.session.add(post)
    db.session.flush()
    addresses = [legacy]
    if post.status == PostStatus.published:
        addresses += _permalinks(text_of(item, "link"), title, run)
    for address in dict.fromkeys(addresses):
        if _claim(address, title, run):
            db.session.add(LegacyAddress(path=address, post_id=post.id))
            summary.redirects += 1
    summary.pages += kind == "page"
    summary.posts += kind == "post"
    summary.drafts += post.status == PostStatus.draft
    import_comments(item, post, summary)


def _brought_before(addresses: set[str], origin: str, title: str) -> bool:
    """Tell whether an earlier import of this blog brought the item whose plain permalinks are ``addresses``.

    Every WordPress blog numbers its posts from 1, so ``/?p=5`` may lead to a post of another blog moved in
    before: the item is then known by its title among the posts imported from its own blog. Only then are titles
    searched, so a file of new items costs one look-up per address, not a scan of the blog per item.
    """
    taken_by_another_blog = False
    for address in addresses:
        existing = db.session.get(LegacyAddress, address)
        if existing is None:
            continue
        earlier = origin_of(existing.post_id)
        if earlier is None:  # imported before imports were recorded
            return db.session.get(Post, existing.post_id).title == title
        if earlier == origin:
            return True
        taken_by_another_blog = True
    if not taken_by_another_blog:
        return False
    namesakes = db.session.scalars(select(Post.id).where(Post.title == title))
    return any(origin_of(post_id) == origin for post_id in namesakes)


def _permalinks(link: str, title: str, run: _Run) -> list[str]:
    """Return the old addresses a post's link gives, as WordPress answered them.

    A plain permalink (``/blog/?p=123``) is the folder and its query: the folder alone is the blog's home page,
    not the post. A pretty one (``/blog/2019/05/slug/``) is its path; the query arguments of plugins are dropped.
    A malformed link (``http://[::1/x``) gives none, and is listed.
    """
    try:
        parts = urlsplit(link)
    except ValueError:
        run.summary.adjustments.append(
            f"The old address {link[:60]!r} of {title!r} is malformed; it does not redirect."
        )
        return []
    path = unquote(parts.path) or "/"
    query = dict(parse_qsl(parts.query))
    plain = [f"{path}?{name}={query[name]}" for name in LEGACY_QUERY_ARGS if query.get(name)]
    if plain:
        return plain[:1]
    return [] if path.rstrip("/") == run.home else [path]


def _claim(address: str, title: str, run: _Run) -> bool:
    """Take an old address for this item, unless it is too long or another post has it; say why not."""
    if len(address) > ADDRESS_MAX:
        run.summary.adjustments.append(
            f"The old address {address[:60]}… of {title!r} is longer than {ADDRESS_MAX} characters; "
            "it does not redirect."
        )
        return False
    holder = run.claimed.get(address)
    if holder is None:
        existing = db.session.get(LegacyAddress, address)
        holder = db.session.get(Post, existing.post_id).title if existing is not None else None
    if holder is not None:
        run.summary.adjustments.append(
            f"The old address {address} of {title!r} already leads to {holder!r}; it still does."
        )
        return False
    run.claimed[address] = title
    return True
