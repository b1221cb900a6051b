"""The stores behind the page cache, and what happens when one fails: pages are served uncached, never refused.

``BoundedFileSystemCache`` keeps pages in files under instance/ with a cost per store that does not grow with the
number of addresses tried; Redis (``REDIS_URL``) needs nothing of ours. What a worker keeps of a store in its
memory is here too: ``KeptCopies`` (values by size, least recently used forgotten) and ``FolderChanges`` (whether
a folder of files changed, without looking at each). Knows nothing of pages or generations: pagecache.py decides
what is stored, pageserver.py serves it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import threading
import time
from typing import Any

from cachelib.file import FileSystemCache
from flask_caching.backends.filesystemcache import FileSystemCache as FlaskFileSystemCache
from inotify_simple import INotify
from inotify_simple import flags

log = logging.getLogger(__name__)

WARNING_INTERVAL = 60.0
_last_warning = [0.0]


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


class KeptCopies:
    """Values a worker read from a store, kept in its memory up to ``limit`` bytes, the least recently used
    forgotten first: the caller decides when a kept copy is still good (the page cache: by its generations).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._copies: dict[str, tuple[Any, int]] = {}
        self._size = 0
        self._lock = threading.Lock()  # a threaded server's requests share them

    def get(self, key: str) -> Any:
        """The copy kept under ``key``, or ``None``; it becomes the most recently used."""
        with self._lock:
            kept = self._copies.pop(key, None)
            if kept is None:
                return None
            self._copies[key] = kept
            return kept[0]

    def keep(self, key: str, value: Any, size: int) -> None:
        """Keep ``value`` (of about ``size`` bytes) under ``key``, forgetting the oldest copies to make room."""
        with self._lock:
            self._forget(key)
            if size > self.limit:
                return
            while self._size + size > self.limit:
                self._forget(next(iter(self._copies)))
            self._copies[key] = (value, size)
            self._size += size

    def forget(self, key: str) -> None:
        with self._lock:
            self._forget(key)

    def _forget(self, key: str) -> None:
        kept = self._copies.pop(key, None)
        if kept is not None:
            self._size -= kept[1]


class FolderChanges:
    """Tell whether anything in a folder may have changed since this process last asked, at the cost of one read
    that finds nothing (Linux's inotify), instead of a ``stat`` of every file that matters.

    Where inotify is missing or runs out (another system, a user's 128 instances taken), or the folder itself is
    removed, it answers that everything may have changed, and the caller looks at its files as before. Each process
    opens its own watch: a forked worker's events are not read by its siblings.
    """

    CHANGES = flags.MODIFY | flags.ATTRIB | flags.CLOSE_WRITE | flags.MOVED_FROM | flags.MOVED_TO | flags.CREATE
    CHANGES |= flags.DELETE
    SELF_GONE = flags.DELETE_SELF | flags.MOVE_SELF  # the folder itself deleted or moved
    GONE = SELF_GONE | flags.IGNORED  # … and the watch removed with it

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._inotify: INotify | None = None
        self._pid = 0
        self._seen = 0
        self._lock = threading.Lock()

    def seen(self) -> int:
        """A count that moves on whenever the folder may have changed since the last call (on every call where
        the folder cannot be watched). What was read of the folder under one count stands while it lasts.

        Counted under a lock: a thread that finds no event left, because another read it, still gets the new count.
        """
        with self._lock:
            if self._may_have_changed():
                self._seen += 1
            return self._seen

    def _may_have_changed(self) -> bool:
        if self._pid != os.getpid():
            self._watch()
            return True
        if self._inotify is None:
            return True
        try:
            events = self._inotify.read(timeout=0)
        except OSError:
            self._close()
            return True
        if not events:
            return False
        if any(event.mask & self.GONE for event in events):
            self._close()
            self._pid = 0  # watched again next time: the folder may be there again
        return True

    def _watch(self) -> None:
        self._close()  # one inherited from the parent process: the parent's watch stays open in the parent
        self._pid = os.getpid()
        try:
            inotify = INotify(nonblocking=True)
        except (OSError, AttributeError):  # not Linux, or no inotify instance left
            return
        try:
            inotify.add_watch(self.folder, self.CHANGES | self.SELF_GONE)
        except OSError:
            inotify.close()
            return
        self._inotify = inotify

    def _close(self) -> None:
        if self._inotify is not None:
            with contextlib.suppress(OSError):
                self._inotify.close()
            self._inotify = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit, os may be gone already
            self._close()


def store_set(store: Any, key: str, value: Any, timeout: int | None = None) -> None:
    """Store ``value``; a failing store is logged, and the page is served uncached, never refused."""
    try:
        store.set(key, value, timeout=timeout)
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)


def warn_store_failure(error: Exception) -> None:
    """Log a failing store once a minute, not once a request."""
    now = time.monotonic()
    if now - _last_warning[0] >= WARNING_INTERVAL or _last_warning[0] == 0.0:
        _last_warning[0] = now
        log.warning("Page cache unavailable, serving pages uncached: %s", error)


def try_lock(store: Any, name: str, seconds: int) -> bool:
    """Take the lock ``name`` that every worker and server sharing ``store`` sees, for at most ``seconds``;
    ``False`` when another holds it. A failing store grants it (its page is then rendered, as without a lock)."""
    try:
        if isinstance(store, FileSystemCache):
            return _try_lock_file(_lock_path(store, name), seconds)
        return bool(store.add(name, 1, timeout=seconds))
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)
        return True


def is_locked(store: Any, name: str, seconds: int) -> bool:
    """Whether a request holds the lock ``name`` taken with :func:`try_lock` for ``seconds``; a failing store
    answers that nobody does."""
    try:
        if isinstance(store, FileSystemCache):
            return time.time() - os.stat(_lock_path(store, name)).st_mtime < seconds
        return bool(store.has(name))
    except FileNotFoundError:
        return False
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)
        return False


def unlock(store: Any, name: str) -> None:
    """Give back a lock taken with :func:`try_lock` (a lock nobody gives back lapses after its seconds)."""
    try:
        if isinstance(store, FileSystemCache):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_lock_path(store, name))
        else:
            store.delete(name)
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)


def unlock_after(store: Any, name: str, taken_for: int, *, seconds: float) -> None:
    """Give back a lock taken with :func:`try_lock` for ``taken_for`` seconds, ``seconds`` from now rather than at
    once."""
    try:
        if isinstance(store, FileSystemCache):  # dated back, so that it lapses then (_try_lock_file)
            dated = time.time() + seconds - taken_for
            with contextlib.suppress(FileNotFoundError):
                os.utime(_lock_path(store, name), (dated, dated))
        else:
            # No public way: cachelib's timeouts are whole seconds (the pause is often a few milliseconds), it has
            # no call to change a key's expiry, and it keeps the redis-py client (made in Flask-Caching's factory
            # from CACHE_REDIS_URL) only as ``_write_client``, as Flask-Caching's own RedisCache uses it (0.17, pinned).
            prefix = store.key_prefix() if callable(store.key_prefix) else store.key_prefix
            store._write_client.pexpire(f"{prefix}{name}", max(1, round(seconds * 1000)))
    except Exception as error:  # noqa: BLE001
        warn_store_failure(error)


def _lock_path(store: FileSystemCache, name: str) -> str:
    folder = os.path.join(
        store._path, "locks"
    )  # cachelib 0.17's folder (pinned); a store of generations is never pruned
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, hashlib.blake2b(name.encode(), digest_size=16).hexdigest())


def _try_lock_file(path: str, seconds: int) -> bool:
    """Create ``path`` exclusively; one older than ``seconds`` is a lapsed lock, taken over."""
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            try:
                if time.time() - os.stat(path).st_mtime < seconds:
                    return False
                os.unlink(path)
            except FileNotFoundError:
                continue
    return False
