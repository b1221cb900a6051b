"""Serving cached pages: readers' pages rendered once, served from a store every gunicorn worker shares.

A hit is answered by :class:`PageCacheMiddleware` before Flask runs at all, from the worker's memory while the
page is current, so a cached page costs a worker less than a Flask "hello world" (bench/cached_cost.py).
Returning commenters are served from it too, the page's holes filled from their signed cookies (personal.py);
a request carrying any other ``inkwell_`` cookie (a session, a login), or a commenter's with comments of theirs
awaiting moderation on the post, is rendered for that person, never stored. When a stored page is stale is
decided in pagecache.py, which this module imports (never the reverse); whether its copy from before a change
may still be served for a moment, by :func:`changed_beside_only`.

Pages carry the fingerprint of the code and of the settings in their key, so a changed setting is never shown
from a page cached under the old one (a setting saved at /admin/settings renews the ``settings`` generation that
every page depends on instead: pagecache.py). ``Last-Modified`` is when a page's generations last changed, so it moves
forward whenever what the page shows changes, even when a comment disappears from it.

A page is stored with its Brotli and gzip encodings beside it (compression.py), and served in the one the reader
accepts, so a compressed page costs what a plain one does; one weak ETag stands for all of them. A returning
commenter's copy comes in gzip spliced from the page's pieces, each worker compressing them once.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from cachelib.file import FileSystemCache
from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request
from flask import session
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date
from werkzeug.http import parse_date
from werkzeug.http import parse_etags
from werkzeug.routing import Map

import compression
from cachestores import FolderChanges
from cachestores import KeptCopies
from cachestores import is_locked
from cachestores import store_set
from cachestores import try_lock
from cachestores import unlock
from cachestores import unlock_after
from cachestores import warn_store_failure
from page_version import page_version
from pagecache import CACHED_ENDPOINTS
from pagecache import GENERATION_READER
from pagecache import KEY_ENVIRON
from pagecache import PAGE_VERSION
from pagecache import STORED_ARG_NAMES
from pagecache import STORED_ARG_VALUE
from pagecache import forget_unused_generations
from pagecache import generation_store
from pagecache import is_generation
from pagecache import note_version
from pagecache import page_store
from pagecache import site_hole_tag
from pagecache import token_issuers
from personal import ANONYMOUS
from personal import COOKIE_PREFIX
from personal import HoledPage
from personal import KnownReaders
from personal import Reader
from personal import cut_at_holes
from personal import fill_page
from personal import hole_tag
from personal import holed_page
from personal import interleaved
from personal import personal_cookies
from personal import reader_from

PAGE_KEY = "inkwell:page:"
# The lock of the one request, among every worker and server, rendering a page changed beside its content
# (changed_beside_only) while the others are served the copy from before; lapsing after that many seconds.
RENDERING_BESIDE = "inkwell:rendering-beside", 10
# A page's own render lock (RENDERING_PAGE + its key), held by the one request rendering it after a change to its
# own content, or while it is not stored: its other readers wait for its copy, polling the lock, for at most
# about the time a render takes under load, then render it themselves (PageCacheMiddleware._render_once).
RENDERING_PAGE = "inkwell:rendering:"
RENDER_LOCK_SECONDS = 10
RENDER_WAIT_SECONDS = 0.3
RENDER_POLL_SECONDS = 0.005
NOTHING: frozenset[str] = frozenset()  # the changes of a current page
EXPIRED = "expired"  # among a stored page's changes (PageCacheMiddleware._changes): the time it changes at has come
# A page's holes' sections (personal.py), apart from it and keyed by what they hold: the thread they come from is
# kept (fragments.py), so the pages of one post stored again after a new post share them, and store them once.
SECTIONS = "inkwell:sections:"
ENVIRON_KEY = "inkwell.page_cache"
READER_COOKIES = "inkwell.reader_cookies"  # a reader's personal cookies, kept from the render of the shared page
# The query arguments a public page reads; a page with any other argument is answered as private.
KNOWN_ARGS = frozenset({"page", "cpage", "q", "replyto"})
# Per-response headers that are not stored with a page.
UNSTORED_HEADERS = frozenset({"content-length", "x-request-id", "date", "server", "set-cookie", "last-modified"})
# A shared page's headers that one reader's copy of it does not keep (_personal_headers).
REPLACED_FOR_ONE_READER = frozenset({"etag", "cache-control", "last-modified", "content-length", "content-encoding"})
PUBLIC_CACHE_CONTROL = "public, max-age=0, must-revalidate, s-maxage={seconds}"
PRIVATE_CACHE_CONTROL = "private, no-cache"
MAX_KNOWN_GENERATIONS = 10_000
MAX_KNOWN_ADDRESSES = 10_000
KEPT_BYTES = 4 * 1024 * 1024  # the stored pages each worker keeps unpickled, the most recently served (~30)


def init_app(app: Flask) -> None:
    """Mark rendered pages public or private and, with ``PAGE_CACHE``, serve the stored ones before Flask runs.

    Call it after :func:`pagecache.init_app`, which chooses the stores.
    """
    # Flask runs these in reverse: compression after finish_page, which marks the pages the middleware stores
    # (and compresses, once, as it stores them).
    compression.init_app(app, later=ENVIRON_KEY)
    app.after_request(finish_page)
    app.after_request(end_empty_session)
    if app.config["PAGE_CACHE"]:
        version = page_version(app)
        app.extensions[PAGE_VERSION] = version  # fragments.py keys its pieces by it too
        note_version(generation_store(app), version)
        app.wsgi_app = middleware = PageCacheMiddleware(
            app.wsgi_app,
            store=page_store(app),
            generations=generation_store(app),
            secret_key=app.secret_key,
            version=version,
            site_url=app.config["SITE_URL"],
            config=app.config,
            url_map=app.url_map,
        )
        app.extensions[GENERATION_READER] = middleware.current_generations


def is_anonymous_read(environ: Mapping[str, Any]) -> bool:
    """A GET or HEAD with no ``inkwell_`` cookie: a reader whose page may be shared with others."""
    return environ["REQUEST_METHOD"] in ("GET", "HEAD") and COOKIE_PREFIX not in environ.get("HTTP_COOKIE", "")


def page_key(environ: Mapping[str, Any], version: str, site_url: str = "") -> str | None:
    """Return the store key of a GET of a page, or ``None`` when such an address is never stored.

    The key is the address in a canonical form: its page numbers sorted, and its host only when the links on
    the page are built on it (no ``SITE_URL``).
    """
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
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


def _address(environ: Mapping[str, Any]) -> tuple[Any, ...]:
    """What :func:`page_key` reads of a request, to look up the key of an address served before."""
    return (
        environ["REQUEST_METHOD"],
        environ.get("QUERY_STRING"),
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
        environ.get("SCRIPT_NAME"),
        environ["PATH_INFO"],
        environ["wsgi.url_scheme"],
    )


def changed_beside_only(entry: Mapping[str, Any], changes: frozenset[str]) -> bool:
    """Whether a stored page may still be served as it was before ``changes``, for the moment one request takes
    to render it again (stale while revalidating; this is the one place that decides it).

    Only when everything that changed is shown beside the page's own content (``pagecache.SHOWN_BESIDE``): the
    "Recent posts" and next/previous links on a post's page, after a post is published, edited or taken down
    elsewhere. After a change to what the page itself shows (its post, its comments, tags, images, the settings,
    the code, or its comments closing) the next reader gets the new page, rendering it if another is already.
    """
    return bool(changes) and changes <= frozenset(entry.get("shown_beside", ()))


def _has_changed(current: Any, rendered_under: str, now: float) -> bool:
    """Whether a generation read ``now`` is not the one a page was rendered under (gone, renewed, or past the
    publication time it carries)."""
    return not is_generation(current) or current[0] != rendered_under or (current[1] is not None and now >= current[1])


def _for_everyone(environ: dict[str, Any]) -> dict[str, Any]:
    """The request as a reader without personal cookies makes it, the shared page's, remembering the cookies
    to fill the page's holes with (and without the reader's validators, which are their copy's)."""
    cookies = personal_cookies(environ.get("HTTP_COOKIE", ""))
    if not cookies:
        return environ
    kept = [part for part in environ.get("HTTP_COOKIE", "").split(";") if not part.strip().startswith(COOKIE_PREFIX)]
    shared = {
        name: value for name, value in environ.items() if name not in ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")
    }
    return shared | {"HTTP_COOKIE": ";".join(kept), READER_COOKIES: cookies}


@dataclass
class StoredPage:
    """A stored page as a worker serves it: the store's entry, and what the worker derives from it once."""

    entry: dict[str, Any]
    last_modified: list[tuple[str, str]] | None = None  # its header, once the page may carry it
    body: tuple[int, bytes] = (0, b"")  # the page with the tokens of that second
    spliced: compression.GzipPieces | None = None  # its shared pieces compressed, once a returning reader asks

    @property
    def size(self) -> int:
        """About the bytes it holds: its text (twice with tokens: the second's copy too), encodings and, with
        holes, its pieces for returning readers' gzip copies (a tenth of the text, and each piece's tables)."""
        entry = self.entry
        text = sum(map(len, entry["segments"])) * (2 if entry["kinds"] else 1)
        holed = entry.get("holed")
        pieces = len(holed.segments) + len(holed.values) if holed is not None else 0
        spliced = text // 20 + pieces * compression.CARRY_BYTES if pieces else 0
        return text + spliced + sum(len(encoded) for encoded in entry.get("encoded", {}).values() if encoded)

    def gzip_pieces(self) -> compression.GzipPieces:
        """The pieces of the page every reader shares, compressed once for the gzip copies of returning readers."""
        if self.spliced is None:
            self.spliced = compression.gzip_pieces(self.entry["holed"].shared_pieces)
        return self.spliced


class PageCacheMiddleware:
    """Serve anonymous readers' pages from the store before Flask runs; store the pages Flask marks public.

    A stored page lists the generations it was rendered under; it is served while they are all current, and
    each reader's copy gets fresh form tokens. After a change shown only beside the page's content (a post
    published elsewhere: :func:`changed_beside_only`), one request at a time, among every worker and server,
    renders such a page again while the others are served the copy from before, so that a publication does
    not make every worker render at once while readers queue; and it gives the lock back only once as long
    again as its render took has passed, so that those renders take half of one worker's time at most
    (bench/storm.py). After any other change, or while a page is not stored, one request renders it while its
    other readers wait a moment for that page rather than render it at once too (bench/hot_post.py); none is
    served the copy from before. Anything else goes to Flask.
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
        config: Mapping[str, Any] | None = None,
        url_map: Map | None = None,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.store = store
        self.generations = generations
        self.secret_key = secret_key
        self.hole_tag = hole_tag(secret_key)
        self.readers = KnownReaders(secret_key)
        self.version = version
        self.site_url = site_url
        self.config = config or {}
        self.url_map = url_map
        self._generation_files: dict[str, tuple[str, tuple[int, int, int] | None, Any, int]] = {}
        files = isinstance(generations, FileSystemCache)
        self._generation_changes = FolderChanges(generations._path) if files else None  # cachelib 0.17's folder
        self._addresses: dict[tuple[Any, ...], str] = {}
        self._kept = KeptCopies(KEPT_BYTES)
        self._tokens_of_second: tuple[int, dict[str, bytes]] = (0, {})
        self._encoded_of_second = compression.EncodedOncePerSecond()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        address = _address(environ)
        key = self._addresses.get(address) or page_key(environ, self.version, self.site_url)
        if key is None:
            return self.wsgi_app(environ, start_response)
        page, changes = self._stored_page(key)
        entry = page.entry if page is not None else None
        cookie = environ.get("HTTP_COOKIE", "")
        reader = self._reader(cookie, self._edit_seconds(entry))
        if reader is None:
            return self.wsgi_app(environ, start_response)
        if reader.held_posts and (entry is None or entry.get("post_id") in reader.held_posts):
            return self.wsgi_app(environ, start_response)  # their comments awaiting moderation: their page alone
        if page is not None and not changes:
            environ[KEY_ENVIRON] = key
            if address not in self._addresses:  # a stored address: as many as the blog has pages
                if len(self._addresses) >= MAX_KNOWN_ADDRESSES:
                    self._addresses.clear()
                self._addresses[address] = key
            return self._serve(key, page, environ, start_response, reader)
        if reader is not ANONYMOUS and not self._is_shared_page(environ):
            return self.wsgi_app(environ, start_response)  # their own page (editing their comment, say): no lock
        if page is not None and changed_beside_only(page.entry, changes):
            return self._render_beside(key, page, environ, start_response, reader, cookie)
        return self._render_once(key, environ, start_response, reader, cookie, replaces_stale=page is not None)

    def _render_beside(
        self,
        key: str,
        page: StoredPage,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        reader: Reader,
        cookie: str,
    ) -> Iterable[bytes]:
        """Render a page changed beside its content if no other request, on any worker or server, renders one
        such page now, else serve its copy from before; the lock is given back once as long again as the render
        took has passed, so that such renders take half a worker at most."""
        if not try_lock(self.generations, *RENDERING_BESIDE):
            environ[KEY_ENVIRON] = key
            return self._serve(key, page, environ, start_response, reader)
        started = time.monotonic()
        try:
            environ[KEY_ENVIRON] = key
            return self._render_and_store(key, _for_everyone(environ), start_response, cookie, replaces_stale=True)
        finally:
            unlock_after(self.generations, *RENDERING_BESIDE, seconds=time.monotonic() - started)

    def _render_once(
        self,
        key: str,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        reader: Reader,
        cookie: str,
        *,
        replaces_stale: bool,
    ) -> Iterable[bytes]:
        """Render a page that is not stored, or changed in its own content, once for all its readers: while one
        request (on any worker or server) renders it, the others wait for its copy (``RENDER_WAIT_SECONDS`` at
        most), and render it themselves if it does not come; never the copy from before."""
        lock = RENDERING_PAGE + key
        renders = try_lock(self.generations, lock, RENDER_LOCK_SECONDS)
        if not renders:
            rendered = self._rendered_meanwhile(key, lock)
            if rendered is not None:
                environ[KEY_ENVIRON] = key
                reader = self._reader(cookie, self._edit_seconds(rendered.entry)) or reader  # as it was rendered
                return self._serve(key, rendered, environ, start_response, reader)
        try:
            environ[KEY_ENVIRON] = key
            return self._render_and_store(key, _for_everyone(environ), start_response, cookie, replaces_stale)
        finally:
            if renders:
                unlock(self.generations, lock)

    def _rendered_meanwhile(self, key: str, lock: str) -> StoredPage | None:
        """Wait while another request holds the page's render lock; return the current page it stored, or
        ``None`` when none came in time (it failed, or the page was not to be stored, or changed again)."""
        deadline = time.monotonic() + RENDER_WAIT_SECONDS
        while is_locked(self.generations, lock, RENDER_LOCK_SECONDS):
            if time.monotonic() >= deadline:
                return None
            time.sleep(RENDER_POLL_SECONDS)
        page, changes = self._stored_page(key)
        return page if page is not None and not changes else None

    def _is_shared_page(self, environ: dict[str, Any]) -> bool:
        """Whether the address is one of the pages every reader shares (``CACHED_ENDPOINTS``)."""
        if self.url_map is None:
            return False
        try:
            endpoint, _ = self.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return False
        return endpoint in CACHED_ENDPOINTS

    def _reader(self, cookie: str, edit_seconds: float) -> Reader | None:
        """Who the ``Cookie`` header says the reader is (``None``: a header too odd to read here)."""
        return ANONYMOUS if COOKIE_PREFIX not in cookie else self.readers.get(cookie, edit_seconds)

    def _edit_seconds(self, entry: Mapping[str, Any] | None) -> float:
        """How long a comment stays editable, as the page was rendered under (the window saved at /admin/settings:
        a page is current only while the settings are), else the configured one."""
        seconds = entry.get("edit_seconds") if entry is not None else None
        return seconds if seconds is not None else self.config.get("COMMENT_EDIT_MINUTES", 0) * 60

    def _stored_page(self, key: str) -> tuple[StoredPage | None, frozenset[str]]:
        """Return the stored page, if any, and what changed since it was rendered (:meth:`_changes`): nothing
        while it is current.

        A current page is kept in the worker's memory (the most recently served, ``KEPT_BYTES`` of them) and
        served from there while its generations stay current, not read and unpickled again: any page stored
        under the same key and generations, by any worker, is the same page.
        """
        kept = self._kept.get(key)
        try:
            if kept is not None and not self._changes(kept.entry):
                return kept, NOTHING
            entry = self.store.get(key)
            page = StoredPage(entry) if entry is not None else None
            changes = self._changes(entry) if page is not None else NOTHING
        except Exception as error:  # noqa: BLE001 (any store failure means: serve uncached)
            warn_store_failure(error)
            self._kept.forget(key)
            return None, NOTHING
        if page is not None and not changes:
            self._kept.keep(key, page, page.size)
        else:
            self._kept.forget(key)
        return page, changes

    def _changes(self, entry: dict[str, Any]) -> frozenset[str]:
        """The generations of a stored page that changed since it was rendered (renewed, gone, or past a
        publication time), and ``EXPIRED`` once the time the page changes at has come: none while it is current."""
        generations = self.current_generations(list(entry["generations"]))
        now = time.time()
        expires_at = entry.get("expires_at")
        changes = [EXPIRED] if expires_at is not None and now >= expires_at else []
        for (key, rendered_under), current in zip(entry["generations"].items(), generations, strict=True):
            if _has_changed(current, rendered_under, now):
                changes.append(key)
        return frozenset(changes) if changes else NOTHING

    def current_generations(self, keys: list[str]) -> list[Any]:
        """Read the generations; from files, only those whose file changed since this worker last read it.

        Every page hit checks a few generations. While nothing in their folder changed (inotify: one read that
        finds nothing) the values read before stand; once something may have, each file is looked at again: a
        stat is much cheaper than opening and unpickling a file, and a file is replaced (a new inode) whenever
        its generation changes.
        """
        if self._generation_changes is None:
            return list(self.generations.get_many(*keys))
        seen = self._generation_changes.seen()
        return [self._generation_from_file(key, seen) for key in keys]

    def _generation_from_file(self, key: str, seen: int) -> Any:
        """The generation in ``key``'s file: as read before while the folder's count is still ``seen``, else looked
        at again."""
        known = self._generation_files.get(key)
        if known is not None and known[3] == seen:
            return known[2]  # nothing in the folder changed since its file was looked at
        # cachelib 0.17's file for a key (pinned in requirements.txt)
        path = known[0] if known is not None else self.generations._get_filename(key)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            stamp, value = None, None
        else:
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
            value = known[2] if known is not None and known[1] == stamp else self.generations.get(key)
        if len(self._generation_files) >= MAX_KNOWN_GENERATIONS:
            self._generation_files.clear()
        self._generation_files[key] = (path, stamp, value, seen)
        return value

    def _serve(
        self,
        key: str,
        page: StoredPage,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        reader: Reader,
    ):
        entry = page.entry
        holed: HoledPage | None = entry.get("holed")
        if holed is not None and not reader.is_anonymous:
            sections = self._sections(entry["sections"]) if reader.editable and entry.get("sections") else {}
            if not reader.editable.isdisjoint(sections):  # a comment of theirs they may still change
                filled = replace(holed, sections=sections).filled_for(reader)
                return self._serve_personal(page, environ, start_response, reader, filled)
            if holed.shows_values_to(reader):
                return self._serve_personal(page, environ, start_response, reader)
        headers = [*entry["headers"], *self._last_modified_header(page)]
        if _not_modified(entry, environ):  # its weak ETag is the same in every encoding: the same content
            start_response("304 NOT MODIFIED", [h for h in headers if h[0].lower() != "content-type"])
            return []
        encoding = compression.choose_encoding(environ.get("HTTP_ACCEPT_ENCODING"))
        if encoding in entry.get("encoded", {}):
            body = entry["encoded"][encoding] or self._encoded_of_second.get(
                (key, entry["etag"], encoding), lambda: self._body_of_second(page)
            )
            headers.append(("Content-Encoding", encoding))
        else:
            body = self._body_of_second(page)
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _body_of_second(self, page: StoredPage) -> bytes:
        """The page with this second's tokens, put between its segments once a second (as they are signed)."""
        second = int(time.time())
        if page.body[0] != second:
            page.body = (second, self._with_fresh_tokens(page.entry["segments"], page.entry["kinds"]))
        return page.body[1]

    @staticmethod
    def _last_modified_header(page: StoredPage) -> list[tuple[str, str]]:
        """The page's ``Last-Modified`` header, formatted once when it may be sent (not before: ``_may_send``)."""
        if page.last_modified is None:
            header = _last_modified_header(page.entry)
            if not header:
                return header
            page.last_modified = header
        return page.last_modified

    def _forget(self, key: str) -> None:
        try:
            self.store.delete(key)
        except Exception as error:  # noqa: BLE001
            warn_store_failure(error)

    def _sections(self, key: str) -> Mapping[int, Any]:
        """The "Edit"/"Delete" sections of a stored page, by comment id (none if the store lost them)."""
        try:
            sections = self.store.get(key)
        except Exception as error:  # noqa: BLE001
            warn_store_failure(error)
            return {}
        return sections if isinstance(sections, dict) else {}

    def _keep_sections(self, sections: Mapping[int, Any], timeout: int | None) -> str:
        """Store a page's sections apart (only a reader who may still change a comment needs them), unless the
        store has them already; return their key."""
        key = SECTIONS + hashlib.blake2b(pickle.dumps(sections, pickle.HIGHEST_PROTOCOL), digest_size=16).hexdigest()
        try:
            if self.store.has(key):
                return key
        except Exception as error:  # noqa: BLE001
            warn_store_failure(error)
            return key
        store_set(self.store, key, sections, timeout=timeout)
        return key

    def _serve_personal(
        self,
        page: StoredPage,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        reader: Reader,
        filled: tuple[list[bytes], list[str]] | None = None,
    ):
        """The shared page with this reader's holes filled (``filled``, when it shows them a section): theirs
        alone, validated by its own ETag. Without a section, their gzip copy is spliced from the shared page's
        pieces, compressed once (compression.splice_gzip), rather than compressed for them."""
        entry = page.entry
        etag = f"{entry['etag']}.{reader.fingerprint}"
        headers = _personal_headers(entry["headers"], etag)
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match is not None and parse_etags(if_none_match).contains_weak(etag):
            start_response("304 NOT MODIFIED", [h for h in headers if h[0].lower() != "content-type"])
            return []
        encoded = entry.get("encoded", {})
        if filled is not None:
            return self._answer(self._with_fresh_tokens(*filled), headers, encoded, environ, start_response)
        holed: HoledPage = entry["holed"]
        gaps = holed.gaps_for(reader, self._tokens_now(set(holed.kinds)))
        if compression.choose_for_one_reader(environ.get("HTTP_ACCEPT_ENCODING"), encoded) == "gzip":
            body = compression.splice_gzip(page.gzip_pieces(), gaps)
            return _send(body, headers, "gzip", environ, start_response)
        return self._answer(holed.join(gaps), headers, encoded, environ, start_response)

    def _answer(
        self,
        body: bytes,
        headers: list[tuple[str, str]],
        encoded: dict[str, bytes | None],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
    ) -> list[bytes]:
        """Send a page rendered for one reader, compressed now if they accept it and the page is worth it."""
        encoding = compression.choose_for_one_reader(environ.get("HTTP_ACCEPT_ENCODING"), encoded)
        if encoding is not None:  # one of the encodings worth sending: compressed now, it is theirs alone
            body = compression.encode(body, encoding, for_one_reader=True)
        return _send(body, headers, encoding, environ, start_response)

    def _with_fresh_tokens(self, segments: list[bytes], kinds: list[str]) -> bytes:
        """Put a new token of each kind between the stored page's segments.

        Tokens are signed timestamps to the second, so every reader in the same second gets the same ones:
        they are signed once a second.
        """
        tokens = self._tokens_now(set(kinds))
        return interleaved(segments, (tokens[kind] for kind in kinds))

    def _tokens_now(self, kinds: set[str]) -> dict[str, bytes]:
        second = int(time.time())
        if self._tokens_of_second[0] != second or not kinds.issubset(self._tokens_of_second[1]):
            tokens = {kind: token_issuers[kind](self.secret_key).encode() for kind in kinds}
            self._tokens_of_second = (second, tokens)
        return self._tokens_of_second[1]

    def _render_and_store(
        self,
        key: str,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        cookie: str,
        replaces_stale: bool = False,
    ) -> Iterable[bytes]:
        """Render the shared page (``environ`` without personal cookies), store it cut at its tokens and holes,
        and answer the reader of ``cookie`` with their holes filled."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)  # answered below, once the page may be compressed

        method, environ["REQUEST_METHOD"] = environ["REQUEST_METHOD"], "GET"  # a HEAD gets the GET's headers
        body = self.wsgi_app(environ, capture)
        environ["REQUEST_METHOD"] = method
        status, headers, pending = captured["status"], captured["headers"], environ.get(ENVIRON_KEY)
        if pending is None or not status.startswith("200"):
            if replaces_stale:
                self._forget(key)  # no copy from before a change may outlive it (a post taken down, say)
            start_response(status, headers)  # filled for the reader by finish_page, and private if theirs
            if method == "HEAD":
                _read_all(body)  # closed: the GET's headers without its body
                return []
            return body
        content = _read_all(body)
        tokens = pending.pop("tokens")
        segments, kinds = cut_at_holes(*_split_at_tokens(content, tokens), self.hole_tag)
        holed = holed_page(segments, kinds)
        has_holes = len(holed.kinds) < len(kinds)
        shared = _with_tokens(holed.segments, holed.kinds, tokens) if has_holes else content  # its holes empty
        encoded = compression.encode_for_store(shared, headers, has_tokens=len(holed.segments) > 1)
        if not any(name.lower() == "set-cookie" for name, _ in headers):
            timeout = _seconds_left(pending.get("expires_at"))
            entry = pending | {
                "segments": holed.segments,
                "kinds": holed.kinds,
                "holed": replace(holed, sections={}) if has_holes else None,
                "sections": self._keep_sections(holed.sections, timeout) if holed.sections else None,
                "encoded": encoded,
                "headers": [(n, v) for n, v in headers if n.lower() not in UNSTORED_HEADERS],
            }
            store_set(self.store, key, entry, timeout=timeout)
        reader = self._reader(cookie, pending["edit_seconds"]) or ANONYMOUS  # read as the page was rendered
        if not reader.is_anonymous and has_holes:
            personal_headers = _personal_headers(headers, f"{pending['etag']}.{reader.fingerprint}")
            return self._answer(
                fill_page(content, self.hole_tag, reader), personal_headers, encoded, environ, start_response
            )
        content, headers = compression.encode_for_reader(shared, headers, encoded, environ.get("HTTP_ACCEPT_ENCODING"))
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(content)))])  # its holes filled: shorter
        return [] if method == "HEAD" else [content]


def _send(
    body: bytes, headers: list[tuple[str, str]], encoding: str | None, environ: dict[str, Any], start_response: Any
) -> list[bytes]:
    """Answer 200 with ``body`` (in ``encoding``, if any), or its headers alone to a HEAD."""
    if encoding is not None:
        headers = [*headers, ("Content-Encoding", encoding)]
    start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def _personal_headers(headers: list[tuple[str, str]], etag: str) -> list[tuple[str, str]]:
    """A shared page's headers for one reader's copy of it: private, and validated by its own ETag only."""
    kept = [(name, value) for name, value in headers if name.lower() not in REPLACED_FOR_ONE_READER]
    return [*kept, ("ETag", f'W/"{etag}"'), ("Cache-Control", PRIVATE_CACHE_CONTROL)]


def _split_at_tokens(content: bytes, tokens: list[tuple[str, str]]) -> tuple[list[bytes], list[str]]:
    """Cut a page where its per-reader tokens are: ``segments`` around them, and the ``kinds`` between."""
    segments, kinds = [content], []
    for token, kind in dict(tokens).items():  # each once: a page's tokens signed in one second are the same
        cut_segments, cut_kinds = [], []
        for index, segment in enumerate(segments):
            pieces = segment.split(token.encode())
            cut_segments += pieces
            cut_kinds += [kind] * (len(pieces) - 1)
            if index < len(kinds):
                cut_kinds.append(kinds[index])
        segments, kinds = cut_segments, cut_kinds
    return segments, kinds


def _with_tokens(segments: list[bytes], kinds: list[str], tokens: list[tuple[str, str]]) -> bytes:
    """The page cut at its tokens put together again, with this render's tokens."""
    by_kind = {kind: token.encode() for token, kind in tokens}
    return interleaved(segments, (by_kind[kind] for kind in kinds))


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


def finish_page(response: Response) -> Response:
    """Mark a freshly rendered anonymous page public (the middleware then stores it), or private; fill the
    holes of a page that is not to be stored for the reader it is for (personal.py)."""
    is_public = _is_public(response)
    if not (is_public and g.get("page_generations") is not None) and not _fill_holes(response).is_anonymous:
        is_public = False  # this reader's own copy
        response.headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
    if is_public:
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
                "shown_beside": g.page_shown_beside,
                "tokens": g.get("page_tokens", []),
                "etag": etag,
                "last_modified": last_modified,
                "expires_at": g.get("page_expires_at"),
                "post_id": g.get("page_post_id"),
                "edit_seconds": current_app.config["COMMENT_EDIT_MINUTES"] * 60,  # the saved window, if any
            }
        return response.make_conditional(request)
    forget_unused_generations()
    if request.cookies or session.modified:
        response.headers.setdefault("Cache-Control", PRIVATE_CACHE_CONTROL)
    return response


def end_empty_session(response: Response) -> Response:
    """End a session left holding nothing but Flask-Login's freshness mark (set beside a flashed message), so
    that a reader who has just commented is served the shared pages again once they have read the thank-you."""
    if session and set(session) <= {"_fresh"}:
        session.clear()
    return response


def _fill_holes(response: Response) -> Reader:
    """Fill the page's holes for this request's reader (their cookies, or those the middleware kept aside);
    return the reader."""
    if response.direct_passthrough or response.mimetype != "text/html":
        return ANONYMOUS
    cookies = request.environ.get(READER_COOKIES, request.cookies)
    reader = reader_from(cookies, current_app.secret_key, current_app.config["COMMENT_EDIT_MINUTES"] * 60)
    response.set_data(fill_page(response.get_data(), site_hole_tag(), reader))
    return reader


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
    for token, kind in dict(g.get("page_tokens", [])).items():  # each once, as in _split_at_tokens
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
