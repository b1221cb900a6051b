"""The page cache: readers' pages rendered once, served from a store every gunicorn worker shares.

A hit is answered by :class:`PageCacheMiddleware` before Flask runs at all, so a cached page costs about
what a "hello world" costs. Only anonymous readers are served from it: a request carrying any ``inkwell_``
cookie (a session, a login, a commenter's own details or held comments) is rendered for that person and
never stored.

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
import os
import secrets
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from cachelib.file import FileSystemCache
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
from werkzeug.http import parse_date
from werkzeug.http import parse_etags

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
ENVIRON_KEY = "inkwell.page_cache"
# The query arguments a public page reads; any other argument is rendered but not stored.
KNOWN_ARGS = frozenset({"page", "cpage", "q", "replyto"})
# Per-response headers that are not stored with a page.
UNSTORED_HEADERS = frozenset({"content-length", "x-request-id", "date", "server", "set-cookie"})
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
MAX_KNOWN_GENERATIONS = 10_000

TokenIssuer = Callable[[str], str]  # given the secret key, issue a token
_token_issuers: dict[str, TokenIssuer] = {}
_code_version = [""]
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
    _code_version[0] = code_version(Path(app.root_path))
    app.before_request(note_generations)
    app.after_request(finish_page)
    if config["PAGE_CACHE"]:
        app.wsgi_app = PageCacheMiddleware(app.wsgi_app, store=_store(app), secret_key=app.secret_key)


def code_version(root: Path) -> str:
    """Fingerprint the code, templates and static files, so pages cached by an older Inkwell are not served
    after an upgrade."""
    files = sorted([*root.glob("*.py"), *root.glob("templates/**/*"), *root.glob("static/**/*")])
    stamps = "|".join(f"{path}:{path.stat().st_mtime_ns}:{path.stat().st_size}" for path in files if path.is_file())
    return hashlib.blake2b(stamps.encode(), digest_size=8).hexdigest()


def _store(app: Flask | None = None) -> Any:
    """The cachelib backend itself (usable outside a Flask context, as the middleware needs)."""
    return (app or current_app).extensions["cache"][cache]


def token_kind(kind: str) -> Callable[[TokenIssuer], TokenIssuer]:
    """Register a function issuing a per-reader token that cached pages must not share."""

    def register(issue: TokenIssuer) -> TokenIssuer:
        _token_issuers[kind] = issue
        return issue

    return register


def fresh_token(kind: str) -> str:
    """Issue a token of ``kind`` for the page being rendered, remembered so cached copies get new ones."""
    token = _token_issuers[kind](current_app.secret_key)
    if "page_tokens" not in g:
        g.page_tokens = []
    g.page_tokens.append((token, kind))
    return token


def page_key(environ: dict[str, Any]) -> str | None:
    """Return the cache key of an anonymous GET of a page, or ``None`` when the request is not for the cache."""
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD") or COOKIE_PREFIX in environ.get("HTTP_COOKIE", ""):
        return None
    query = environ.get("QUERY_STRING", "")
    if query and not KNOWN_ARGS.issuperset(name for name, _ in parse_qsl(query, keep_blank_values=True)):
        return None
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    path = f"{environ.get('SCRIPT_NAME', '')}{environ['PATH_INFO']}?{query}"
    address = f"{_code_version[0]}|{environ['wsgi.url_scheme']}://{host}{path}"
    return PAGE_KEY + hashlib.blake2b(address.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


class PageCacheMiddleware:
    """Serve anonymous readers' pages from the store before Flask runs; store the pages Flask marks public.

    A stored page lists the generations it was rendered under; it is served only while they are all
    current, and each reader's copy gets fresh form tokens. Anything else goes to Flask.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], *, store: Any, secret_key: str) -> None:
        self.wsgi_app = wsgi_app
        self.store = store
        self.secret_key = secret_key
        self._generation_files: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self._tokens_of_second: tuple[int, dict[str, bytes]] = (0, {})

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        key = page_key(environ)
        if key is None:
            return self.wsgi_app(environ, start_response)
        entry = self._current_entry(key)
        if entry is not None:
            return self._serve(entry, environ, start_response)
        return self._render_and_store(key, environ, start_response)

    def _current_entry(self, key: str) -> dict[str, Any] | None:
        try:
            entry = self.store.get(key)
            if entry is None:
                return None
            generations = self._current_generations(list(entry["generations"]))
        except Exception as error:  # noqa: BLE001 (any store failure means: serve uncached)
            _warn(error)
            return None
        now = time.time()
        for (_, rendered_under), current in zip(entry["generations"].items(), generations, strict=True):
            if current is None or current[0] != rendered_under or (current[1] is not None and now >= current[1]):
                return None
        return entry

    def _current_generations(self, keys: list[str]) -> list[Any]:
        """Read the generations; from files, only those whose file changed since this worker last read it.

        Every page hit checks two generations: a stat is much cheaper than opening and unpickling a file,
        and a file is replaced (a new inode) whenever its generation changes.
        """
        if not isinstance(self.store, FileSystemCache):
            return list(self.store.get_many(*keys))
        return [self._generation_from_file(key) for key in keys]

    def _generation_from_file(self, key: str) -> Any:
        path = self.store._get_filename(key)  # cachelib 0.17's file for a key (pinned in requirements.txt)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        known = self._generation_files.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        value = self.store.get(key)
        if len(self._generation_files) >= MAX_KNOWN_GENERATIONS:
            self._generation_files.clear()
        self._generation_files[path] = (stamp, value)
        return value

    def _serve(self, entry: dict[str, Any], environ: dict[str, Any], start_response: Callable[..., Any]):
        headers = [*entry["headers"], ("X-Request-ID", _request_id(environ))]
        if _not_modified(entry, environ):
            start_response("304 NOT MODIFIED", [h for h in headers if h[0].lower() != "content-type"])
            return []
        body = self._with_fresh_tokens(entry["segments"], entry["kinds"])
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _with_fresh_tokens(self, segments: list[bytes], kinds: list[str]) -> bytes:
        """Put a new token of each kind between the stored page's segments.

        Tokens are signed timestamps to the second, so every reader in the same second gets the same ones:
        they are signed once a second.
        """
        tokens = self._tokens_now(set(kinds))
        parts = [segments[0]]
        for kind, segment in zip(kinds, segments[1:], strict=True):
            parts += (tokens[kind], segment)
        return b"".join(parts)

    def _tokens_now(self, kinds: set[str]) -> dict[str, bytes]:
        second = int(time.time())
        if self._tokens_of_second[0] != second or not kinds.issubset(self._tokens_of_second[1]):
            tokens = {kind: _token_issuers[kind](self.secret_key).encode() for kind in kinds}
            self._tokens_of_second = (second, tokens)
        return self._tokens_of_second[1]

    def _render_and_store(self, key: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, capture)
        pending = environ.get(ENVIRON_KEY)
        if pending is None or environ["REQUEST_METHOD"] != "GET" or not captured["status"].startswith("200"):
            return body
        if any(name.lower() == "set-cookie" for name, _ in captured["headers"]):
            return body
        content = _read_all(body)
        segments, kinds = _split_at_tokens(content, pending.pop("tokens"))
        entry = pending | {
            "segments": segments,
            "kinds": kinds,
            "headers": [(n, v) for n, v in captured["headers"] if n.lower() not in UNSTORED_HEADERS],
        }
        _store_set(self.store, key, entry, timeout=_seconds_left(pending.pop("expires_at", None)))
        return [content]


def _split_at_tokens(content: bytes, tokens: list[tuple[str, str]]) -> tuple[list[bytes], list[str]]:
    """Cut a page where its per-reader tokens are: ``segments`` around them, and the ``kinds`` between."""
    segments, kinds = [content], []
    for token, kind in tokens:
        cut_segments, cut_kinds = [], []
        for index, segment in enumerate(segments):
            pieces = segment.split(token.encode())
            cut_segments += pieces
            cut_kinds += [kind] * (len(pieces) - 1)
            if index < len(kinds):
                cut_kinds.append(kinds[index])
        segments, kinds = cut_segments, cut_kinds
    return segments, kinds


def _read_all(body: Iterable[bytes]) -> bytes:
    try:
        return b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _request_id(environ: dict[str, Any]) -> str:
    from app import REQUEST_ID

    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def _not_modified(entry: dict[str, Any], environ: dict[str, Any]) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return parse_etags(if_none_match).contains_weak(entry["etag"])
    since = parse_date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    return since is not None and since.timestamp() >= int(entry["last_modified"])


# Rendering, in Flask


def note_generations() -> None:
    """Before a cacheable page is rendered, read the generations it depends on (renewing missing ones)."""
    if not current_app.config["PAGE_CACHE"] or request.endpoint not in CACHED_ENDPOINTS:
        return
    if page_key(request.environ) is not None:
        g.page_generations = _generations(CACHED_ENDPOINTS[request.endpoint])


def finish_page(response: Response) -> Response:
    """Mark a freshly rendered anonymous page public (the middleware then stores it), or private."""
    if _is_public(response):
        etag, last_modified = _validators(response)
        response.set_etag(etag, weak=True)  # weak: each reader's form tokens differ, the page does not
        response.last_modified = last_modified
        response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL.format(
            seconds=current_app.config["PROXY_CACHE_SECONDS"]
        )
        response.vary.add("Cookie")
        if g.get("page_generations") is not None:
            request.environ[ENVIRON_KEY] = {
                "generations": g.page_generations,
                "tokens": g.get("page_tokens", []),
                "etag": etag,
                "last_modified": last_modified,
                "expires_at": g.get("page_expires_at"),
            }
        return response.make_conditional(request)
    if request.cookies or session.modified:
        response.headers.setdefault("Cache-Control", PRIVATE_CACHE_CONTROL)
    return response


def _is_public(response: Response) -> bool:
    return (
        request.endpoint in CACHED_ENDPOINTS
        and page_key(request.environ) is not None
        and response.status_code == 200
        and not response.direct_passthrough
        and "Set-Cookie" not in response.headers
        and not session.modified
    )


def _validators(response: Response) -> tuple[str, float]:
    """The ETag of the page without its per-reader tokens, and its Last-Modified (the view's, or now)."""
    template = response.get_data()
    for token, kind in g.get("page_tokens", []):
        template = template.replace(token.encode(), f"{{{{{kind}}}}}".encode())
    last_modified = response.last_modified.timestamp() if response.last_modified else time.time()
    return hashlib.blake2b(template, digest_size=16).hexdigest(), int(last_modified)


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


def _generations(scopes: Iterable[str]) -> dict[str, str] | None:
    """Return the current generation of each scope, renewing any missing or past a publication time."""
    keys = _generation_keys(scopes)
    store = _store()
    try:
        values = store.get_many(*keys)
    except Exception as error:  # noqa: BLE001
        _warn(error)
        return None
    generations = {}
    for key, value in zip(keys, values, strict=True):
        if value is None or (value[1] is not None and time.time() >= value[1]):
            value = _renew(store, key)
        generations[key] = value[0]
    return generations


def _renew(store: Any, key: str) -> tuple[str, float | None]:
    """Give ``key`` a new generation; the ``posts`` one also notes when the next scheduled post goes live."""
    next_publication = _next_scheduled_publication() if key == GENERATION_KEY + POSTS else None
    value = (secrets.token_hex(8), next_publication)
    _store_set(store, key, value, timeout=0)
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
        _store().delete_many(*(GENERATION_KEY + scope for scope in scopes))
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
        elif isinstance(instance, (Post, Tag, SlugRedirect, LegacyAddress)) or _shown_name_changed(instance):
            changed.add(POSTS)


def note_bulk_change(session: Session) -> None:
    """Make every cached page stale once ``session`` commits: for statements that bypass the ORM events."""
    session.info.setdefault("page_cache_changes", set()).update((POSTS, COMMENTS))


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
    if changed and has_app_context() and current_app.config["PAGE_CACHE"]:
        forget_generations(sorted(changed))


@event.listens_for(Session, "after_rollback")
def forget_after_rollback(session: Session) -> None:
    session.info.pop("page_cache_changes", None)


# The store, which may fail


def _store_set(store: Any, key: str, value: Any, timeout: int | None = None) -> None:
    try:
        store.set(key, value, timeout=timeout)
    except Exception as error:  # noqa: BLE001
        _warn(error)


def _warn(error: Exception) -> None:
    """Log a failing store once a minute, not once a request."""
    now = time.monotonic()
    if now - _last_warning[0] >= WARNING_INTERVAL or _last_warning[0] == 0.0:
        _last_warning[0] = now
        log.warning("Page cache unavailable, serving pages uncached: %s", error)
