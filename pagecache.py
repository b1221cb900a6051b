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

Only addresses whose number is bounded by the blog's content are stored (a page number past the end is a 404);
search results and unknown query arguments are answered but never stored. The generations live apart from the
pages (their own folder, or Redis keys without an expiry), and the page files are spread over folders that are
each pruned by themselves, so a flood of distinct addresses costs its own requests and evicts no generation.

Pages carry the fingerprint of the code and of the settings in their key, so a changed setting is never shown
from a page cached under the old one. ``Last-Modified`` is when a page's generations last changed, so it moves
forward whenever what the page shows changes, even when a comment disappears from it.

If the store fails (Redis stopped), pages are served uncached and a warning is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import struct
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
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
from flask_caching.backends.filesystemcache import FileSystemCache as FlaskFileSystemCache
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.http import http_date
from werkzeug.http import parse_date
from werkzeug.http import parse_etags

from extensions import cache
from models import Comment
from models import CommentStatus
from models import LegacyAddress
from models import Post
from models import SlugRedirect
from models import Tag
from models import User
from models import db
from requestid import request_id_from

log = logging.getLogger(__name__)

COOKIE_PREFIX = "inkwell_"
PAGE_KEY = "inkwell:page:"
GENERATION_KEY = "inkwell:generation:"
POSTS, COMMENTS, SITE = "posts", "comments", "site"
ENVIRON_KEY = "inkwell.page_cache"
KEY_ENVIRON = "inkwell.page_key"
# The query arguments a public page reads; a page with any other argument is answered as private.
KNOWN_ARGS = frozenset({"page", "cpage", "q", "replyto"})
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
    "feeds.posts_feed": frozenset(),
    "feeds.tag_feed": frozenset(),
    "feeds.post_comments_feed": frozenset(),
    "feeds.sitemap": frozenset(),
    "feeds.sitemap_page": frozenset(),
}
STORED_ARG_NAMES = frozenset().union(*STORED_ARGS.values())
STORED_ARG_VALUE = re.compile(r"[1-9][0-9]{0,5}")  # as reading.requested_page reads it, without leading zeros
# Settings whose values are secret and never shape a page: left out of the settings' fingerprint.
SECRET_SETTING_WORDS = ("SECRET", "PASSWORD")
# Per-response headers that are not stored with a page.
UNSTORED_HEADERS = frozenset({"content-length", "x-request-id", "date", "server", "set-cookie", "last-modified"})
# Endpoints whose anonymous GETs are cached, and the generations their pages depend on.
LISTING = (SITE, POSTS, COMMENTS)
ONE_POST = (SITE, POSTS, "post")
CACHED_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "blog.index": LISTING,
    "blog.show_tag": LISTING,
    "blog.list_tags": LISTING,
    "blog.archive": LISTING,
    "blog.archive_month": LISTING,
    "blog.search_posts": LISTING,
    "blog.show_post": ONE_POST,
    "feeds.posts_feed": (SITE, POSTS),
    "feeds.tag_feed": (SITE, POSTS),
    "feeds.post_comments_feed": ONE_POST,
    "feeds.sitemap": (SITE, POSTS),
    "feeds.sitemap_page": (SITE, POSTS),
}
PUBLIC_CACHE_CONTROL = "public, max-age=0, must-revalidate, s-maxage={seconds}"
PRIVATE_CACHE_CONTROL = "private, no-cache"
WARNING_INTERVAL = 60.0
MAX_KNOWN_GENERATIONS = 10_000

TokenIssuer = Callable[[str], str]  # given the secret key, issue a token
_token_issuers: dict[str, TokenIssuer] = {}
_last_warning = [0.0]


def init_app(app: Flask) -> None:
    """Choose the stores (files in the instance folder, or Redis with ``REDIS_URL``) and hook the cache in."""
    config = app.config
    if config["REDIS_URL"]:
        config.setdefault("CACHE_TYPE", "RedisCache")
        config.setdefault("CACHE_REDIS_URL", config["REDIS_URL"])
        config.setdefault("CACHE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    else:
        config.setdefault("CACHE_TYPE", "pagecache.BoundedFileSystemCache")
        config.setdefault("CACHE_DIR", f"{app.instance_path}/cache/pages")
        config.setdefault("CACHE_GENERATIONS_DIR", f"{app.instance_path}/cache/generations")
        config.setdefault("CACHE_THRESHOLD", 5000)
    config.setdefault("CACHE_DEFAULT_TIMEOUT", 24 * 3600)
    cache.init_app(app)
    app.extensions["inkwell_generations"] = _generation_store_for(app)
    app.before_request(note_generations)
    app.after_request(finish_page)
    if config["PAGE_CACHE"]:
        version = page_version(app)
        _note_version(_generation_store(app), version)
        app.wsgi_app = PageCacheMiddleware(
            app.wsgi_app,
            store=_store(app),
            generations=_generation_store(app),
            secret_key=app.secret_key,
            version=version,
            site_url=config["SITE_URL"],
        )


def page_version(app: Flask) -> str:
    """Fingerprint what shapes every page besides the database: the code and the settings."""
    return code_version(Path(app.root_path)) + settings_version(app.config)


def code_version(root: Path) -> str:
    """Fingerprint the code, templates and static files, so pages cached by an older Inkwell are not served
    after an upgrade."""
    files = sorted([*root.glob("*.py"), *root.glob("templates/**/*"), *root.glob("static/**/*")])
    stamps = "|".join(f"{path}:{path.stat().st_mtime_ns}:{path.stat().st_size}" for path in files if path.is_file())
    return hashlib.blake2b(stamps.encode(), digest_size=8).hexdigest()


def settings_version(config: Mapping[str, Any]) -> str:
    """Fingerprint the settings (title, moderation, closing, ...), so a restart with a changed one serves no page
    cached under the old value. Every plain setting counts, but the secret ones, which shape no page."""
    plain = (str, int, float, bool, type(None))
    settings = sorted(
        (name, value)
        for name, value in config.items()
        if isinstance(value, plain) and not any(word in name for word in SECRET_SETTING_WORDS)
    )
    return hashlib.blake2b(repr(settings).encode(), digest_size=8).hexdigest()


def _store(app: Flask | None = None) -> Any:
    """The pages' cachelib backend itself (usable outside a Flask context, as the middleware needs)."""
    return (app or current_app).extensions["cache"][cache]


def _generation_store(app: Flask | None = None) -> Any:
    """Where the generations live: never in the pages' folders, whose entries are evicted."""
    return (app or current_app).extensions["inkwell_generations"]


def _generation_store_for(app: Flask) -> Any:
    """Redis keeps the generations beside the pages (pages expire, generations never do, so Redis's
    ``volatile-*`` eviction policies evict pages only); files keep them in a folder of their own that is never
    pruned. Their number is bounded: three, and one per post that exists."""
    pages = _store(app)
    if not isinstance(pages, FileSystemCache):
        return pages
    directory = app.config.get("CACHE_GENERATIONS_DIR", f"{app.instance_path}/cache/generations")
    return FileSystemCache(directory, threshold=0, default_timeout=0)


class BoundedFileSystemCache(FlaskFileSystemCache):
    """Flask-Caching's file cache, spread over 256 folders that are each kept under their share of the threshold.

    cachelib's own threshold keeps a count in a file shared by every worker and, once past it, reads every file
    of the cache on every store, evicting the entries that never expire first. Here a store looks only at its
    own folder, of at most ``threshold / 256`` entries, so it costs the same whether the cache holds ten pages
    or a million addresses were tried.
    """

    FOLDERS = 256

    def __init__(self, cache_dir: str, threshold: int = 500, *args: Any, **kwargs: Any) -> None:
        super().__init__(cache_dir, 0, *args, **kwargs)  # no shared count, no scan of the whole cache
        self._folder_limit = -(-threshold // self.FOLDERS) if threshold else 0

    def _get_filename(self, key: str) -> str:
        flat = super()._get_filename(key)
        directory, name = os.path.split(flat)
        return os.path.join(directory, name[:2], name)

    def set(self, key: str, value: Any, timeout: int | None = None, mgmt_element: bool = False) -> bool:
        filename = self._get_filename(key)
        folder = os.path.dirname(filename)
        try:
            os.makedirs(folder, exist_ok=True)
            if self._folder_limit and not os.path.exists(filename):
                self._make_room(folder)
        except OSError:
            log.warning("Cannot prepare the page cache folder %s", folder, exc_info=True)
            return False
        return super().set(key, value, timeout, mgmt_element)

    def _make_room(self, folder: str) -> None:
        """Remove the folder's expired entries, then those expiring soonest, until one more fits."""
        names = [name for name in os.listdir(folder) if not name.endswith(self._fs_transaction_suffix)]
        if len(names) < self._folder_limit:
            return
        expiries = []
        for name in names:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as file:
                    expiries.append((struct.unpack("I", file.read(4))[0] or float("inf"), path))
            except (OSError, struct.error):
                expiries.append((0, path))
        now = time.time()
        expiries.sort()
        excess = len(names) - self._folder_limit + 1
        for index, (expires, path) in enumerate(expiries):
            if index >= excess and expires >= now:
                break
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def _note_version(store: Any, version: str) -> None:
    """Renew the ``site`` generation when this version of the code and settings is new to the store.

    Every page depends on it, so each page's ``Last-Modified`` moves forward past the change too.
    """
    key = GENERATION_KEY + SITE
    try:
        current = store.get(key)
        if not _is_generation(current) or current[0] != version:
            store.set(key, (version, None, time.time()), timeout=0)
    except Exception as error:  # noqa: BLE001
        _warn(error)


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


def is_anonymous_read(environ: Mapping[str, Any]) -> bool:
    """A GET or HEAD with no ``inkwell_`` cookie: a reader whose page may be shared with others."""
    return environ["REQUEST_METHOD"] in ("GET", "HEAD") and COOKIE_PREFIX not in environ.get("HTTP_COOKIE", "")


def page_key(environ: Mapping[str, Any], version: str, site_url: str = "") -> str | None:
    """Return the store key of an anonymous GET of a page, or ``None`` when such an address is never stored.

    The key is the address in a canonical form: its page numbers sorted, and its host only when the links on
    the page are built on it (no ``SITE_URL``).
    """
    if not is_anonymous_read(environ):
        return None
    arguments = sorted(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    names = [name for name, _ in arguments]
    if len(set(names)) < len(names) or not all(
        name in STORED_ARG_NAMES and STORED_ARG_VALUE.fullmatch(value) for name, value in arguments
    ):
        return None
    host = "" if site_url else environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    query = "&".join(f"{name}={value}" for name, value in arguments)
    path = f"{environ.get('SCRIPT_NAME', '')}{environ['PATH_INFO']}?{query}"
    address = f"{version}|{environ['wsgi.url_scheme']}://{host}{path}"
    return PAGE_KEY + hashlib.blake2b(address.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


class PageCacheMiddleware:
    """Serve anonymous readers' pages from the store before Flask runs; store the pages Flask marks public.

    A stored page lists the generations it was rendered under; it is served only while they are all
    current, and each reader's copy gets fresh form tokens. Anything else goes to Flask.
    """

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        *,
        store: Any,
        generations: Any,
        secret_key: str,
        version: str,
        site_url: str = "",
    ) -> None:
        self.wsgi_app = wsgi_app
        self.store = store
        self.generations = generations
        self.secret_key = secret_key
        self.version = version
        self.site_url = site_url
        self._generation_files: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self._tokens_of_second: tuple[int, dict[str, bytes]] = (0, {})

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        key = page_key(environ, self.version, self.site_url)
        if key is None:
            return self.wsgi_app(environ, start_response)
        environ[KEY_ENVIRON] = key
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
            if not _is_generation(current) or current[0] != rendered_under:
                return None
            if current[1] is not None and now >= current[1]:
                return None
        return entry

    def _current_generations(self, keys: list[str]) -> list[Any]:
        """Read the generations; from files, only those whose file changed since this worker last read it.

        Every page hit checks a few generations: a stat is much cheaper than opening and unpickling a file,
        and a file is replaced (a new inode) whenever its generation changes.
        """
        if not isinstance(self.generations, FileSystemCache):
            return list(self.generations.get_many(*keys))
        return [self._generation_from_file(key) for key in keys]

    def _generation_from_file(self, key: str) -> Any:
        path = self.generations._get_filename(key)  # cachelib 0.17's file for a key (pinned in requirements.txt)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        known = self._generation_files.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        value = self.generations.get(key)
        if len(self._generation_files) >= MAX_KNOWN_GENERATIONS:
            self._generation_files.clear()
        self._generation_files[path] = (stamp, value)
        return value

    def _serve(self, entry: dict[str, Any], environ: dict[str, Any], start_response: Callable[..., Any]):
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        headers = [*entry["headers"], *_last_modified_header(entry), ("X-Request-ID", request_id)]
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


def _not_modified(entry: dict[str, Any], environ: dict[str, Any]) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return parse_etags(if_none_match).contains_weak(entry["etag"])
    since = parse_date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    last_modified = entry["last_modified"]
    return since is not None and _may_send(last_modified, time.time()) and since.timestamp() >= int(last_modified)


def _may_send(last_modified: float | None, read_at: float) -> bool:
    """Whether a page read at ``read_at`` may carry ``Last-Modified``: only once that second is over.

    Dates have whole seconds: two versions of a page within one second would share one ``Last-Modified``, and
    a reader of the first would get a 304 for the second. Such a page is validated by its ETag alone.
    """
    return last_modified is not None and int(last_modified) < int(read_at)


def _last_modified_header(entry: dict[str, Any]) -> list[tuple[str, str]]:
    last_modified = entry["last_modified"]
    return [("Last-Modified", http_date(last_modified))] if _may_send(last_modified, time.time()) else []


# Rendering, in Flask


def note_generations() -> None:
    """Before a page to be stored is rendered, read the generations it depends on (renewing missing ones)."""
    if request.environ.get(KEY_ENVIRON) is None or not _is_stored_address():
        return
    values = _generations(CACHED_ENDPOINTS[request.endpoint])
    g.page_read_at = time.time()
    if values is not None:
        g.page_generations = {key: value[0] for key, value in values.items()}
        g.page_last_modified = max(value[2] for value in values.values())


def _is_stored_address() -> bool:
    """Whether this endpoint's page is stored with these query arguments (see ``STORED_ARGS``)."""
    return request.endpoint in STORED_ARGS and STORED_ARGS[request.endpoint].issuperset(request.args)


def finish_page(response: Response) -> Response:
    """Mark a freshly rendered anonymous page public (the middleware then stores it), or private."""
    if _is_public(response):
        etag = _etag(response)
        response.set_etag(etag, weak=True)  # weak: each reader's form tokens differ, the page does not
        last_modified = _page_last_modified()
        read_at = g.get("page_read_at", time.time())
        if _may_send(last_modified, read_at):
            response.last_modified = last_modified
        else:
            response.headers.pop("Last-Modified", None)  # assigning None would make it "now"
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
    _forget_unused_generations()
    if request.cookies or session.modified:
        response.headers.setdefault("Cache-Control", PRIVATE_CACHE_CONTROL)
    return response


def _is_public(response: Response) -> bool:
    return (
        request.endpoint in CACHED_ENDPOINTS
        and is_anonymous_read(request.environ)
        and KNOWN_ARGS.issuperset(request.args)
        and response.status_code == 200
        and not response.direct_passthrough
        and "Set-Cookie" not in response.headers
        and not session.modified
    )


def _etag(response: Response) -> str:
    """The ETag of the page without its per-reader tokens."""
    template = response.get_data()
    for token, kind in g.get("page_tokens", []):
        template = template.replace(token.encode(), f"{{{{{kind}}}}}".encode())
    return hashlib.blake2b(template, digest_size=16).hexdigest()


def _page_last_modified() -> float | None:
    """When what the page shows last changed: when its generations were last renewed, or later.

    A view's own date (the newest post in a feed) is not used: it goes back in time when something newer is
    removed (a comment marked as spam), and a reader's copy would then look current. Pages that are not
    stored have no generations, and no ``Last-Modified``: their ETag validates them.
    """
    last_modified = g.get("page_last_modified")
    changed_at = g.get("page_changed_at")
    if last_modified is None or changed_at is None:
        return last_modified
    return max(last_modified, changed_at)


def _seconds_left(expires_at: float | None) -> int | None:
    """The store's timeout for an entry: the default, or less when the page changes at a known time."""
    if expires_at is None:
        return None
    return max(1, int(expires_at - time.time()))


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


def _is_generation(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 3


def _generations(scopes: Iterable[str]) -> dict[str, Generation] | None:
    """Return the current generation of each scope, renewing any missing or past a publication time."""
    keys = _generation_keys(scopes)
    store = _generation_store()
    try:
        values = store.get_many(*keys)
    except Exception as error:  # noqa: BLE001
        _warn(error)
        return None
    generations = {}
    for key, value in zip(keys, values, strict=True):
        if not _is_generation(value) or (value[1] is not None and time.time() >= value[1]):
            value = _renew(store, key)
            g.setdefault("page_renewed", []).append(key)
        generations[key] = value
    return generations


def _renew(store: Any, key: str) -> Generation:
    """Give ``key`` a new generation; the ``posts`` one also notes when the next scheduled post goes live."""
    next_publication = _next_scheduled_publication() if key == GENERATION_KEY + POSTS else None
    value = (secrets.token_hex(8), next_publication, time.time())
    _store_set(store, key, value, timeout=0)
    return value


def _forget_unused_generations() -> None:
    """Delete the one-post generations this request made for a page it did not store (a 404 for a slug that
    does not exist), so that made-up addresses cannot grow the generations, which are never evicted."""
    unused = [key for key in g.get("page_renewed", []) if key.startswith(GENERATION_KEY + "post:")]
    if unused:
        try:
            _generation_store().delete_many(*unused)
        except Exception as error:  # noqa: BLE001
            _warn(error)


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
        _generation_store().delete_many(*(GENERATION_KEY + scope for scope in scopes))
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
