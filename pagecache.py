"""The page cache: readers' pages rendered once, served from a store every gunicorn worker shares.

Only anonymous readers are served from it: a request carrying any ``inkwell_`` cookie (a session, a
login, a commenter's own details or held comments) is rendered for that person and never stored.

Invalidation is by generation. Every cached page's key includes the generations of what it shows:
``posts`` (every page: the sidebar lists recent posts), ``comments`` (listings show comment counts) or
``post:<slug>`` (one post's thread). A commit that changes a post, a tag or a visible comment gives the
matching generations new random values (see :func:`note_changes`), so old entries are never read again
and expire on their own. A scheduled post going live needs no commit: the ``posts`` generation carries
the time of the next scheduled publication and renews itself once that time has passed.

Per-reader pieces of a page (the comment form's signed tokens) are never shared: views issue them with
:func:`fresh_token`, the cache remembers where they are, and each reader gets new ones.

If the store fails (Redis stopped), pages are served uncached and a warning is logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import has_app_context
from flask import request
from flask import session
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from extensions import cache
from models import Comment
from models import CommentStatus
from models import LegacyAddress
from models import Post
from models import PostStatus
from models import SlugRedirect
from models import Tag
from models import User
from models import db
from models import now_utc

log = logging.getLogger(__name__)

COOKIE_PREFIX = "inkwell_"
PAGE_KEY = "inkwell:page:"
GENERATION_KEY = "inkwell:generation:"
POSTS, COMMENTS = "posts", "comments"
# The query arguments a public page reads; any other argument is rendered but not stored.
KNOWN_ARGS = frozenset({"page", "cpage", "q", "replyto"})
KEPT_HEADERS = ("Content-Type", "Link", "Content-Language")
# Endpoints whose anonymous GETs are cached, and the generations their pages depend on.
LISTING = (POSTS, COMMENTS)
ONE_POST = (POSTS, "post")
CACHED_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "blog.index": LISTING,
    "blog.show_tag": LISTING,
    "blog.list_tags": LISTING,
    "blog.archive": LISTING,
    "blog.archive_month": LISTING,
    "blog.search_posts": LISTING,
    "blog.show_post": ONE_POST,
    "feeds.posts_feed": (POSTS,),
    "feeds.tag_feed": (POSTS,),
    "feeds.post_comments_feed": ONE_POST,
    "feeds.sitemap": (POSTS,),
    "feeds.sitemap_page": (POSTS,),
}
PUBLIC_CACHE_CONTROL = "public, max-age=0, must-revalidate, s-maxage={seconds}"
PRIVATE_CACHE_CONTROL = "private, no-cache"
WARNING_INTERVAL = 60.0

_token_issuers: dict[str, Callable[[], str]] = {}
_last_warning = [0.0]


def init_app(app: Flask) -> None:
    """Choose the store (files in the instance folder, or Redis with ``REDIS_URL``) and hook the cache in."""
    config = app.config
    if config["REDIS_URL"]:
        config.setdefault("CACHE_TYPE", "RedisCache")
        config.setdefault("CACHE_REDIS_URL", config["REDIS_URL"])
        config.setdefault("CACHE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    else:
        config.setdefault("CACHE_TYPE", "FileSystemCache")
        config.setdefault("CACHE_DIR", f"{app.instance_path}/cache")
        config.setdefault("CACHE_THRESHOLD", 5000)
    config.setdefault("CACHE_DEFAULT_TIMEOUT", 24 * 3600)
    cache.init_app(app)
    app.before_request(serve_cached_page)
    app.after_request(finish_page)


def token_kind(kind: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register a function issuing a per-reader token that cached pages must not share."""

    def register(issue: Callable[[], str]) -> Callable[[], str]:
        _token_issuers[kind] = issue
        return issue

    return register


def fresh_token(kind: str) -> str:
    """Issue a token of ``kind`` for the page being rendered, remembered so cached copies get new ones."""
    token = _token_issuers[kind]()
    if "page_tokens" not in g:
        g.page_tokens = []
    g.page_tokens.append((token, kind))
    return token


# Serving


def serve_cached_page() -> Response | None:
    """Answer an anonymous reader from the cache when the page is there (before the view runs)."""
    key = _page_key()
    if key is None:
        return None
    g.page_cache_key = key
    entry = _store_get(key)
    if entry is None:
        return None
    g.page_cache_hit = True
    return _response_from(entry)


def finish_page(response: Response) -> Response:
    """Store a freshly rendered anonymous page, and tell browsers and proxies how they may keep it."""
    if g.get("page_cache_hit"):
        return response
    if _is_public(response):
        entry = _entry_from(response)
        key = g.get("page_cache_key")
        if key is not None:
            _store_set(key, entry, timeout=_seconds_left(g.get("page_expires_at")))
        _add_validators(response, entry)
        return response.make_conditional(request)
    if request.cookies or session.modified:
        response.headers.setdefault("Cache-Control", PRIVATE_CACHE_CONTROL)
    return response


def _is_cacheable_request() -> bool:
    return (
        request.method in ("GET", "HEAD")
        and request.endpoint in CACHED_ENDPOINTS
        and not any(name.startswith(COOKIE_PREFIX) for name in request.cookies)
        and KNOWN_ARGS.issuperset(request.args)
    )


def _is_public(response: Response) -> bool:
    return (
        _is_cacheable_request()
        and response.status_code == 200
        and not response.direct_passthrough
        and "Set-Cookie" not in response.headers
        and not session.modified
    )


def _page_key() -> str | None:
    if not current_app.config["PAGE_CACHE"] or not _is_cacheable_request():
        return None
    generations = _generations(CACHED_ENDPOINTS[request.endpoint])
    if generations is None:
        return None
    address = f"{request.host_url}|{request.full_path}|{'|'.join(generations)}"
    return PAGE_KEY + hashlib.blake2b(address.encode(), digest_size=16).hexdigest()


def _entry_from(response: Response) -> dict[str, Any]:
    body = response.get_data()
    tokens = g.get("page_tokens", [])
    template = body
    for token, kind in tokens:
        template = template.replace(token.encode(), f"{{{{{kind}}}}}".encode())
    return {
        "body": body,
        "tokens": tokens,
        "status": response.status_code,
        "headers": [(name, response.headers[name]) for name in KEPT_HEADERS if name in response.headers],
        "etag": hashlib.blake2b(template, digest_size=16).hexdigest(),
        "last_modified": response.last_modified or time.time(),
    }


def _response_from(entry: dict[str, Any]) -> Response:
    body = entry["body"]
    for token, kind in entry["tokens"]:
        body = body.replace(token.encode(), _token_issuers[kind]().encode())
    response = Response(body, status=entry["status"], headers=entry["headers"])
    _add_validators(response, entry)
    return response.make_conditional(request)


def _add_validators(response: Response, entry: dict[str, Any]) -> None:
    """A weak ETag (the per-reader tokens differ, the page does not), Last-Modified, and a proxy lifetime.

    Last-Modified is the view's own (a feed's newest entry) or the time the page was rendered.
    """
    response.set_etag(entry["etag"], weak=True)
    response.last_modified = entry["last_modified"]
    seconds = current_app.config["PROXY_CACHE_SECONDS"]
    response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL.format(seconds=seconds)
    response.vary.add("Cookie")


def _seconds_left(expires_at: float | None) -> int | None:
    """The store's timeout for an entry: the default, or less when the page changes at a known time."""
    if expires_at is None:
        return None
    return max(1, int(expires_at - time.time()))


def expire_page_at(moment: float) -> None:
    """Keep the page being rendered no later than ``moment`` (a Unix time), e.g. when its comments close."""
    current = g.get("page_expires_at")
    g.page_expires_at = moment if current is None else min(current, moment)


# Generations


def _generation_keys(scopes: Iterable[str]) -> list[str]:
    keys = []
    for scope in scopes:
        if scope == "post":
            scope = f"post:{(request.view_args or {}).get('slug', '')}"
        keys.append(GENERATION_KEY + scope)
    return keys


def _generations(scopes: Iterable[str]) -> list[str] | None:
    """Return the current generation of each scope, renewing any missing or past a publication time."""
    keys = _generation_keys(scopes)
    values = _store_get_many(keys)
    if values is None:
        return None
    generations = []
    for key, value in zip(keys, values, strict=True):
        if value is None or (value[1] is not None and time.time() >= value[1]):
            value = _renew(key)
        generations.append(value[0])
    return generations


def _renew(key: str) -> tuple[str, float | None]:
    """Give ``key`` a new generation; the ``posts`` one also notes when the next scheduled post goes live."""
    next_publication = _next_scheduled_publication() if key == GENERATION_KEY + POSTS else None
    value = (secrets.token_hex(8), next_publication)
    _store_set(key, value, timeout=0)
    return value


def _next_scheduled_publication() -> float | None:
    query = select(func.min(Post.published_at)).where(
        Post.status == PostStatus.published, Post.published_at > now_utc()
    )
    moment = db.session.scalar(query)
    return moment.timestamp() if moment is not None else None


def forget_generations(scopes: Iterable[str]) -> None:
    """Make every cached page that shows one of ``scopes`` stale (after a commit that changed them).

    The generations are deleted rather than renewed here, as no SQL can run once a session has committed;
    the next reader renews them.
    """
    try:
        cache.delete_many(*(GENERATION_KEY + scope for scope in scopes))
    except Exception as error:  # noqa: BLE001
        _warn(error)


@event.listens_for(Session, "after_flush")
def note_changes(session: Session, context: Any) -> None:
    """Note which generations this transaction's changes affect; they are renewed once it commits."""
    changed: set[str] = session.info.setdefault("page_cache_changes", set())
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Comment):
            if _was_or_is_visible(instance):
                post = session.get(Post, instance.post_id)
                changed.update((COMMENTS, f"post:{post.slug}" if post is not None else POSTS))
        elif isinstance(instance, (Post, Tag, User, SlugRedirect, LegacyAddress)):
            changed.add(POSTS)


def _was_or_is_visible(comment: Comment) -> bool:
    history = inspect(comment).attrs.status.history
    return CommentStatus.approved in (*history.added, *history.unchanged, *history.deleted)


@event.listens_for(Session, "after_commit")
def renew_after_commit(session: Session) -> None:
    changed = session.info.pop("page_cache_changes", None)
    if changed and has_app_context() and current_app.config["PAGE_CACHE"]:
        forget_generations(sorted(changed))


@event.listens_for(Session, "after_rollback")
def forget_after_rollback(session: Session) -> None:
    session.info.pop("page_cache_changes", None)


# The store, which may fail


def _store_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception as error:  # noqa: BLE001 (any store failure means: serve uncached)
        _warn(error)
        return None


def _store_get_many(keys: list[str]) -> list[Any] | None:
    try:
        return list(cache.get_many(*keys))
    except Exception as error:  # noqa: BLE001
        _warn(error)
        return None


def _store_set(key: str, value: Any, timeout: int | None = None) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as error:  # noqa: BLE001
        _warn(error)


def _warn(error: Exception) -> None:
    """Log a failing store once a minute, not once a request."""
    now = time.monotonic()
    if now - _last_warning[0] >= WARNING_INTERVAL or _last_warning[0] == 0.0:
        _last_warning[0] = now
        log.warning("Page cache unavailable, serving pages uncached: %s", error)
