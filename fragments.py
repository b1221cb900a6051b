"""Pieces of pages kept between renders, so that a page the cache misses renders again only what changed.

The thread of comments on a post page and the empty comment form under it are the costly parts of it, and they
change only with the post's comments (or the settings): they are kept per post (and comment page) under the post's
generation (``post:<slug>``, pagecache.py), so a new post, which changes the sidebar of every page, renders
sidebars again, not threads and forms. The post's own article and the head of its page are kept the same way, and
also under ``post-details`` (its tags, images and author's name). Pieces live in the pages' store under keys of
their own, which also carry the code's version and the ``settings`` generation; a store that fails means rendering
without them. They are kept only with ``PAGE_CACHE`` on, whose generations say when they change.

Each worker also keeps the pieces it used last in its own memory (:class:`RecentPieces`, a few megabytes): their
keys carry every generation they depend on, so a copy in memory is as current as the store's, and a page rendered
again by the same worker reads no file and unpickles nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from typing import TypeVar

from flask import current_app
from markupsafe import Markup

from cachestores import store_set
from cachestores import warn_store_failure
from pagecache import PAGE_VERSION
from pagecache import SETTINGS
from pagecache import THREADS
from pagecache import current_generations
from pagecache import fresh_token
from pagecache import hole
from pagecache import page_store

FRAGMENT_KEY = "inkwell:fragment:"
TOKEN_HOLE = "token-"  # a kept piece's hole where the page's form token of a kind goes
Piece = TypeVar("Piece")
RECENT_PIECES_BYTES = 4 * 1024 * 1024
ENTRY_BYTES = 200  # what an entry of RecentPieces costs besides its piece and key


class RecentPieces:
    """The pieces a worker used last, the least recently used dropped past ``limit`` characters of HTML."""

    def __init__(self, limit: int = RECENT_PIECES_BYTES) -> None:
        self.limit = limit
        self._pieces: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # gthread workers share it between threads

    def get(self, key: str) -> Any:
        with self._lock:
            found = self._pieces.get(key)
            if found is None:
                return None
            self._pieces.move_to_end(key)
            return found[0]

    def put(self, key: str, piece: Any) -> None:
        size = size_of(piece) + len(key) + ENTRY_BYTES  # an empty piece still costs its entry
        if size > self.limit:
            return
        with self._lock:
            previous = self._pieces.pop(key, None)
            self._size += size - (previous[1] if previous else 0)
            self._pieces[key] = (piece, size)
            while self._size > self.limit:
                _, (_, dropped) = self._pieces.popitem(last=False)
                self._size -= dropped


def size_of(piece: Any) -> int:
    """The characters of text in a piece: a string, a tuple or list of pieces, a mapping's values (a post's row);
    anything else (a date, a number, nothing) a few bytes."""
    if isinstance(piece, str):
        return len(piece)
    if isinstance(piece, Mapping):
        return sum(size_of(value) for value in piece.values())
    if isinstance(piece, tuple | list):
        return sum(size_of(part) for part in piece)
    return 64


RECENT = RecentPieces()


def kept(name: str, post_slug: str, render: Callable[[], Piece], *, also: Sequence[str] = ()) -> Piece:
    """Return ``render()``'s piece of a post's page, from the store while the post's thread is unchanged (and
    the generations ``also`` names, of whatever else the piece shows).

    ``name`` tells the pieces of one post apart (and whatever else shapes them: the comment page, whether
    replies are open); ``render`` runs at most once, after the generations are read, so a change committed
    while it runs leaves a piece no reader asks for again.
    """
    key = _current_key(post_slug, name, (SETTINGS, THREADS, f"post:{post_slug}", *also))
    if key is None:
        return render()
    piece = RECENT.get(key)
    if piece is not None:
        return piece
    store = page_store()
    try:
        piece = store.get(key)
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)
        return render()
    if piece is None:
        piece = render()
        store_set(store, key, piece)
    RECENT.put(key, piece)
    return piece


def kept_by_worker(
    name: str, scopes: Sequence[str], render: Callable[[], Piece], *, made_already: Sequence[str] = ()
) -> Piece:
    """Return ``render()``'s value, kept in this worker's memory alone while the generations of ``scopes``
    stay: for what costs a query, not a render (reading the store would cost as much).

    The generations of ``made_already`` are also read but never made (pagecache.current_generations): nothing is
    kept while one is missing, so that a made-up address (a post's slug) cannot grow the generations.
    """
    key = _current_key("", name, scopes, made_already)
    if key is None:
        return render()
    piece = RECENT.get(key)
    if piece is None:
        piece = render()
        if piece is not None:
            RECENT.put(key, piece)
    return piece


def _current_key(post_slug: str, name: str, scopes: Sequence[str], made_already: Sequence[str] = ()) -> str | None:
    """The key of a piece under the current generations of ``scopes`` (and ``made_already``, never made here);
    ``None`` when nothing may be kept (the page cache off, its store failing, one of ``made_already`` missing)."""
    version = current_app.extensions.get(PAGE_VERSION)
    generations = current_generations(scopes) if version else None
    if generations is not None and made_already:
        existing = current_generations(made_already, renew=False)
        generations = None if existing is None else [*generations, *existing]
    return None if generations is None else _fragment_key(version, post_slug, name, generations)


def kept_markup(name: str, post_slug: str, render: Callable[[], str], *, token_kinds: Sequence[str] = ()) -> Markup:
    """Return ``render()``'s HTML, kept as :func:`kept` keeps pieces, with this page's form tokens of
    ``token_kinds`` in it: tokens are per reader (pagecache.fresh_token), so the piece is kept with a hole in
    place of each, and this page's own put back in."""
    swaps = [(fresh_token(kind), str(hole(TOKEN_HOLE + kind))) for kind in token_kinds]

    def render_to_keep() -> str:
        html = str(render())
        for token, placeholder in swaps:
            html = html.replace(token, placeholder)
        return html

    html = kept(name, post_slug, render_to_keep)
    for token, placeholder in swaps:
        html = html.replace(placeholder, token)
    return Markup(html)


def _fragment_key(version: str, post_slug: str, name: str, generations: Sequence[Any]) -> str:
    """Keyed by the secret key too: the pieces show avatars drawn from it."""
    address = "|".join((version, post_slug, name, *generations)).encode("utf-8", "surrogateescape")
    digest = hashlib.blake2b(address, key=_key_of(str(current_app.secret_key)), digest_size=16)
    return FRAGMENT_KEY + digest.hexdigest()


@lru_cache(maxsize=4)
def _key_of(secret_key: str) -> bytes:
    return hashlib.blake2b(secret_key.encode(), digest_size=32).digest()
