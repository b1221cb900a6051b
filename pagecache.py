"""When cached pages change: generations, renewed after the commits that change what a page shows, and which
stores hold them and the pages (the stores themselves: cachestores.py). pageserver.py serves the pages; it imports
this module, never the reverse.

Invalidation is by generation. Every cached page's key includes the generations of what it shows:
``settings`` and ``posts`` (every page: the title and the sidebar's recent posts), ``comments`` (listings show
comment counts) or ``post:<slug>`` (one post's thread, which fragments.py also keeps by itself, beside
``threads``, which only changes that bypass the ORM renew). A commit that changes a post, a tag, a visible comment
or a setting gives the matching generations new random values (see :func:`note_changes`), so old entries are
never read again and expire on their own; the ``settings`` generation also tells each worker to read the
settings saved at /admin/settings again (stored_settings.py). A scheduled post going live needs no commit: the
``posts`` generation carries the time of the next scheduled publication and renews itself once that time has
passed.

Per-reader pieces of a page (the comment form's signed tokens) are never shared: views issue them with
:func:`fresh_token`, the cache remembers where they are, and each reader gets new ones.

Only addresses whose number is bounded by the blog's content are stored (a page number past the end is a 404);
search results and unknown query arguments are answered but never stored. The generations live apart from the
pages (their own folder, or Redis keys without an expiry), and the page files are spread over folders that are
each pruned by themselves, so a flood of distinct addresses costs its own requests and evicts no generation.

If the store fails (Redis stopped), pages are served uncached and a warning is logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from cachelib.file import FileSystemCache
from flask import Flask
from flask import current_app
from flask import g
from flask import has_app_context
from flask import request
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from account.tables import User
from admin.tables import SiteSetting
from admin.tables import Upload
from cachestores import store_set
from cachestores import warn_store_failure
from database import db
from extensions import cache
from models import Comment
from models import CommentStatus
from models import Post
from models import Tag
from personal import hole_marker
from personal import hole_tag
from slugs import LegacyAddress
from slugs import SlugRedirect
from slugs import TagRedirect

log = logging.getLogger(__name__)

GENERATION_KEY = "inkwell:generation:"
POSTS, COMMENTS, SITE, SETTINGS = "posts", "comments", "site", "settings"
THREADS = "threads"  # every post's thread of comments, renewed by changes that bypass the ORM (fragments.py)
# What a post's own parts show from rows other than the post (its tags, images and author's name), renewed with
# ``posts`` by changes to those rows but not by a new or changed post: the kept article of every other post
# stays (fragments.py).
POST_DETAILS = "post-details"
KEY_ENVIRON = "inkwell.page_key"
# app.extensions: the page cache middleware's reader of generations, which reads a file only after it changed
GENERATION_READER = "inkwell_generation_reader"
PAGE_VERSION = "inkwell_page_version"  # app.extensions: the code's and settings' fingerprint, set by pageserver.py
# The query arguments a stored page may have, by endpoint: page numbers only, which answer 404 past the last
# page, so the addresses stored are bounded by the blog's content. Pages with search words, ``replyto`` or any
# other argument are answered but never stored: nobody can fill the store with addresses of their making.
PAGE_NUMBER = frozenset({"page"})
STORED_ARGS: dict[str, frozenset[str]] = {
    "blog.index": PAGE_NUMBER,
    "blog.show_tag": PAGE_NUMBER,
    "blog.list_tags": frozenset(),
    "blog.archive": frozenset(),
    "blog.archive_month": PAGE_NUMBER,
    "blog.show_post": frozenset({"cpage"}),
    "blog.show_page": frozenset(),
    "feeds.posts_feed": frozenset(),
    "feeds.tag_feed": frozenset(),
    "feeds.post_comments_feed": frozenset(),
    "feeds.sitemap": frozenset(),
    "feeds.sitemap_page": frozenset(),
}
STORED_ARG_NAMES = frozenset().union(*STORED_ARGS.values())
STORED_ARG_VALUE = re.compile(r"[1-9][0-9]{0,5}")  # as reading.requested_page reads it, without leading zeros
# Endpoints whose anonymous GETs are cached, and the generations their pages depend on.
LISTING = (SITE, SETTINGS, POSTS, COMMENTS)
ONE_POST = (SITE, SETTINGS, POSTS, "post")
# A post's page also shows what fragments.py keeps under ``threads`` and ``post-details``: they are part of its
# generations, so that ``posts`` is the only one of them it shows beside its own content (``SHOWN_BESIDE``).
POST_PAGE = (*ONE_POST, THREADS, POST_DETAILS)
WHOLE_BLOG = (SITE, SETTINGS, POSTS)
CACHED_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "blog.index": LISTING,
    "blog.show_tag": LISTING,
    "blog.list_tags": LISTING,
    "blog.archive": LISTING,
    "blog.archive_month": LISTING,
    "blog.search_posts": LISTING,
    "blog.show_post": POST_PAGE,
    "blog.show_page": WHOLE_BLOG,  # no comments: the page and the "Recent posts" beside it
    "feeds.posts_feed": WHOLE_BLOG,
    "feeds.tag_feed": WHOLE_BLOG,
    "feeds.post_comments_feed": ONE_POST,
    "feeds.sitemap": WHOLE_BLOG,
    "feeds.sitemap_page": WHOLE_BLOG,
}
# The generations a page shows only beside its own content, by endpoint: a post's page shows the other posts in
# its sidebar ("Recent posts") and its links to the next and previous posts, nothing else of them. After a change
# to those alone (a post published, edited or taken down elsewhere), the copy from before may be served for a
# moment while one request renders the new one (pageserver.py); after any other change, the next page shows it.
SHOWN_BESIDE: dict[str, frozenset[str]] = {"blog.show_post": frozenset({POSTS})}
# Rows whose every change shows on pages of posts (a tag's name, description or old address, too).
# An image's row too: pages show its description, size and copies (responsive.py), and none once it is trashed.
ADDRESSED_ROWS = (Post, Tag, SlugRedirect, TagRedirect, LegacyAddress, Upload)

TokenIssuer = Callable[[str], str]  # given the secret key, issue a token
token_issuers: dict[str, TokenIssuer] = {}


def init_app(app: Flask) -> None:
    """Choose the stores (files in the instance folder, or Redis with ``REDIS_URL``) and read the generations
    of the pages to be stored (pageserver.init_app then serves them)."""
    config = app.config
    if config["REDIS_URL"]:
        config.setdefault("CACHE_TYPE", "RedisCache")
        config.setdefault("CACHE_REDIS_URL", config["REDIS_URL"])
        config.setdefault("CACHE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    else:
        config.setdefault("CACHE_TYPE", "cachestores.BoundedFileSystemCache")
        config.setdefault("CACHE_DIR", f"{app.instance_path}/cache/pages")
        config.setdefault("CACHE_GENERATIONS_DIR", f"{app.instance_path}/cache/generations")
        config.setdefault("CACHE_THRESHOLD", 5000)
    config.setdefault("CACHE_DEFAULT_TIMEOUT", 24 * 3600)
    cache.init_app(app)
    app.extensions["inkwell_generations"] = _generation_store_for(app)
    app.before_request(note_generations)
    app.add_template_global(hole)
    app.add_template_global(fresh_token)


def page_store(app: Flask | None = None) -> Any:
    """The pages' cachelib backend itself (usable outside a Flask context, as the middleware needs)."""
    return (app or current_app).extensions["cache"][cache]


def generation_store(app: Flask | None = None) -> Any:
    """Where the generations live: never in the pages' folders, whose entries are evicted."""
    return (app or current_app).extensions["inkwell_generations"]


def _generation_store_for(app: Flask) -> Any:
    """Redis keeps the generations beside the pages (pages expire, generations never do, so Redis's
    ``volatile-*`` eviction policies evict pages only); files keep them in a folder of their own that is never
    pruned. Their number is bounded: a few, and one per post that exists."""
    pages = page_store(app)
    if not isinstance(pages, FileSystemCache):
        return pages
    directory = app.config.get("CACHE_GENERATIONS_DIR", f"{app.instance_path}/cache/generations")
    return FileSystemCache(directory, threshold=0, default_timeout=0)


def note_version(store: Any, version: str) -> None:
    """Renew the ``site`` generation when this version of the code and settings is new to the store.

    Every page depends on it, so each page's ``Last-Modified`` moves forward past the change too.
    """
    key = GENERATION_KEY + SITE
    try:
        current = store.get(key)
        if not is_generation(current) or current[0] != version:
            store.set(key, (version, None, time.time()), timeout=0)
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)


def token_kind(kind: str) -> Callable[[TokenIssuer], TokenIssuer]:
    """Register a function issuing a per-reader token that cached pages must not share."""

    def register(issue: TokenIssuer) -> TokenIssuer:
        token_issuers[kind] = issue
        return issue

    return register


def fresh_token(kind: str) -> str:
    """Issue a token of ``kind`` for the page being rendered, remembered so cached copies get new ones.

    One token of each kind a page: a thread's fifty "Delete" buttons carry the comment form's, and the page is
    cut at one token, not fifty.
    """
    if "page_tokens" not in g:
        g.page_tokens = []
    issued = next((token for token, issued_kind in g.page_tokens if issued_kind == kind), None)
    if issued is None:
        issued = token_issuers[kind](current_app.secret_key)
        g.page_tokens.append((issued, kind))
    return issued


def hole(name: str) -> Markup:
    """Mark where a personal part of the page goes (personal.py): filled for each reader as the page leaves."""
    return Markup(hole_marker(site_hole_tag(), name))


def site_hole_tag() -> str:
    """This site's hole tag (personal.hole_tag), derived once per app."""
    tag = current_app.extensions.get("inkwell_hole_tag")
    if tag is None:
        tag = current_app.extensions["inkwell_hole_tag"] = hole_tag(current_app.secret_key)
    return tag


# Rendering, in Flask


def note_generations() -> None:
    """Before a page to be stored is rendered, read the generations it depends on (renewing missing ones)."""
    g.pop("generations_read", None)  # by an earlier request sharing this app context (current_generations)
    if request.environ.get(KEY_ENVIRON) is None or not _is_stored_address():
        return
    values = _generations(CACHED_ENDPOINTS[request.endpoint])
    g.page_read_at = time.time()
    if values is not None:
        g.page_generations = {key: value[0] for key, value in values.items()}
        g.page_shown_beside = [GENERATION_KEY + scope for scope in SHOWN_BESIDE.get(request.endpoint, ())]
        g.page_last_modified = max(value[2] for value in values.values())


def _is_stored_address() -> bool:
    """Whether this endpoint's page is stored with these query arguments (see ``STORED_ARGS``)."""
    return request.endpoint in STORED_ARGS and STORED_ARGS[request.endpoint].issuperset(request.args)


def page_is_of_post(post_id: int) -> None:
    """Note that the page being rendered shows this post's comments: a browser told it has comments awaiting
    moderation on the post is never served the shared copy (personal.py)."""
    g.page_post_id = post_id


def page_changes_at(moment: float) -> None:
    """Note that the page being rendered changes (or changed) at ``moment`` (a Unix time), e.g. when its
    comments close: a cached copy is kept no later than that, and ``Last-Modified`` is no earlier once past."""
    if moment > time.time():
        current = g.get("page_expires_at")
        g.page_expires_at = moment if current is None else min(current, moment)
    else:
        g.page_changed_at = max(g.get("page_changed_at", moment), moment)


# Generations


def _generation_keys(scopes: Iterable[str]) -> list[str]:
    keys = []
    for scope in scopes:
        if scope == "post":
            scope = f"post:{(request.view_args or {}).get('slug', '')}"
        keys.append(GENERATION_KEY + scope)
    return keys


Generation = tuple[str, float | None, float]  # (value, time of the next scheduled publication, renewed at)


def is_generation(value: Any) -> bool:
    """Whether a value read from the store is a generation (a missing or foreign one is not)."""
    return isinstance(value, tuple) and len(value) == 3


def _generations(
    scopes: Iterable[str], *, renewals_kept: bool = False, renew: bool = True
) -> dict[str, Generation] | None:
    """Return the current generation of each scope, renewing any missing or past a publication time (or, unless
    ``renew``, returning ``None`` then, as when the store fails).

    A post's generation renewed for a page that is not stored is forgotten after the request (a made-up address)
    unless ``renewals_kept``.
    """
    keys = _generation_keys(scopes)
    store = generation_store()
    read = current_app.extensions.get(GENERATION_READER)
    try:
        values = read(keys) if read is not None else store.get_many(*keys)
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)
        return None
    generations = {}
    for key, value in zip(keys, values, strict=True):
        if not is_generation(value) or (value[1] is not None and time.time() >= value[1]):
            if not renew:
                return None
            value = _renew(store, key)
            if not renewals_kept:
                g.setdefault("page_renewed", []).append(key)
        generations[key] = value
    return generations


def _renew(store: Any, key: str) -> Generation:
    """Give ``key`` a new generation; the ``posts`` one also notes when the next scheduled post goes live."""
    next_publication = _next_scheduled_publication() if key == GENERATION_KEY + POSTS else None
    value = (secrets.token_hex(8), next_publication, time.time())
    store_set(store, key, value, timeout=0)
    return value


def current_generations(scopes: Iterable[str], *, renew: bool = True) -> list[str] | None:
    """Return the current generation of each scope (``post:<slug>`` for a post's), renewing missing ones, or
    ``None`` when the store fails (or, unless ``renew``, when one is missing): for pieces of the pages of posts
    that exist (fragments.py); ``renew=False`` before a post is known to exist, so that made-up addresses cannot
    grow the generations.

    Those this request read already (for its page, :func:`note_generations`, or another piece) are not read again.
    """
    keys = [GENERATION_KEY + scope for scope in scopes]
    known = g.get("page_generations") or {}
    read = g.setdefault("generations_read", {})  # by this function, once a request: a page has a few pieces
    missing = [key[len(GENERATION_KEY) :] for key in keys if key not in known and key not in read]
    values = _generations(missing, renewals_kept=True, renew=renew) if missing else {}
    if values is None:
        return None
    read.update((key, value[0]) for key, value in values.items())
    return [known.get(key) or read[key] for key in keys]


def generation_of(scope: str) -> str | None:
    """Return the current generation of a scope that is not a post's (renewing it when missing), or ``None``
    when the store fails; remembered for the request's pieces (:func:`current_generations`)."""
    store = generation_store()
    key = GENERATION_KEY + scope
    try:
        value = store.get(key)
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)
        return None
    generation = (value if is_generation(value) else _renew(store, key))[0]
    g.setdefault("generations_read", {})[key] = generation
    return generation


def forget_unused_generations() -> None:
    """Delete the one-post generations this request made for a page it did not store (a 404 for a slug that
    does not exist), so that made-up addresses cannot grow the generations, which are never evicted."""
    unused = [key for key in g.get("page_renewed", []) if key.startswith(GENERATION_KEY + "post:")]
    if unused:
        try:
            generation_store().delete_many(*unused)
        except Exception as error:  # noqa: BLE001
            warn_store_failure(error)


def _next_scheduled_publication() -> float | None:
    query = select(func.min(Post.published_at)).where(Post.is_scheduled)
    moment = db.session.scalar(query)
    return moment.timestamp() if moment is not None else None


def forget_generations(scopes: Iterable[str]) -> None:
    """Make every cached page that shows one of ``scopes`` stale (after a commit that changed them).

    The generations are deleted rather than renewed here, as no SQL can run once a session has committed;
    the next reader renews them.
    """
    try:
        generation_store().delete_many(*(GENERATION_KEY + scope for scope in scopes))
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)


@event.listens_for(Session, "after_flush")
def note_changes(session: Session, context: Any) -> None:
    """Note which generations this transaction's changes affect; they are renewed once it commits."""
    changed: set[str] = session.info.setdefault("page_cache_changes", set())
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Comment):
            if _was_or_is_visible(instance):
                _note_comments_of(session, instance.post_id, changed)
        elif isinstance(instance, ADDRESSED_ROWS) or _shown_name_changed(instance):
            changed.add(POSTS)
            if isinstance(instance, Post):
                changed.update(f"post:{slug}" for slug in _slugs_of(instance))
            else:
                changed.add(POST_DETAILS)
        elif isinstance(instance, SiteSetting):
            changed.add(SETTINGS)


def note_new_comment(session: Session, comment: Comment) -> None:
    """Note the generations a comment inserted without a flush (database.insert_row) affects, as the flush would."""
    if comment.status == CommentStatus.approved:
        _note_comments_of(session, comment.post_id, session.info.setdefault("page_cache_changes", set()))


def _note_comments_of(session: Session, post_id: int, changed: set[str]) -> None:
    """Listings show comment counts; the post's page shows its comments (every post page, if it is gone)."""
    post = session.get(Post, post_id)
    changed.update((COMMENTS, f"post:{post.slug}" if post is not None else POSTS))


def note_bulk_change(session: Session) -> None:
    """Make every cached page and thread stale once ``session`` commits: for statements that bypass the ORM events."""
    session.info.setdefault("page_cache_changes", set()).update((POSTS, COMMENTS, THREADS, POST_DETAILS))


def _slugs_of(post: Post) -> set[str]:
    """The post's slug and the one it had before this transaction: its thread is kept under either (fragments.py)."""
    history = inspect(post).attrs.slug.history
    return {slug for slug in (*history.added, *history.unchanged, *history.deleted) if slug}


def _shown_name_changed(instance: object) -> bool:
    """An author's name shows on pages; their password, logins and lock-outs do not."""
    if not isinstance(instance, User):
        return False
    state = inspect(instance)
    return state.pending or state.deleted or state.attrs.display_name.history.has_changes()


def _was_or_is_visible(comment: Comment) -> bool:
    history = inspect(comment).attrs.status.history
    return CommentStatus.approved in (*history.added, *history.unchanged, *history.deleted)


@event.listens_for(Session, "after_commit")
def renew_after_commit(session: Session) -> None:
    changed = session.info.pop("page_cache_changes", None)
    if changed and has_app_context() and not current_app.config["PAGE_CACHE"]:
        changed &= {SETTINGS}  # the workers' copies of the settings are renewed by it, pages cached or not
    if changed and has_app_context():
        forget_generations(sorted(changed))


@event.listens_for(Session, "after_rollback")
def forget_after_rollback(session: Session) -> None:
    session.info.pop("page_cache_changes", None)
